/**
 * Task hub housekeeping: purges the history of finished instances (Completed, Failed, Terminated) created before
 * `before` (INSTANCE_RETENTION_DAYS ago), through the durable client's purge by time range and status.
 *
 * In batches: one purge call per day of creation time, walking back from `before`, at most SLICES_PER_CALL days per
 * activity. A single purge over the whole range can outlast the function time-out when many instances qualify
 * (azure-functions-durable-extension issue 1145: over 20,000 instances timed out after 10 minutes), and a lake makes
 * one instance per blob version. The walk stops after EMPTY_DAYS_TO_STOP empty days in a row and ends with one call
 * for everything older (normally empty: earlier runs purged it). A dry run counts the same slices with a status query.
 * Running and pending instances are never touched (the status filter), so the retention run cannot purge itself.
 */
import * as df from "durable-functions";
import { z } from "zod";

import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";

const DAY_MS = 86_400_000;
export const SLICES_PER_CALL = 10;
export const EMPTY_DAYS_TO_STOP = 7;
/** The purge API needs a start; instances are never older than this. */
const EPOCH = new Date("2000-01-01T00:00:00Z");

const FINISHED = [df.OrchestrationRuntimeStatus.Completed, df.OrchestrationRuntimeStatus.Failed, df.OrchestrationRuntimeStatus.Terminated];

export const purgeInputSchema = z.strictObject({
  /** ISO: instances created before this are old enough. */
  before: z.iso.datetime({ offset: true }),
  dryRun: z.boolean(),
  /** Where the previous call stopped: the end of the next day to purge (absent: `before`). */
  sliceEnd: z.iso.datetime({ offset: true }).optional(),
  emptyDays: z.number().int().nonnegative().default(0),
});
export type PurgeInput = z.input<typeof purgeInputSchema>;

export const purgeResultSchema = z.strictObject({
  instances: z.number().int().nonnegative(),
  requests: z.number().int().nonnegative(),
  /** Absent when the walk is done. */
  next: z.strictObject({ sliceEnd: z.string(), emptyDays: z.number().int().nonnegative() }).optional(),
});
export type PurgeResult = z.infer<typeof purgeResultSchema>;

/** What the activity needs of the durable client (the real one, or a test's). */
export type InstancePurger = Pick<df.DurableClient, "purgeInstanceHistoryBy" | "getStatusBy">;

async function purgeRange(client: InstancePurger, from: Date, to: Date, dryRun: boolean): Promise<number> {
  const filter = { createdTimeFrom: from, createdTimeTo: to, runtimeStatus: FINISHED };
  if (dryRun) return (await client.getStatusBy(filter)).length;
  return (await client.purgeInstanceHistoryBy(filter)).instancesDeleted;
}

export function createPurgeFinishedInstancesActivity(): (input: unknown, client: InstancePurger) => Promise<PurgeResult> {
  return async (raw, client) => {
    const input = purgeInputSchema.parse(raw);
    let end = new Date(input.sliceEnd ?? input.before);
    let emptyDays = input.emptyDays;
    let instances = 0;
    let requests = 0;
    for (let slice = 0; slice < SLICES_PER_CALL; slice += 1) {
      if (emptyDays >= EMPTY_DAYS_TO_STOP || end <= EPOCH) {
        // The createdTimeTo bound is inclusive: stop 1 ms short, so no instance is counted by two slices.
        if (end > EPOCH) instances += await purgeRange(client, EPOCH, new Date(end.getTime() - 1), input.dryRun);
        return { instances, requests: requests + 1 };
      }
      const start = new Date(Math.max(EPOCH.getTime(), end.getTime() - DAY_MS));
      const n = await purgeRange(client, start, new Date(end.getTime() - 1), input.dryRun);
      requests += 1;
      instances += n;
      emptyDays = n === 0 ? emptyDays + 1 : 0;
      end = start;
    }
    return { instances, requests, next: { sliceEnd: end.toISOString(), emptyDays } };
  };
}

// The Durable extension offers the durableClient input binding to any function, activities included.
registerActivity(
  Activities.purgeFinishedInstances,
  () => {
    const purge = createPurgeFinishedInstancesActivity();
    return (input, context) => purge(input, df.getClient(context));
  },
  { durableClient: true },
);
