/**
 * The container scan's chain of pages over the whole container or over one name range of it: one ScanSourcePage
 * activity call per page (list + classify + snapshot + enqueue), so the history grows by about two events per page;
 * `continueAsNew` every `pagesPerExecution` pages carries the cursors (listing and, ETag-pinned, backup join) and the
 * running totals. Also where a scan reads the rescan requests of joining starts (`Events.rescanContainer`).
 */
import type { OrchestrationContext, Task } from "durable-functions";
import type { z } from "zod";

import {
  addScanCounts,
  type containerScanInputSchema,
  type ScanPageInput,
  scanPageResultSchema,
  type ScanProgress,
} from "../domain/container-scan";
import { totalSkipped } from "../domain/skip-counts";
import { Activities, Events } from "../function-names";
import { STORAGE_PAGE_RETRY } from "./retry-policies";

export type ScanInput = z.infer<typeof containerScanInputSchema>;

/**
 * The pass's listing (of the container, one range, or a batch's last range) has ended, the orchestration continued as
 * new, or the chain stopped at the page limit it was given with more to list.
 */
export type ChainStep =
  | { readonly kind: "listed"; readonly progress: ScanProgress }
  | { readonly kind: "continued" }
  | { readonly kind: "paused"; readonly progress: ScanProgress };

/**
 * Consumes every rescan request received so far, without waiting: each check races the event against a timer that is
 * already due, so a buffered event wins and an absent one costs one timer.
 */
export function* takeRescanRequests(context: OrchestrationContext): Generator<Task, boolean, unknown> {
  let requested = false;
  for (;;) {
    const event = context.df.waitForExternalEvent(Events.rescanContainer);
    const timer = context.df.createTimer(context.df.currentUtcDateTime);
    const winner: unknown = yield context.df.Task.any([event, timer]);
    if (winner !== event) return requested;
    timer.cancel();
    requested = true;
  }
}

/**
 * Before continueAsNew (events do not survive it): whether a start joined during this execution. Only the scan itself
 * is asked for passes, never one of its ranges, and a dry run makes none.
 */
export function* rescanBeforeContinuing(context: OrchestrationContext, input: ScanInput, progress: ScanProgress): Generator<Task, boolean, unknown> {
  if (progress.rescanRequested) return true;
  return input.range === undefined && !input.dryRun && (yield* takeRescanRequests(context));
}

/** The scan's progress as its status shows it; `passesDone` is what the status route's `?pass=n` reads. */
export function showProgress(context: OrchestrationContext, input: ScanInput, progress: ScanProgress, listed: boolean, ranges?: { total: number; done: number }): void {
  const t = progress.totals;
  context.df.setCustomStatus({
    phase: listed ? "done" : "scanning",
    pass: progress.pass,
    /** Passes finished: a start covered by pass n is done once this reaches n. */
    passesDone: listed ? progress.pass : progress.pass - 1,
    pages: progress.pages,
    ...(ranges !== undefined && { ranges: ranges.total, rangesDone: ranges.done }),
    blobsSeen: t.blobsSeen,
    snapshots: t.snapshots,
    requests: t.requests,
    skipped: totalSkipped(t.skipped),
    dryRun: input.dryRun,
  });
}

/**
 * Pages from `progress`'s cursor until the listing ends, `pagesPerExecution` pages were scanned in this execution, or
 * `limit` pages were scanned by this call.
 */
export function* scanPageChain(context: OrchestrationContext, input: ScanInput, start: ScanProgress, limit = Number.POSITIVE_INFINITY): Generator<Task, ChainStep, unknown> {
  let progress = start;
  for (let pagesThisExecution = 1; ; pagesThisExecution += 1) {
    const pageInput: ScanPageInput = {
      container: input.container,
      ...(input.prefix !== undefined && { prefix: input.prefix }),
      ...(input.range !== undefined && { range: input.range }),
      ...(progress.continuationToken !== undefined && { continuationToken: progress.continuationToken }),
      ...(progress.skipName !== undefined && { skipName: progress.skipName }),
      snapshots: input.snapshots,
      snapshotsRefused: progress.snapshotsRefusedReason !== undefined,
      dryRun: input.dryRun,
      scanStartedAt: progress.scanStartedAt,
      ...(input.pageSize !== undefined && { pageSize: input.pageSize }),
      ...(input.backupPages !== undefined && { backupPages: input.backupPages }),
      ...(progress.backupCursor !== undefined && { backupCursor: progress.backupCursor }),
    };
    const result = scanPageResultSchema.parse(yield context.df.callActivityWithRetry(Activities.scanSourcePage, STORAGE_PAGE_RETRY, pageInput));
    if (result.kind === "refused") throw new Error(`scan of ${JSON.stringify(input.container)} refused: ${result.reason}`);
    if (result.kind === "containerNotFound") {
      throw new Error(`container "${input.container}" does not exist in storage account "${result.account}"`);
    }
    if (result.kind === "snapshotsRefused") {
      throw new Error(
        `storage account "${result.account}" refuses blob snapshots (${result.reason}); SNAPSHOTS=on requires them — ` +
          "use SNAPSHOTS=auto to back up ETag-pinned versions instead",
      );
    }
    const { continuationToken, skipName } = result;
    const listed = continuationToken === undefined && result.more !== true;
    const backupCursor = result.backupCursor ?? progress.backupCursor;
    const refused = progress.snapshotsRefusedReason ?? result.snapshotsRefusedReason;
    progress = {
      scanStartedAt: progress.scanStartedAt,
      ...(progress.startedAt !== undefined && { startedAt: progress.startedAt }),
      pass: progress.pass,
      rescanRequested: progress.rescanRequested,
      ...(continuationToken !== undefined && { continuationToken }),
      ...(skipName !== undefined && { skipName }),
      ...(backupCursor !== undefined && { backupCursor }),
      ...(refused !== undefined && { snapshotsRefusedReason: refused }),
      ...(progress.whole === true && { whole: true }),
      ...(input.range === undefined && { passPages: (progress.passPages ?? 0) + 1 }),
      pages: progress.pages + 1,
      executions: progress.executions,
      totals: addScanCounts(progress.totals, result.counts),
    };
    showProgress(context, input, progress, listed);
    if (listed) return { kind: "listed", progress };
    if (pagesThisExecution >= limit) return { kind: "paused", progress };
    if (pagesThisExecution >= input.pagesPerExecution) {
      const rescan = yield* rescanBeforeContinuing(context, input, progress);
      context.df.continueAsNew({ ...input, progress: { ...progress, rescanRequested: rescan, executions: progress.executions + 1 } });
      return { kind: "continued" };
    }
  }
}
