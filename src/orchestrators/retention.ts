/**
 * The retention run (docs/architecture.md, "Retention"): the same container selection as reconciliation, then, per
 * container, window after window (one lake page joined with the backup listing with history: lake snapshots released,
 * backup history and orphans pruned), then the task hub's finished instances purged, then the report.
 *
 * History stays bounded: `continueAsNew` after every `windowsPerExecution` windows and after every container, carrying
 * the plan, the cursor and the reports so far. One run at a time (instance id `retention`). A window that fails after
 * its retries fails that container's report; the run goes on. Every age is judged against the run's start
 * (orchestration time), so a run that continues as new does not move its own limits.
 */
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import { z } from "zod";

import { type RetentionPlan, retentionPlanSchema } from "../activities/plan-retention";
import { type PurgeInput, purgeResultSchema } from "../activities/purge-finished-instances";
import { describeError } from "../domain/errors";
import { containerNameSchema } from "../domain/name-schemas";
import {
  addRetentionCounts,
  type InstancePurge,
  MAX_RETENTION_SAMPLES,
  type RetentionContainerReport,
  retentionContainerReportSchema,
  retentionCountsSchema,
  retentionCursorSchema,
  type RetentionReport,
  type RetentionWindowInput,
  retentionWindowResultSchema,
  zeroRetentionCounts,
} from "../domain/retention";
import { registerOrchestrator } from "../durable/register-orchestrator";
import { STORAGE_PAGE_RETRY } from "../durable/retry-policies";
import { Activities, Orchestrators } from "../function-names";

export const RETENTION_INSTANCE_ID = "retention";
export const DEFAULT_RETENTION_WINDOWS_PER_EXECUTION = 25;

const currentSchema = z.strictObject({
  cursor: retentionCursorSchema,
  counts: retentionCountsSchema,
  deletedSamples: z.array(z.string()).max(MAX_RETENTION_SAMPLES),
  windows: z.number().int().nonnegative(),
});

const progressSchema = z.strictObject({
  startedAt: z.string(),
  plan: z.unknown(),
  /** Index of the container being worked on in `plan.containers`. */
  index: z.number().int().nonnegative(),
  current: currentSchema.optional(),
  reports: z.array(retentionContainerReportSchema),
});
type Progress = Omit<z.infer<typeof progressSchema>, "plan"> & { plan: RetentionPlan };

export const retentionInputSchema = z.strictObject({
  /** The containers asked for; absent: every container the settings select. */
  containers: z.array(containerNameSchema).max(5000).optional(),
  dryRun: z.boolean(),
  startedBy: z.enum(["http", "timer"]),
  /** A fresh id per start, so a starter can tell whether the instance that runs is its own (src/durable/instances.ts). */
  startId: z.string().max(100).optional(),
  /** Listing page size; tests use small pages to cover paging cheaply. */
  pageSize: z.number().int().min(1).max(5000).optional(),
  windowsPerExecution: z.number().int().min(1).max(1000).default(DEFAULT_RETENTION_WINDOWS_PER_EXECUTION),
  progress: progressSchema.optional(),
});
export type RetentionInput = z.input<typeof retentionInputSchema>;

export interface RetentionRequest {
  readonly containers?: readonly string[];
  readonly dryRun?: boolean;
}

export function retentionInput(request: RetentionRequest, startedBy: "http" | "timer", startId: string): RetentionInput & { startId: string } {
  return {
    ...(request.containers !== undefined && { containers: [...request.containers] }),
    dryRun: request.dryRun ?? false,
    startedBy,
    startId,
  };
}

const emptyCurrent = (): z.infer<typeof currentSchema> => ({ cursor: { lake: {}, backup: {} }, counts: zeroRetentionCounts(), deletedSamples: [], windows: 0 });

export const retention: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = retentionInputSchema.parse(context.df.getInput());
  let progress: Progress;
  if (input.progress === undefined) {
    context.df.setCustomStatus({ phase: "discovering containers", dryRun: input.dryRun });
    const plan = retentionPlanSchema.parse(
      yield context.df.callActivityWithRetry(Activities.planRetention, STORAGE_PAGE_RETRY, input.containers === undefined ? {} : { containers: input.containers }),
    );
    const startedAt = context.df.currentUtcDateTime.toISOString();
    progress = {
      startedAt,
      plan,
      index: 0,
      reports: plan.refused.map((r) => ({ container: r.container, backupContainer: "", status: "failed", error: r.reason, counts: zeroRetentionCounts(), deletedSamples: [], windows: 0 })),
    };
  } else {
    progress = { ...input.progress, plan: retentionPlanSchema.parse(input.progress.plan) };
  }
  const { plan } = progress;
  const continueWith = (p: Progress): void => context.df.continueAsNew({ ...input, progress: p } satisfies RetentionInput);

  let windowsThisExecution = 0;
  while (progress.index < plan.containers.length) {
    const target = plan.containers[progress.index];
    if (target === undefined) break;
    const current = progress.current ?? emptyCurrent();
    context.df.setCustomStatus({
      phase: "retention",
      dryRun: input.dryRun,
      containersTotal: plan.containers.length + plan.refused.length,
      containersDone: progress.reports.length,
      container: target.container,
      windows: current.windows,
      snapshotsDeleted: current.counts.snapshots.deleted,
      versionsDeleted: current.counts.versions.deleted,
    });
    const windowInput: RetentionWindowInput = {
      container: target.container,
      cursor: current.cursor,
      dryRun: input.dryRun,
      now: progress.startedAt,
      ...(input.pageSize !== undefined && { pageSize: input.pageSize }),
    };
    let finished: RetentionContainerReport | undefined;
    const base = { container: target.container, backupContainer: target.backupContainer };
    try {
      const result = retentionWindowResultSchema.parse(yield context.df.callActivityWithRetry(Activities.retainContainerWindow, STORAGE_PAGE_RETRY, windowInput));
      if (result.kind === "refused") {
        finished = { ...base, status: "failed", error: result.reason, counts: current.counts, deletedSamples: current.deletedSamples, windows: current.windows };
      } else if (result.kind === "containerNotFound") {
        finished = { ...base, status: "containerNotFound", counts: current.counts, deletedSamples: current.deletedSamples, windows: current.windows };
      } else {
        const next = {
          cursor: result.cursor ?? current.cursor,
          counts: addRetentionCounts(current.counts, result.counts),
          deletedSamples: [...current.deletedSamples, ...result.deletedSamples].slice(0, MAX_RETENTION_SAMPLES),
          windows: current.windows + 1,
        };
        if (result.cursor === undefined) finished = { ...base, status: "done", counts: next.counts, deletedSamples: next.deletedSamples, windows: next.windows };
        else progress = { ...progress, current: next };
      }
    } catch (err) {
      finished = { ...base, status: "failed", error: describeError(err), counts: current.counts, deletedSamples: current.deletedSamples, windows: current.windows };
    }
    windowsThisExecution += 1;
    if (finished !== undefined) {
      const { current: _done, ...rest } = progress;
      progress = { ...rest, index: progress.index + 1, reports: [...progress.reports, finished] };
      // A fresh execution per container keeps the history to one container's windows.
      if (progress.index < plan.containers.length) {
        continueWith(progress);
        return undefined;
      }
    } else if (windowsThisExecution >= input.windowsPerExecution) {
      continueWith(progress);
      return undefined;
    }
  }

  context.df.setCustomStatus({ phase: "purging finished instances", dryRun: input.dryRun });
  const before = new Date(Date.parse(progress.startedAt) - plan.policy.instanceRetentionDays * 86_400_000).toISOString();
  const instances: InstancePurge = { before, instances: 0, requests: 0 };
  let purge: PurgeInput = { before, dryRun: input.dryRun };
  for (;;) {
    const r = purgeResultSchema.parse(yield context.df.callActivityWithRetry(Activities.purgeFinishedInstances, STORAGE_PAGE_RETRY, purge));
    instances.instances += r.instances;
    instances.requests += r.requests;
    if (r.next === undefined) break;
    purge = { ...purge, sliceEnd: r.next.sliceEnd, emptyDays: r.next.emptyDays };
  }

  const report: RetentionReport = {
    instanceId: context.df.instanceId,
    account: plan.account,
    backupAccount: plan.backupAccount,
    dryRun: input.dryRun,
    policy: plan.policy,
    startedAt: progress.startedAt,
    completedAt: context.df.currentUtcDateTime.toISOString(),
    containers: progress.reports,
    excluded: plan.excluded,
    notFound: plan.notFound,
    totals: progress.reports.reduce((t, r) => addRetentionCounts(t, r.counts), zeroRetentionCounts()),
    instances,
  };
  // A dry run changes nothing, not even the reports container: its report is the output.
  if (input.dryRun) {
    context.df.setCustomStatus({ phase: "done", dryRun: true });
    return report;
  }
  context.df.setCustomStatus({ phase: "writing report", dryRun: input.dryRun });
  const written = (yield context.df.callActivityWithRetry(Activities.writeRetentionReport, STORAGE_PAGE_RETRY, { report })) as { reportBlob: string };
  context.df.setCustomStatus({ phase: "done", dryRun: input.dryRun });
  return { ...report, reportBlob: written.reportBlob };
};

registerOrchestrator(Orchestrators.retention, retention);
