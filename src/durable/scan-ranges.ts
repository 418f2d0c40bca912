/**
 * A container scan split into name ranges (src/domain/listing-ranges.ts), listed in parallel: PlanListingRanges at the
 * start of each pass (from the lake's top level, so a directory a producer added before joining is in the next
 * pass's plan), then the ranges as sub-orchestrations of the scan, LIST_PARALLELISM at a time, one batch per
 * execution (src/durable/range-batch.ts). Each range pages with its own cursors (src/durable/scan-page-chain.ts)
 * and returns what it found; the scan sums it. Rescans stay with the scan: a range never makes a pass of its own.
 *
 * SNAPSHOTS=auto, decided once for all ranges: the first range (in range order) whose result carries a refusal
 * switches the scan to ETag-pinned requests, and every range started after that batch is told so (ranges of the same
 * batch ran at the same time, and met the account's refusal themselves).
 */
import type { OrchestrationContext, Task } from "durable-functions";

import type { PlanRangesInput } from "../activities/plan-listing-ranges";
import {
  addScanCounts,
  type ContainerScanInput,
  type ScanProgress,
  type ScanRangeResult,
  scanRangeResultSchema,
  zeroScanCounts,
} from "../domain/container-scan";
import { describeError } from "../domain/errors";
import { type ListingRange, planRangesResultSchema, type RangeFanOut, rangesToList } from "../domain/listing-ranges";
import { Activities, Orchestrators } from "../function-names";
import { type RangeBatch, runRangeBatch } from "./range-batch";
import { STORAGE_PAGE_RETRY } from "./retry-policies";
import { type ChainStep, rescanBeforeContinuing, type ScanInput, scanPageChain, showProgress } from "./scan-page-chain";

/** A range as a reader of errors and notes sees it. */
export function describeRange(range: ListingRange): string {
  return range.level === true ? `the names directly under ${JSON.stringify(range.prefix)}` : `range ${JSON.stringify(range.prefix)}`;
}

/**
 * The pass's ranges, or undefined when the container is listed as one chain (nothing to split, or LIST_PARALLELISM=1).
 * `after`: the last name the pass's first pages covered; ranges wholly before it are left out, the others start after it.
 */
export function* planScanRanges(context: OrchestrationContext, input: ScanInput, after?: string): Generator<Task, RangeFanOut | undefined, unknown> {
  const planInput: PlanRangesInput = { container: input.container, ...(input.prefix !== undefined && { prefix: input.prefix }) };
  const planned = planRangesResultSchema.parse(yield context.df.callActivityWithRetry(Activities.planListingRanges, STORAGE_PAGE_RETRY, planInput));
  if (planned.kind === "refused") throw new Error(`scan of ${JSON.stringify(input.container)} refused: ${planned.reason}`);
  const ranges = rangesToList(planned.ranges, after, planned.parallelism);
  if (ranges === undefined) return undefined;
  return { ranges, next: 0, parallelism: planned.parallelism, ...(after !== undefined && { after }) };
}

/** The next batch of ranges; continues as new while ranges remain, so each execution's history holds one batch. */
export function* scanRangeBatch(context: OrchestrationContext, input: ScanInput, start: ScanProgress, fan: RangeFanOut): Generator<Task, ChainStep, unknown> {
  let progress = start;
  showProgress(context, input, progress, false, { total: fan.ranges.length, done: fan.next });
  const childInput = (range: ListingRange): ContainerScanInput => ({
    container: input.container,
    ...(input.prefix !== undefined && { prefix: input.prefix }),
    range,
    dryRun: input.dryRun,
    snapshots: input.snapshots,
    ...(input.pageSize !== undefined && { pageSize: input.pageSize }),
    ...(input.backupPages !== undefined && { backupPages: input.backupPages }),
    pagesPerExecution: input.pagesPerExecution,
    maxPasses: input.maxPasses,
    progress: {
      scanStartedAt: progress.scanStartedAt,
      pass: progress.pass,
      rescanRequested: false,
      // The pass's first pages covered the names up to `after`: the range skips them (and, ETag-pinned, its backup join).
      ...(fan.after !== undefined && { skipName: fan.after, backupCursor: { after: fan.after } }),
      ...(progress.snapshotsRefusedReason !== undefined && { snapshotsRefusedReason: progress.snapshotsRefusedReason }),
      pages: 0,
      executions: 1,
      totals: zeroScanCounts(),
    },
  });
  // Unique per pass and per scan (the scan's own id is reused by the container's next scan).
  const passId = `${context.df.instanceId}:p${progress.pass}-${Date.parse(progress.scanStartedAt).toString(36)}`;
  let done: RangeBatch;
  try {
    done = yield* runRangeBatch(context, fan, Orchestrators.containerScan, childInput, (i) => `${passId}:r${i}`);
  } catch (err) {
    // The range's own message already says which range, and why.
    const reason = describeError(err).replace(/^Orchestrator function '[^']*' failed: /, "");
    throw new Error(`scan of ${JSON.stringify(input.container)} failed: ${reason}`);
  }
  for (const [k, raw] of done.results.entries()) {
    const r = scanRangeResultSchema.parse(raw);
    const range = done.batch[k];
    const firstRefusal = progress.snapshotsRefusedReason === undefined && r.snapshotsRefusedReason !== undefined;
    progress = {
      ...progress,
      ...(firstRefusal && { snapshotsRefusedReason: r.snapshotsRefusedReason, ...(range !== undefined && { snapshotsRefusedIn: range }) }),
      pages: progress.pages + r.pages,
      totals: addScanCounts(progress.totals, r.totals),
    };
  }
  if (done.fan.next < fan.ranges.length) {
    const rescan = yield* rescanBeforeContinuing(context, input, progress);
    context.df.continueAsNew({ ...input, fanOut: done.fan, progress: { ...progress, rescanRequested: rescan, executions: progress.executions + 1 } });
    return { kind: "continued" };
  }
  showProgress(context, input, progress, true, { total: fan.ranges.length, done: fan.ranges.length });
  return { kind: "listed", progress };
}

/** A range's sub-orchestration: its chain of pages, and what it found; a failure names the range. */
export function* scanRange(context: OrchestrationContext, input: ScanInput, range: ListingRange): Generator<Task, ScanRangeResult | undefined, unknown> {
  const start: ScanProgress = input.progress ?? {
    scanStartedAt: context.df.currentUtcDateTime.toISOString(),
    pass: 1,
    rescanRequested: false,
    pages: 0,
    executions: 1,
    totals: zeroScanCounts(),
  };
  let step: ChainStep;
  try {
    step = yield* scanPageChain(context, input, start);
  } catch (err) {
    throw new Error(`${describeRange(range)}: ${describeError(err)}`);
  }
  if (step.kind === "continued") return undefined;
  const p = step.progress;
  return { pages: p.pages, totals: p.totals, ...(p.snapshotsRefusedReason !== undefined && { snapshotsRefusedReason: p.snapshotsRefusedReason }) };
}
