/**
 * Restore's JSON contracts (validated where they enter): the prepare and batch activities' inputs and tagged results,
 * the orchestration's input with the progress it carries through continueAsNew, the report, and the count arithmetic.
 */
import { z } from "zod";

import { isValidContainerName } from "./names";
import { RESTORE_SKIP_REASONS, restorePlanSchema,type RestoreSkipReason } from "./restore";

const count = z.number().int().nonnegative();
const containerName = z.string().refine(isValidContainerName, "must be a container name");

export const prepareRestoreInputSchema = z.strictObject({
  /** The lake container restored from: the backup container comes from the settings (and must be the one named). */
  container: z.string().refine(isValidContainerName),
  backupContainer: z.string().refine(isValidContainerName),
  target: z.strictObject({ account: z.enum(["lake", "restore"]), container: z.string().refine(isValidContainerName) }),
  dryRun: z.boolean(),
});
export type PrepareRestoreInput = z.infer<typeof prepareRestoreInputSchema>;

export const prepareRestoreResultSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("ready"), targetCreated: z.boolean() }),
  z.strictObject({ kind: z.literal("backupContainerNotFound") }),
]);
export type PrepareRestoreResult = z.infer<typeof prepareRestoreResultSchema>;

export const restoreSkipCountsSchema = z.strictObject(
  Object.fromEntries(RESTORE_SKIP_REASONS.map((r) => [r, count])) as Record<RestoreSkipReason, typeof count>,
);
export type RestoreSkipCounts = z.infer<typeof restoreSkipCountsSchema>;

export const restoreCountsSchema = z.strictObject({
  /** Names looked at (each once, whatever its number of versions). */
  considered: count,
  /** Versions chosen to be written (in a dry run: that would be written). */
  planned: count,
  plannedBytes: count,
  /** Written and verified. */
  restored: count,
  bytes: count,
  failed: count,
  skipped: restoreSkipCountsSchema,
  backupListRequests: count,
  targetListRequests: count,
});
export type RestoreCounts = z.infer<typeof restoreCountsSchema>;

export function zeroRestoreCounts(): RestoreCounts {
  return {
    considered: 0,
    planned: 0,
    plannedBytes: 0,
    restored: 0,
    bytes: 0,
    failed: 0,
    skipped: Object.fromEntries(RESTORE_SKIP_REASONS.map((r) => [r, 0])) as RestoreSkipCounts,
    backupListRequests: 0,
    targetListRequests: 0,
  };
}

export function addRestoreCounts(a: RestoreCounts, b: RestoreCounts): RestoreCounts {
  const sum = zeroRestoreCounts();
  for (const key of Object.keys(sum) as (keyof RestoreCounts)[]) {
    if (key !== "skipped") sum[key] = a[key] + b[key];
  }
  for (const reason of RESTORE_SKIP_REASONS) sum.skipped[reason] = a.skipped[reason] + b.skipped[reason];
  return sum;
}

/** The backup version a line names: what an operator needs to find it again (and what a dry run chose). */
export const chosenVersionSchema = z.strictObject({
  sourceLastModified: z.string().optional(),
  sourceEtag: z.string().optional(),
  sourceSnapshot: z.string().optional(),
  backupSnapshot: z.string().optional(),
  backupVersionId: z.string().optional(),
  copiedAt: z.string().optional(),
  deletedAt: z.string().optional(),
  contentLength: count,
});
export type ChosenVersion = z.infer<typeof chosenVersionSchema>;

/** One line of the per-blob report (JSON Lines): every name the restore looked at. */
export const restoreLineSchema = z.strictObject({
  name: z.string(),
  target: z.string(),
  outcome: z.enum(["restored", "planned", "skipped", "failed"]),
  reason: z.string().optional(),
  version: chosenVersionSchema.optional(),
});
export type RestoreLine = z.infer<typeof restoreLineSchema>;

/** Lines kept in the orchestration's output (the full list is in the per-blob report). */
export const MAX_SAMPLES = 20;

/** Samples show the versions chosen first (what a dry run is read for), then the rest, each in listing order. */
export function writesFirst(lines: readonly RestoreLine[]): RestoreLine[] {
  const isWrite = (l: RestoreLine): boolean => l.outcome === "planned" || l.outcome === "restored";
  return [...lines.filter(isWrite), ...lines.filter((l) => !isWrite(l))];
}

/** Where the backup listing resumes: the page's token, the name the previous page completed, and — when a batch stopped
 * inside a page (byte budget) — the last name it took. */
export const listingCursorSchema = z.strictObject({
  continuationToken: z.string().optional(),
  skipName: z.string().optional(),
  after: z.string().optional(),
});

/** Bytes one batch copies at most (one larger blob is still taken alone), so a batch stays well within an activity's time. */
export const DEFAULT_MAX_BATCH_BYTES = 4 * 1024 ** 3;

/** What the batch activity needs from the plan (no `blobs`: a batch gets its own names). */
export const batchOptionsSchema = z.strictObject({
  /** The lake container restored from; the batch activity derives the backup container and history from the settings. */
  container: containerName,
  /** What the restore was started with (reported); the activity refuses a run whose settings now name another. */
  backupContainer: containerName,
  history: z.enum(["snapshot", "versioning"]),
  asOf: z.iso.datetime({ offset: true }),
  prefix: z.string().max(1024).optional(),
  target: restorePlanSchema.shape.target,
  overwrite: restorePlanSchema.shape.overwrite,
  dryRun: z.boolean(),
  inPlace: z.boolean(),
  /** Listing page size; the service's maximum unless a test asks for many small pages. */
  pageSize: z.number().int().min(1).max(5000).optional(),
  maxBatchBytes: z.number().int().min(1).optional(),
});
export type BatchOptions = z.infer<typeof batchOptionsSchema>;

/**
 * Where the target listing resumes: the token of the page the last batch ended in, the last name consumed, and whether
 * the listing had ended (later names are then taken as absent; a blob written since makes the conditional write fail).
 */
export const targetCursorSchema = z.strictObject({ token: z.string().optional(), after: z.string().optional(), end: z.boolean().optional() });
export type TargetCursor = z.infer<typeof targetCursorSchema>;
const targetCursor = targetCursorSchema;

export const batchInputSchema = z.strictObject({
  options: batchOptionsSchema,
  source: z.discriminatedUnion("kind", [
    /** The next page of the backup listing; the target listing read alongside it. */
    z.strictObject({ kind: z.literal("listing"), cursor: listingCursorSchema, targetCursor }),
    /** Names asked for by the request. */
    z.strictObject({ kind: z.literal("names"), names: z.array(z.string().min(1).max(1024)).min(1).max(1000) }),
  ]),
  /** The per-blob report: this batch stages its lines as block `block` of `blob` in the reports container. */
  details: z.strictObject({ blob: z.string().min(1), block: count }),
});
export type BatchInput = z.infer<typeof batchInputSchema>;

export const batchResultSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("backupContainerNotFound") }),
  z.strictObject({
    kind: z.literal("batch"),
    counts: restoreCountsSchema,
    samples: z.array(restoreLineSchema).max(MAX_SAMPLES),
    failures: z.array(restoreLineSchema).max(MAX_SAMPLES),
    /** Where the next batch of a listing resumes; absent when the listing is done. */
    next: z.strictObject({ cursor: listingCursorSchema, targetCursor }).optional(),
    /** True when this batch staged its block of the per-blob report (a batch with no names stages none). */
    detailsStaged: z.boolean(),
  }),
]);
export type BatchResult = z.infer<typeof batchResultSchema>;

export const restoreReportSchema = z.strictObject({
  instanceId: z.string(),
  status: z.enum(["completed", "completedWithFailures", "failed"]),
  error: z.string().optional(),
  source: z.strictObject({
    account: z.string(),
    container: z.string(),
    backupAccount: z.string(),
    backupContainer: z.string(),
    history: z.enum(["snapshot", "versioning"]),
    prefix: z.string().optional(),
    blobs: count.optional(),
  }),
  asOf: z.string(),
  target: z.strictObject({ account: z.enum(["lake", "restore"]), accountName: z.string(), container: z.string(), prefix: z.string().optional() }),
  overwrite: restorePlanSchema.shape.overwrite,
  inPlace: z.boolean(),
  dryRun: z.boolean(),
  startedAt: z.string(),
  completedAt: z.string(),
  batches: count,
  counts: restoreCountsSchema,
  /** The first lines (a dry run: the first versions chosen). */
  samples: z.array(restoreLineSchema),
  failures: z.array(restoreLineSchema),
  /** Where the JSON report was written (reports container of the backup account). */
  reportBlob: z.string().optional(),
  /** Where the per-blob lines are (JSON Lines), when there were any. */
  detailsBlob: z.string().optional(),
});
export type RestoreReport = z.infer<typeof restoreReportSchema>;
