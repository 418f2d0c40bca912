/**
 * Container scan: one activity call per listing page (list + classify + snapshot + enqueue), so the history grows by
 * about two events per page; `continueAsNew` every `pagesPerExecution` pages carries the cursor and the running totals.
 * Deterministic: time only from `currentUtcDateTime`, configuration only from the input.
 */
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import * as df from "durable-functions";
import { z } from "zod";

import {
  type PageCounts,
  pageCountsSchema,
  type ScanPageInput,
  scanPageResultSchema,
  type SkipCounts,
} from "../activities/scan-source-page";
import { SKIP_REASONS } from "../domain/change-detection";
import { isValidContainerName } from "../domain/names";
import { Activities, Orchestrators } from "../function-names";

export const DEFAULT_PAGES_PER_EXECUTION = 50;

/** Transient storage failures: five attempts over about a minute. */
const PAGE_RETRY = (() => {
  const retry = new df.RetryOptions(5_000, 5);
  retry.backoffCoefficient = 2;
  retry.maxRetryIntervalInMilliseconds = 30_000;
  return retry;
})();

const progressSchema = z.strictObject({
  scanStartedAt: z.iso.datetime({ offset: true }),
  continuationToken: z.string().optional(),
  skipName: z.string().optional(),
  snapshotsRefusedReason: z.string().optional(),
  pages: z.number().int().nonnegative(),
  executions: z.number().int().positive(),
  totals: pageCountsSchema,
});
type Progress = z.infer<typeof progressSchema>;

export const containerScanInputSchema = z.strictObject({
  container: z.string().refine(isValidContainerName, "must be a container name"),
  prefix: z.string().max(1024).optional(),
  dryRun: z.boolean().default(false),
  snapshots: z.enum(["auto", "on", "off"]),
  /** Listing page size (the service's maximum by default); smaller in tests to get many pages cheaply. */
  pageSize: z.number().int().min(1).max(5000).optional(),
  pagesPerExecution: z.number().int().min(1).max(1000).default(DEFAULT_PAGES_PER_EXECUTION),
  /** Carried through continueAsNew; absent on the first execution. */
  progress: progressSchema.optional(),
});
export type ContainerScanInput = z.input<typeof containerScanInputSchema>;

export interface ContainerScanOutput {
  readonly container: string;
  readonly prefix?: string;
  readonly dryRun: boolean;
  /** `snapshots`: every new version was snapshotted; `etagPinned`: requests name the live version by ETag only. */
  readonly snapshotMode: "snapshots" | "etagPinned";
  readonly pages: number;
  readonly blobsSeen: number;
  readonly new: number;
  readonly changed: number;
  readonly unchanged: number;
  readonly snapshots: number;
  readonly requests: number;
  readonly requestsResent: number;
  readonly skipped: SkipCounts;
  readonly storageRequests: { readonly list: number; readonly snapshot: number; readonly enqueue: number };
  readonly startedAt: string;
  readonly completedAt: string;
  readonly notes: readonly string[];
}

function zeroCounts(): PageCounts {
  return {
    blobsSeen: 0,
    new: 0,
    changed: 0,
    unchanged: 0,
    skipped: Object.fromEntries(SKIP_REASONS.map((r) => [r, 0])) as SkipCounts,
    snapshots: 0,
    requests: 0,
    requestsResent: 0,
    listRequests: 0,
    snapshotRequests: 0,
  };
}

function addCounts(a: PageCounts, b: PageCounts): PageCounts {
  return {
    blobsSeen: a.blobsSeen + b.blobsSeen,
    new: a.new + b.new,
    changed: a.changed + b.changed,
    unchanged: a.unchanged + b.unchanged,
    skipped: Object.fromEntries(SKIP_REASONS.map((r) => [r, a.skipped[r] + b.skipped[r]])) as SkipCounts,
    snapshots: a.snapshots + b.snapshots,
    requests: a.requests + b.requests,
    requestsResent: a.requestsResent + b.requestsResent,
    listRequests: a.listRequests + b.listRequests,
    snapshotRequests: a.snapshotRequests + b.snapshotRequests,
  };
}

function totalSkipped(s: SkipCounts): number {
  return SKIP_REASONS.reduce((sum, r) => sum + s[r], 0);
}

export const containerScan: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = containerScanInputSchema.parse(context.df.getInput());
  let progress: Progress = input.progress ?? {
    scanStartedAt: context.df.currentUtcDateTime.toISOString(),
    pages: 0,
    executions: 1,
    totals: zeroCounts(),
  };
  let pagesThisExecution = 0;

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
    };
    const result = scanPageResultSchema.parse(yield context.df.callActivityWithRetry(Activities.scanSourcePage, PAGE_RETRY, pageInput));
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
    progress = {
      scanStartedAt: progress.scanStartedAt,
      ...(continuationToken !== undefined && { continuationToken }),
      ...(skipName !== undefined && { skipName }),
      ...((progress.snapshotsRefusedReason ?? result.snapshotsRefusedReason) !== undefined && {
        snapshotsRefusedReason: progress.snapshotsRefusedReason ?? result.snapshotsRefusedReason,
      }),
      pages: progress.pages + 1,
      executions: progress.executions,
      totals: addCounts(progress.totals, result.counts),
    };
    const t = progress.totals;
    context.df.setCustomStatus({
      phase: continuationToken === undefined ? "done" : "scanning",
      pages: progress.pages,
      blobsSeen: t.blobsSeen,
      snapshots: t.snapshots,
      requests: t.requests,
      skipped: totalSkipped(t.skipped),
      dryRun: input.dryRun,
    });
    if (continuationToken === undefined) break;
    if (pagesThisExecution >= input.pagesPerExecution) {
      context.df.continueAsNew({ ...input, progress: { ...progress, executions: progress.executions + 1 } });
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
  const output: ContainerScanOutput = {
    container: input.container,
    ...(input.prefix !== undefined && { prefix: input.prefix }),
    dryRun: input.dryRun,
    snapshotMode: etagPinned ? "etagPinned" : "snapshots",
    pages: progress.pages,
    blobsSeen: t.blobsSeen,
    new: t.new,
    changed: t.changed,
    unchanged: t.unchanged,
    snapshots: t.snapshots,
    requests: t.requests,
    requestsResent: t.requestsResent,
    skipped: t.skipped,
    storageRequests: { list: t.listRequests, snapshot: t.snapshotRequests, enqueue: t.requests },
    startedAt: progress.scanStartedAt,
    completedAt: context.df.currentUtcDateTime.toISOString(),
    notes,
  };
  return output;
};

df.app.orchestration(Orchestrators.containerScan, containerScan);
