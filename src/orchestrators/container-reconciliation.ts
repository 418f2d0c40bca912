/**
 * Reconciliation of one container: window after window (a few source pages each) until its source listing ends, then
 * the container's report. A container whose first window does not reach the end of its listing is then split into
 * name ranges reconciled in parallel when its top level has directories (src/domain/listing-ranges.ts), each range
 * starting after the last name that first window covered; a container that fits one window (up to `sourcePages`
 * pages, 20,000 names by default) is never split — planning and a sub-orchestration per directory would cost more
 * than they save. `continueAsNew` every `windowsPerExecution` windows carries the cursors and totals, so the history
 * stays bounded whatever the container's size. A failure is reported, not thrown: the parent reconciliation goes on
 * with the other containers.
 */
import type { OrchestrationContext, OrchestrationHandler, Task } from "durable-functions";
import { z } from "zod";

import type { PlanRangesInput, PlanRangesResult } from "../activities/plan-listing-ranges";
import { describeError } from "../domain/errors";
import { type ListingRange, planRangesResultSchema, rangeFanOutSchema, rangesToList } from "../domain/listing-ranges";
import { containerNameSchema } from "../domain/name-schemas";
import {
  addReconcileCounts,
  type ContainerReport,
  containerReportSchema,
  cursorSchema,
  MAX_ORPHAN_SAMPLES,
  reconcileCountsSchema,
  type WindowInput,
  windowOptionsSchema,
  windowResultSchema,
  zeroReconcileCounts,
} from "../domain/reconciliation";
import { runRangeBatch } from "../durable/range-batch";
import { registerOrchestrator } from "../durable/register-orchestrator";
import { STORAGE_PAGE_RETRY } from "../durable/retry-policies";
import { Activities, Orchestrators } from "../function-names";

export const DEFAULT_WINDOWS_PER_EXECUTION = 25;

const progressSchema = z.strictObject({
  startedAt: z.string(),
  cursor: cursorSchema,
  snapshotsRefusedReason: z.string().optional(),
  windows: z.number().int().nonnegative(),
  totals: reconcileCountsSchema,
  orphanSamples: z.array(z.string()),
});
type Progress = z.infer<typeof progressSchema>;

/** A container split into name ranges: the ranges, the next batch, and what the finished ones found. */
const fanOutSchema = rangeFanOutSchema.extend({
  startedAt: z.string(),
  windows: z.number().int().nonnegative(),
  totals: reconcileCountsSchema,
  orphanSamples: z.array(z.string()),
  snapshotsRefusedReason: z.string().optional(),
  error: z.string().optional(),
});
type FanOut = z.infer<typeof fanOutSchema>;

export const containerReconciliationInputSchema = z.strictObject({
  container: containerNameSchema,
  backupContainer: containerNameSchema,
  options: windowOptionsSchema,
  windowsPerExecution: z.number().int().min(1).max(1000).default(DEFAULT_WINDOWS_PER_EXECUTION),
  progress: progressSchema.optional(),
  /** Carried through continueAsNew while the container's ranges run (one batch per execution). */
  fanOut: fanOutSchema.optional(),
});
export type ContainerReconciliationInput = z.input<typeof containerReconciliationInputSchema>;

/** Where the container's first window stopped: the progress so far, the last name it covered, and its directories. */
interface FirstWindow {
  readonly progress: Progress;
  readonly after?: string;
  readonly directoriesCovered?: number;
}

/**
 * The plan after a first window that did not finish the container (PlanListingRanges): the ranges not wholly covered
 * by that window, or "whole" when the container is not split and this orchestration goes on with its windows.
 */
function* planAfterFirstWindow(
  context: OrchestrationContext,
  input: z.infer<typeof containerReconciliationInputSchema>,
  first: FirstWindow,
): Generator<Task, { kind: "split"; fan: FanOut } | { kind: "whole" } | { kind: "failed"; report: ContainerReport }, unknown> {
  const planInput: PlanRangesInput = {
    container: input.container,
    backupContainer: input.backupContainer,
    ...(input.options.prefix !== undefined && { prefix: input.options.prefix }),
    ...(first.directoriesCovered !== undefined && { coveredDirectories: first.directoriesCovered }),
  };
  const failed = (error: string) => ({ kind: "failed" as const, report: reportOf(input, first.progress, context.df.currentUtcDateTime.toISOString(), error) });
  let planned: PlanRangesResult;
  try {
    planned = planRangesResultSchema.parse(yield context.df.callActivityWithRetry(Activities.planListingRanges, STORAGE_PAGE_RETRY, planInput));
  } catch (err) {
    return failed(describeError(err));
  }
  if (planned.kind === "refused") return failed(`refused: ${planned.reason}`);
  // Ranges sized from the first window: none left, or too few names per batch of sub-orchestrations, and the windows go on.
  const ranges = rangesToList(planned.ranges, first.after, planned.parallelism);
  if (ranges === undefined) return { kind: "whole" };
  const p = first.progress;
  return {
    kind: "split",
    fan: {
      startedAt: p.startedAt,
      ...(first.after !== undefined && { after: first.after }),
      ranges,
      next: 0,
      parallelism: planned.parallelism,
      windows: p.windows,
      totals: p.totals,
      orphanSamples: p.orphanSamples,
      ...(p.snapshotsRefusedReason !== undefined && { snapshotsRefusedReason: p.snapshotsRefusedReason }),
    },
  };
}

/**
 * The container's next batch of ranges, each reconciled by a sub-orchestration of this orchestrator with
 * `options.range` set — starting after the first window's last name —, `parallelism` at a time, one batch per
 * execution; the container's report once the last batch is done.
 */
function* reconcileRanges(context: OrchestrationContext, input: z.infer<typeof containerReconciliationInputSchema>, start: FanOut): Generator<Task, ContainerReport | "continued", unknown> {
  let fan = start;
  context.df.setCustomStatus({ container: input.container, phase: "reconciling ranges", ranges: fan.ranges.length, rangesDone: fan.next, blobs: fan.totals.blobs });
  const { after, snapshotsRefusedReason: refusedBefore } = start;
  const startedAt = context.df.currentUtcDateTime.toISOString();
  const childInput = (range: ListingRange): ContainerReconciliationInput => ({
    container: input.container,
    backupContainer: input.backupContainer,
    options: { ...input.options, range },
    windowsPerExecution: input.windowsPerExecution,
    // Names up to `after` were reconciled by the container's first window: the range skips them on both sides.
    ...(after !== undefined && {
      progress: {
        startedAt,
        cursor: { source: { skipName: after }, backup: { after } },
        windows: 0,
        totals: zeroReconcileCounts(),
        orphanSamples: [],
        ...(refusedBefore !== undefined && { snapshotsRefusedReason: refusedBefore }),
      },
    }),
  });
  const { batch, results, fan: advanced } = yield* runRangeBatch(context, fan, Orchestrators.containerReconciliation, childInput, (i) => `${context.df.instanceId}-r${i}`);
  for (const [k, raw] of results.entries()) {
    const r = containerReportSchema.parse(raw);
    const where = JSON.stringify(batch[k]?.prefix ?? "");
    fan = {
      ...fan,
      windows: fan.windows + r.windows,
      totals: addReconcileCounts(fan.totals, r.counts),
      orphanSamples: [...fan.orphanSamples, ...r.orphanSamples].slice(0, MAX_ORPHAN_SAMPLES),
      ...((fan.snapshotsRefusedReason ?? r.snapshotsRefusedReason) !== undefined && { snapshotsRefusedReason: fan.snapshotsRefusedReason ?? r.snapshotsRefusedReason }),
      ...((fan.error ?? (r.error !== undefined ? `range ${where}: ${r.error}` : undefined)) !== undefined && {
        error: fan.error ?? `range ${where}: ${r.error ?? ""}`,
      }),
    };
  }
  fan = { ...fan, next: advanced.next };
  if (fan.next < fan.ranges.length) {
    context.df.continueAsNew({ ...input, fanOut: fan });
    return "continued";
  }
  return {
    container: input.container,
    backupContainer: input.backupContainer,
    status: fan.error === undefined ? "completed" : "failed",
    ...(fan.error !== undefined && { error: fan.error }),
    counts: fan.totals,
    orphanSamples: fan.orphanSamples,
    ...(fan.snapshotsRefusedReason !== undefined && { snapshotsRefusedReason: fan.snapshotsRefusedReason }),
    windows: fan.windows,
    startedAt: fan.startedAt,
    completedAt: context.df.currentUtcDateTime.toISOString(),
  };
}

function reportOf(input: z.infer<typeof containerReconciliationInputSchema>, progress: Progress, completedAt: string, error: string): ContainerReport {
  return {
    container: input.container,
    backupContainer: input.backupContainer,
    status: "failed",
    error,
    counts: progress.totals,
    orphanSamples: progress.orphanSamples,
    ...(progress.snapshotsRefusedReason !== undefined && { snapshotsRefusedReason: progress.snapshotsRefusedReason }),
    windows: progress.windows,
    startedAt: progress.startedAt,
    completedAt,
  };
}

export const containerReconciliation: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = containerReconciliationInputSchema.parse(context.df.getInput());
  if (input.fanOut !== undefined) {
    const done = yield* reconcileRanges(context, input, input.fanOut);
    return done === "continued" ? undefined : done;
  }
  // Only a container's first window may lead to a split; a range (options.range) never splits again.
  const maySplit = input.options.range === undefined && input.progress === undefined;
  let progress: Progress = input.progress ?? {
    startedAt: context.df.currentUtcDateTime.toISOString(),
    cursor: { backup: {} },
    windows: 0,
    totals: zeroReconcileCounts(),
    orphanSamples: [],
  };
  const report = (status: ContainerReport["status"], error?: string): ContainerReport => ({
    container: input.container,
    backupContainer: input.backupContainer,
    status,
    ...(error !== undefined && { error }),
    counts: progress.totals,
    orphanSamples: progress.orphanSamples,
    ...(progress.snapshotsRefusedReason !== undefined && { snapshotsRefusedReason: progress.snapshotsRefusedReason }),
    windows: progress.windows,
    startedAt: progress.startedAt,
    completedAt: context.df.currentUtcDateTime.toISOString(),
  });

  for (let windowsThisExecution = 0; ; windowsThisExecution += 1) {
    if (windowsThisExecution >= input.windowsPerExecution) {
      context.df.continueAsNew({ ...input, progress });
      return undefined;
    }
    const windowInput: WindowInput = {
      container: input.container,
      backupContainer: input.backupContainer,
      options: input.options,
      cursor: progress.cursor,
      snapshotsRefused: progress.snapshotsRefusedReason !== undefined,
    };
    let result;
    try {
      result = windowResultSchema.parse(
        yield context.df.callActivityWithRetry(Activities.reconcileContainerWindow, STORAGE_PAGE_RETRY, windowInput),
      );
    } catch (err) {
      return report("failed", describeError(err));
    }
    if (result.kind === "containerNotFound") return report("failed", `container "${input.container}" no longer exists`);
    if (result.kind === "refused") return report("failed", `refused: ${result.reason}`);
    if (result.kind === "snapshotsRefused") {
      return report("failed", `the account refuses blob snapshots (${result.reason}); SNAPSHOTS=on requires them`);
    }
    const refused = progress.snapshotsRefusedReason ?? result.snapshotsRefusedReason;
    progress = {
      startedAt: progress.startedAt,
      cursor: result.cursor,
      ...(refused !== undefined && { snapshotsRefusedReason: refused }),
      windows: progress.windows + 1,
      totals: addReconcileCounts(progress.totals, result.counts),
      orphanSamples: [...progress.orphanSamples, ...result.orphanSamples].slice(0, MAX_ORPHAN_SAMPLES),
    };
    const t = progress.totals;
    context.df.setCustomStatus({
      container: input.container,
      phase: result.done ? "done" : "reconciling",
      windows: progress.windows,
      blobs: t.blobs,
      inSync: t.inSync,
      snapshots: t.snapshots,
      requests: t.requests,
      orphans: t.orphans,
    });
    if (result.done) return report("completed");
    if (maySplit && progress.windows === 1) {
      const plan = yield* planAfterFirstWindow(context, input, {
        progress,
        ...(result.cursor.source?.skipName !== undefined && { after: result.cursor.source.skipName }),
        ...(result.directoriesCovered !== undefined && { directoriesCovered: result.directoriesCovered }),
      });
      if (plan.kind === "failed") return plan.report;
      if (plan.kind === "split") {
        const done = yield* reconcileRanges(context, input, plan.fan);
        return done === "continued" ? undefined : done;
      }
    }
  }
};

registerOrchestrator(Orchestrators.containerReconciliation, containerReconciliation);
