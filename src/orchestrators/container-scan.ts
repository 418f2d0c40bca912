/**
 * Container scan: one activity call per listing page (list + classify + snapshot + enqueue), so the history grows by
 * about two events per page; `continueAsNew` every `pagesPerExecution` pages carries the cursor and the running totals.
 * A start that joins a running scan raises `Events.rescanContainer`: when the pass ends, the scan makes one more pass,
 * so the joined caller's blobs are covered before the instance reports Completed.
 * Deterministic: time only from `currentUtcDateTime`, configuration only from the input.
 */
import type { OrchestrationContext, OrchestrationHandler, Task } from "durable-functions";

import {
  addScanCounts,
  containerScanInputSchema,
  type ContainerScanOutput,
  type ScanPageInput,
  scanPageResultSchema,
  type ScanProgress,
  zeroScanCounts,
} from "../domain/container-scan";
import { totalSkipped } from "../domain/skip-counts";
import { registerOrchestrator } from "../durable/register-orchestrator";
import { STORAGE_PAGE_RETRY } from "../durable/retry-policies";
import { Activities, Events, Orchestrators } from "../function-names";

/**
 * Consumes every rescan request received so far, without waiting: each check races the event against a timer that is
 * already due, so a buffered event wins and an absent one costs one timer.
 */
function* takeRescanRequests(context: OrchestrationContext): Generator<Task, boolean, unknown> {
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

export const containerScan: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = containerScanInputSchema.parse(context.df.getInput());
  const now = context.df.currentUtcDateTime.toISOString();
  let progress: ScanProgress = input.progress ?? {
    scanStartedAt: now,
    startedAt: now,
    pass: 1,
    rescanRequested: false,
    pages: 0,
    executions: 1,
    totals: zeroScanCounts(),
  };
  let pagesThisExecution = 0;
  // Shown before the first page, so a joining start never reads a status older than this pass (coveringPass).
  context.df.setCustomStatus({ phase: "scanning", pass: progress.pass, passesDone: progress.pass - 1, pages: progress.pages, dryRun: input.dryRun });

  for (;;) {
    const pageInput: ScanPageInput = {
      container: input.container,
      ...(input.prefix !== undefined && { prefix: input.prefix }),
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
    pagesThisExecution += 1;
    const { continuationToken, skipName } = result;
    const listed = continuationToken === undefined && result.more !== true;
    progress = {
      scanStartedAt: progress.scanStartedAt,
      ...(progress.startedAt !== undefined && { startedAt: progress.startedAt }),
      pass: progress.pass,
      rescanRequested: progress.rescanRequested,
      ...(continuationToken !== undefined && { continuationToken }),
      ...(skipName !== undefined && { skipName }),
      ...((result.backupCursor ?? progress.backupCursor) !== undefined && { backupCursor: result.backupCursor ?? progress.backupCursor }),
      ...((progress.snapshotsRefusedReason ?? result.snapshotsRefusedReason) !== undefined && {
        snapshotsRefusedReason: progress.snapshotsRefusedReason ?? result.snapshotsRefusedReason,
      }),
      pages: progress.pages + 1,
      executions: progress.executions,
      totals: addScanCounts(progress.totals, result.counts),
    };
    const t = progress.totals;
    context.df.setCustomStatus({
      phase: listed ? "done" : "scanning",
      pass: progress.pass,
      /** Passes finished: a start covered by pass n is done once this reaches n (the status route's `?pass=n`). */
      passesDone: listed ? progress.pass : progress.pass - 1,
      pages: progress.pages,
      blobsSeen: t.blobsSeen,
      snapshots: t.snapshots,
      requests: t.requests,
      skipped: totalSkipped(t.skipped),
      dryRun: input.dryRun,
    });
    if (listed) {
      // A dry run has nothing to cover for anyone (joining starts do not ask it for another pass).
      if (input.dryRun) break;
      const rescan = progress.rescanRequested || (yield* takeRescanRequests(context));
      // Starts are offered passes up to maxPasses; one joining just as the last offered pass began needs one more.
      if (!rescan || progress.pass > input.maxPasses) break;
      // Another pass from the top; snapshots of the finished pass are not "taken by this pass".
      const { continuationToken: _done, skipName: _held, backupCursor: _backupDone, ...rest } = progress;
      const passStart = context.df.currentUtcDateTime.toISOString();
      context.df.continueAsNew({
        ...input,
        progress: { ...rest, scanStartedAt: passStart, pass: progress.pass + 1, rescanRequested: false, executions: progress.executions + 1 },
      });
      return undefined;
    }
    if (pagesThisExecution >= input.pagesPerExecution) {
      // Events do not survive continueAsNew: record a request that arrived during this execution.
      const rescan = progress.rescanRequested || (!input.dryRun && (yield* takeRescanRequests(context)));
      context.df.continueAsNew({ ...input, progress: { ...progress, rescanRequested: rescan, executions: progress.executions + 1 } });
      return undefined;
    }
  }

  const t = progress.totals;
  const etagPinned = input.snapshots === "off" || progress.snapshotsRefusedReason !== undefined;
  const notes: string[] = [];
  if (progress.snapshotsRefusedReason !== undefined) {
    notes.push(
      `the account refused snapshots (${progress.snapshotsRefusedReason}); SNAPSHOTS=auto fell back to ETag-pinned backup requests without a snapshot`,
    );
  }
  if (input.snapshots === "off") notes.push("SNAPSHOTS=off: backup requests are ETag-pinned, without a snapshot");
  if (input.dryRun) notes.push("dry run: nothing was snapshotted or requested");
  if (t.skipped.changedSinceListing + t.skipped.deletedSinceListing > 0) {
    notes.push("some blobs changed or were deleted after they were listed; the next scan or reconciliation picks them up");
  }
  if (t.skipped.unsafeName > 0) {
    notes.push(
      `${t.skipped.unsafeName} blob name(s) cannot be backed up safely ("." or ".." path segments, control characters, over 1,024 characters): skipped, not copied; rename them`,
    );
  }
  if (t.skipped.invalidRequest > 0) notes.push(`${t.skipped.invalidRequest} backup request(s) failed their schema and were not sent`);
  const output: ContainerScanOutput = {
    container: input.container,
    ...(input.prefix !== undefined && { prefix: input.prefix }),
    dryRun: input.dryRun,
    snapshotMode: etagPinned ? "etagPinned" : "snapshots",
    passes: progress.pass,
    pages: progress.pages,
    blobsSeen: t.blobsSeen,
    new: t.new,
    changed: t.changed,
    unchanged: t.unchanged,
    snapshots: t.snapshots,
    requests: t.requests,
    requestsResent: t.requestsResent,
    alreadyBackedUp: t.alreadyBackedUp,
    skipped: t.skipped,
    storageRequests: { list: t.listRequests, backupList: t.backupListRequests, snapshot: t.snapshotRequests, enqueue: t.requests },
    startedAt: progress.startedAt ?? progress.scanStartedAt,
    completedAt: context.df.currentUtcDateTime.toISOString(),
    notes,
  };
  return output;
};

registerOrchestrator(Orchestrators.containerScan, containerScan);
