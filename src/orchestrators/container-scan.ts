/**
 * Container scan: lists the container — split into name ranges listed in parallel when its top level has directories
 * (src/durable/scan-ranges.ts), else as one chain of pages (src/durable/scan-page-chain.ts) — snapshots
 * each new or changed blob and enqueues one backup request per new version; Completed only once every request of
 * every range is enqueued. History stays bounded: `continueAsNew` every `pagesPerExecution` pages of a chain, and
 * after every batch of ranges.
 * A start that joins a running scan raises `Events.rescanContainer`: when the pass ends, the scan makes one more pass
 * over the whole container (every range, planned again), so the joined caller's blobs are covered before the instance
 * reports Completed.
 * Deterministic: time only from `currentUtcDateTime`, configuration only from the input.
 */
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";

import { containerScanInputSchema, type ContainerScanOutput, type ScanProgress, zeroScanCounts } from "../domain/container-scan";
import { registerOrchestrator } from "../durable/register-orchestrator";
import { type ChainStep, type ScanInput, scanPageChain, takeRescanRequests } from "../durable/scan-page-chain";
import { describeRange, planScanRanges, scanRange, scanRangeBatch } from "../durable/scan-ranges";
import { Orchestrators } from "../function-names";

export const containerScan: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = containerScanInputSchema.parse(context.df.getInput());
  if (input.range !== undefined) return yield* scanRange(context, input, input.range);
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
  // Shown before the first page, so a joining start never reads a status older than this pass (coveringPass).
  context.df.setCustomStatus({ phase: "scanning", pass: progress.pass, passesDone: progress.pass - 1, pages: progress.pages, dryRun: input.dryRun });

  let fan = input.fanOut;
  let step: ChainStep | undefined;
  if (fan === undefined && progress.whole !== true) {
    // The pass's first pages over the whole container: a container they finish is never planned.
    const firstPagesLeft = input.firstPages - (progress.passPages ?? 0);
    if (firstPagesLeft > 0) {
      step = yield* scanPageChain(context, input, progress, firstPagesLeft);
      if (step.kind === "continued") return undefined;
      progress = step.progress;
    }
    if (step?.kind !== "listed") {
      fan = yield* planScanRanges(context, input, progress.skipName);
      if (fan === undefined) progress = { ...progress, whole: true };
      step = undefined;
    }
  }
  step ??= fan !== undefined ? yield* scanRangeBatch(context, input, progress, fan) : yield* scanPageChain(context, input, progress);
  if (step.kind === "continued") return undefined;
  if (step.kind === "paused") throw new Error("unreachable: a chain without a page limit does not pause");
  progress = step.progress;

  // A dry run has nothing to cover for anyone (joining starts do not ask it for another pass).
  if (!input.dryRun) {
    const rescan = progress.rescanRequested || (yield* takeRescanRequests(context));
    // Starts are offered passes up to maxPasses; one joining just as the last offered pass began needs one more.
    if (rescan && progress.pass <= input.maxPasses) {
      // Another pass from the top, planned again; snapshots of the finished pass are not "taken by this pass".
      const { continuationToken: _done, skipName: _held, backupCursor: _backupDone, whole: _planned, passPages: _first, ...rest } = progress;
      const { fanOut: _ranges, ...unplanned } = input;
      const passStart = context.df.currentUtcDateTime.toISOString();
      context.df.continueAsNew({
        ...unplanned,
        progress: { ...rest, scanStartedAt: passStart, pass: progress.pass + 1, rescanRequested: false, executions: progress.executions + 1 },
      });
      return undefined;
    }
  }
  return scanOutput(context, input, progress, fan?.ranges.length);
};

function scanOutput(context: OrchestrationContext, input: ScanInput, progress: ScanProgress, ranges: number | undefined): ContainerScanOutput {
  const t = progress.totals;
  const etagPinned = input.snapshots === "off" || progress.snapshotsRefusedReason !== undefined;
  const notes: string[] = [];
  if (progress.snapshotsRefusedReason !== undefined) {
    const where = progress.snapshotsRefusedIn !== undefined ? ` in ${describeRange(progress.snapshotsRefusedIn)}` : "";
    notes.push(
      `the account refused snapshots${where} (${progress.snapshotsRefusedReason}); SNAPSHOTS=auto fell back to ETag-pinned backup requests without a snapshot` +
        (where !== "" ? ", there and in every range listed after it" : ""),
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
  return {
    container: input.container,
    ...(input.prefix !== undefined && { prefix: input.prefix }),
    dryRun: input.dryRun,
    snapshotMode: etagPinned ? "etagPinned" : "snapshots",
    passes: progress.pass,
    ...(ranges !== undefined && { ranges }),
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
}

registerOrchestrator(Orchestrators.containerScan, containerScan);
