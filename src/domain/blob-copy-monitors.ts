/**
 * Contracts of the blob backup's bounded sub-orchestrations: a run of ADF polls (`AdfRunMonitor`) and a run of copy
 * steps (`BlobCopySteps`). Each does at most a fixed number of polls or steps and hands its state back, so neither the
 * backup's history nor a child's grows with the length of the copy: the backup records two events per child.
 */
import { z } from "zod";

import { adfRunStatusSchema, leaseInputSchema } from "./blob-backup-activities";

/** ARM throttling: at most this many waits on Retry-After before the backup fails. */
export const MAX_THROTTLED_WAITS = 10;
/** Polls per AdfRunMonitor instance: its history stays within about 250 events (timer, poll, renewals). */
export const ADF_POLLS_PER_MONITOR = 50;
/** Copy steps per BlobCopySteps instance (a step runs up to `stepSeconds`, so one instance covers over an hour). */
export const COPY_STEPS_PER_MONITOR = 20;

const iso = z.iso.datetime({ offset: true });

export const adfRunMonitorInputSchema = z.strictObject({
  runId: z.string(),
  lease: leaseInputSchema.optional(),
  pollSeconds: z.number().int().min(1),
  renewEverySeconds: z.number().int().min(1).optional(),
  deadline: iso,
  nextPoll: iso,
  nextRenew: iso,
  throttledWaits: z.number().int().nonnegative(),
});
export type AdfRunMonitorInput = z.infer<typeof adfRunMonitorInputSchema>;

const leaseLost = z.string().optional();
export const adfRunMonitorOutputSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("finished"), status: adfRunStatusSchema, message: z.string(), leaseLost }),
  z.strictObject({ kind: z.literal("failed"), reason: z.string(), leaseLost }),
  z.strictObject({ kind: z.literal("timedOut"), leaseLost }),
  /** Still running after this monitor's polls: the next monitor carries on from here. */
  z.strictObject({ kind: z.literal("continue"), nextPoll: iso, nextRenew: iso, throttledWaits: z.number().int().nonnegative(), leaseLost }),
]);
export type AdfRunMonitorOutput = z.infer<typeof adfRunMonitorOutputSchema>;
