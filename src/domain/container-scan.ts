/**
 * The container scan's JSON contracts (validated where they enter): the page activity's input and tagged result, the
 * orchestration's input (with the progress carried through continueAsNew), a name range's result, the output, and
 * the count arithmetic.
 */
import { z } from "zod";

import { backupCursorSchema } from "./backup-join";
import { listingRangeSchema, rangeFanOutSchema } from "./listing-ranges";
import { blobNameSchema, containerNameSchema } from "./name-schemas";
import { addSkipCounts, type SkipCounts, skipCountsSchema, zeroSkipCounts } from "./skip-counts";
import { snapshotModeSchema } from "./snapshot-mode";

export const DEFAULT_PAGES_PER_EXECUTION = 50;

/** 4 pages of 5,000 entries: a container of up to about 10,000 blobs with a snapshot each is listed as one chain. */
export const DEFAULT_FIRST_PAGES = 4;

/**
 * Passes a scan offers to joining starts: a start that would need a later pass is told to come back (409), so a scan
 * joined faster than it can list still completes. One pass more than this can run, for a start that joined just as
 * the last offered pass began (src/durable/container-scan-instance.ts).
 */
export const DEFAULT_MAX_PASSES = 3;

/**
 * The pass that covers a start joining a scan whose status was read as `status`: the next one, unless the pass shown
 * may already have ended (its listing done, or no status yet), when the one after it — a pass covers a request only
 * if its listing starts after the request.
 */
export function coveringPass(customStatus: unknown): number {
  const shown = z.object({ pass: z.number().int().positive(), phase: z.string() }).safeParse(customStatus);
  if (!shown.success) return 2;
  return shown.data.phase === "scanning" ? shown.data.pass + 1 : shown.data.pass + 2;
}

export const scanPageInputSchema = z.strictObject({
  container: containerNameSchema,
  prefix: blobNameSchema.optional(),
  /** One name range of the container (src/domain/listing-ranges.ts), inside `prefix`; absent: the whole container. */
  range: listingRangeSchema.optional(),
  continuationToken: z.string().min(1).optional(),
  skipName: z.string().min(1).optional(),
  snapshots: snapshotModeSchema,
  snapshotsRefused: z.boolean(),
  dryRun: z.boolean(),
  scanStartedAt: z.iso.datetime({ offset: true }),
  pageSize: z.number().int().min(1).max(5000).optional(),
  /**
   * Without snapshots (off, or refused) the scan cannot tell a changed blob from an unchanged one by its snapshots, so
   * it merge-joins the page with the backup listing instead (the backup container comes from the settings): where that
   * listing resumes.
   */
  backupCursor: backupCursorSchema.optional(),
  /** Backup pages one call reads at most (ETag-pinned mode); tests use few to cover the cursor. */
  backupPages: z.number().int().min(1).max(100).optional(),
});
export type ScanPageInput = z.infer<typeof scanPageInputSchema>;

const count = z.number().int().nonnegative();

export const pageCountsSchema = z.strictObject({
  blobsSeen: count,
  new: count,
  changed: count,
  unchanged: count,
  skipped: skipCountsSchema,
  snapshots: count,
  requests: count,
  /** Requests sent again for snapshots an earlier attempt of this scan took. */
  requestsResent: count,
  listRequests: count,
  snapshotRequests: count,
  /** ETag-pinned mode: live versions the backup already holds (found by the merge-join), not requested again. */
  alreadyBackedUp: count,
  /** ETag-pinned mode: listing requests on the backup account. */
  backupListRequests: count,
});
export type PageCounts = z.infer<typeof pageCountsSchema>;

export const scanPageResultSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("containerNotFound"), account: z.string() }),
  /** The settings do not allow this scan (container selection, reserved names, snapshot mode): nothing was done. */
  z.strictObject({ kind: z.literal("refused"), reason: z.string() }),
  z.strictObject({ kind: z.literal("snapshotsRefused"), account: z.string(), reason: z.string() }),
  z.strictObject({
    kind: z.literal("page"),
    continuationToken: z.string().optional(),
    skipName: z.string().optional(),
    /**
     * The listing is not done although `continuationToken` may be absent: the backup join did not reach the page's
     * end, so the same page is listed again from `skipName`.
     */
    more: z.literal(true).optional(),
    counts: pageCountsSchema,
    /** auto mode: the account refused snapshots on this page; from here on requests are ETag-pinned. */
    snapshotsRefusedReason: z.string().optional(),
    /** ETag-pinned mode: where the backup listing resumes for the next page. */
    backupCursor: backupCursorSchema.optional(),
  }),
]);
export type ScanPageResult = z.infer<typeof scanPageResultSchema>;

export const scanProgressSchema = z.strictObject({
  /** When the current pass started: snapshots from then on were taken by this pass. */
  scanStartedAt: z.iso.datetime({ offset: true }),
  /** When the first pass started. */
  startedAt: z.iso.datetime({ offset: true }).optional(),
  pass: z.number().int().positive().default(1),
  /** A start joined this scan during the current pass: make another pass at its end. */
  rescanRequested: z.boolean().default(false),
  continuationToken: z.string().optional(),
  skipName: z.string().optional(),
  snapshotsRefusedReason: z.string().optional(),
  /** Listed in ranges: the range whose result first carried the refusal; the ranges started after it did not try. */
  snapshotsRefusedIn: listingRangeSchema.optional(),
  backupCursor: backupCursorSchema.optional(),
  /** This pass lists the container as one chain of pages (PlanListingRanges found nothing to split). */
  whole: z.literal(true).optional(),
  /** Pages of this pass listed over the whole container before it is split (see `firstPages`). */
  passPages: z.number().int().nonnegative().optional(),
  pages: z.number().int().nonnegative(),
  executions: z.number().int().positive(),
  totals: pageCountsSchema,
});
export type ScanProgress = z.infer<typeof scanProgressSchema>;

export const containerScanInputSchema = z.strictObject({
  container: containerNameSchema,
  prefix: blobNameSchema.optional(),
  dryRun: z.boolean().default(false),
  snapshots: snapshotModeSchema,
  /** Listing page size (the service's maximum by default); smaller in tests to get many pages cheaply. */
  pageSize: z.number().int().min(1).max(5000).optional(),
  /** Backup pages per page activity at most in ETag-pinned mode (default 20); tests use few. */
  backupPages: z.number().int().min(1).max(100).optional(),
  pagesPerExecution: z.number().int().min(1).max(1000).default(DEFAULT_PAGES_PER_EXECUTION),
  /**
   * Pages each pass lists over the whole container before it is planned into name ranges: a container they finish is
   * never split (a plan and a sub-orchestration per directory would cost more than they save). 0: plan first.
   */
  firstPages: z.number().int().min(0).max(100).default(DEFAULT_FIRST_PAGES),
  /** Passes offered to joining starts (see DEFAULT_MAX_PASSES); the scan makes at most one more. */
  maxPasses: z.number().int().min(1).max(100).default(DEFAULT_MAX_PASSES),
  /** A fresh id per start, so a starter can tell whether the instance that runs is its own (src/durable/instances.ts). */
  startId: z.string().max(100).optional(),
  /** Carried through continueAsNew; absent on the first execution. */
  progress: scanProgressSchema.optional(),
  /** A sub-orchestration of a split scan: lists this range only, and returns a ScanRangeResult. */
  range: listingRangeSchema.optional(),
  /** A split scan's ranges while the pass runs (one batch per execution); its sums are in `progress`. */
  fanOut: rangeFanOutSchema.optional(),
});
export type ContainerScanInput = z.input<typeof containerScanInputSchema>;

/** What one range of a split scan found, summed by the scan into its progress. */
export const scanRangeResultSchema = z.strictObject({
  pages: z.number().int().nonnegative(),
  totals: pageCountsSchema,
  snapshotsRefusedReason: z.string().optional(),
});
export type ScanRangeResult = z.infer<typeof scanRangeResultSchema>;

export interface ContainerScanOutput {
  readonly container: string;
  readonly prefix?: string;
  readonly dryRun: boolean;
  /** `snapshots`: every new version was snapshotted; `etagPinned`: requests name the live version by ETag only. */
  readonly snapshotMode: "snapshots" | "etagPinned";
  /** Passes over the container: more than one when starts joined the scan while it ran. */
  readonly passes: number;
  /** The last pass was listed in this many name ranges in parallel; absent: as one chain of pages. */
  readonly ranges?: number;
  readonly pages: number;
  readonly blobsSeen: number;
  readonly new: number;
  readonly changed: number;
  readonly unchanged: number;
  readonly snapshots: number;
  readonly requests: number;
  readonly requestsResent: number;
  /** ETag-pinned mode: live versions the backup already held, so not requested again. */
  readonly alreadyBackedUp: number;
  readonly skipped: SkipCounts;
  readonly storageRequests: { readonly list: number; readonly backupList: number; readonly snapshot: number; readonly enqueue: number };
  readonly startedAt: string;
  readonly completedAt: string;
  readonly notes: readonly string[];
}

export function zeroScanCounts(): PageCounts {
  return {
    blobsSeen: 0,
    new: 0,
    changed: 0,
    unchanged: 0,
    skipped: zeroSkipCounts(),
    snapshots: 0,
    requests: 0,
    requestsResent: 0,
    listRequests: 0,
    snapshotRequests: 0,
    alreadyBackedUp: 0,
    backupListRequests: 0,
  };
}

export function addScanCounts(a: PageCounts, b: PageCounts): PageCounts {
  return {
    blobsSeen: a.blobsSeen + b.blobsSeen,
    new: a.new + b.new,
    changed: a.changed + b.changed,
    unchanged: a.unchanged + b.unchanged,
    skipped: addSkipCounts(a.skipped, b.skipped),
    snapshots: a.snapshots + b.snapshots,
    requests: a.requests + b.requests,
    requestsResent: a.requestsResent + b.requestsResent,
    listRequests: a.listRequests + b.listRequests,
    snapshotRequests: a.snapshotRequests + b.snapshotRequests,
    alreadyBackedUp: a.alreadyBackedUp + b.alreadyBackedUp,
    backupListRequests: a.backupListRequests + b.backupListRequests,
  };
}

