/**
 * Contracts and pure rules of the batch backup (docs/architecture.md, "Batched backups"): the orchestration's input and
 * output, the copy activity's input and result, the instance id of a batch, and how a batch is cut into activities.
 * No I/O here.
 */
import { createHash } from "node:crypto";

import { z } from "zod";

import { type BackupBatch, backupBatchSchema, backupRequestSchema, batchVersionSchema, MAX_BATCH_VERSIONS } from "./backup-request";

/** Versions one copy activity takes: a batch of MAX_BATCH_VERSIONS is at most four activities. */
export const BATCH_CHUNK_VERSIONS = 50;

/** The orchestration's input: the batch alone; the settings decide the rest inside the activity. */
export const blobBatchInputSchema = z.object({ batch: backupBatchSchema });
export type BlobBatchInput = z.infer<typeof blobBatchInputSchema>;

export const batchCopyInputSchema = z.strictObject({
  account: backupBatchSchema.shape.account,
  container: backupBatchSchema.shape.container,
  reason: backupBatchSchema.shape.reason,
  requestedAt: backupBatchSchema.shape.requestedAt,
  versions: z.array(batchVersionSchema).min(1).max(BATCH_CHUNK_VERSIONS),
  /** The chunk's copy id (newGuid): each version's request id is derived from it, so a retried activity recognises its own writes. */
  requestId: z.guid(),
  /** When the orchestration decided to copy (backup_copied_at; the same on every retry). */
  copiedAt: z.iso.datetime({ offset: true }),
});
export type BatchCopyInput = z.infer<typeof batchCopyInputSchema>;

/**
 * One version's outcome, by position in the chunk. `HandedOff`: the batch could not do it (a transient failure that
 * outlived the SDK's retries, a failed copy or verification, someone else's lease, a version too large for a batch):
 * the single-blob backup takes it, retries it and reports it on its own.
 */
export const versionOutcomeSchema = z.discriminatedUnion("status", [
  z.strictObject({
    status: z.literal("Copied"),
    bytes: z.number().int().nonnegative(),
    /** What releasing the lake snapshots after verification did (LAKE_SNAPSHOTS), or why it could not. */
    lakeSnapshots: z.string().optional(),
  }),
  z.strictObject({ status: z.literal("Skipped"), reason: z.string() }),
  z.strictObject({ status: z.literal("HandedOff"), reason: z.string() }),
]);
export type VersionOutcome = z.infer<typeof versionOutcomeSchema>;

export const batchCopyResultSchema = z.strictObject({ outcomes: z.array(versionOutcomeSchema) });
export type BatchCopyResult = z.infer<typeof batchCopyResultSchema>;

export const requestBackupsInputSchema = z.strictObject({ requests: z.array(backupRequestSchema).min(1).max(MAX_BATCH_VERSIONS) });
export type RequestBackupsInput = z.infer<typeof requestBackupsInputSchema>;
export const requestBackupsResultSchema = z.strictObject({ sent: z.number().int().nonnegative() });

/** At most this many handed-off versions are named in the output (the rest are counted). */
export const MAX_LISTED_HANDOFFS = 20;

export const blobBatchOutputSchema = z.strictObject({
  versions: z.number().int().nonnegative(),
  copied: z.number().int().nonnegative(),
  skipped: z.number().int().nonnegative(),
  handedOff: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  /** The first handed-off versions with the reason; each has a blob backup instance of its own. */
  handOffs: z.array(z.strictObject({ blob: z.string(), reason: z.string() })).max(MAX_LISTED_HANDOFFS),
  durationMs: z.number().nonnegative(),
});
export type BlobBatchOutput = z.infer<typeof blobBatchOutputSchema>;

/** A batch cut into the chunks its copy activities take, in order. */
export function chunksOf<T>(items: readonly T[], size = BATCH_CHUNK_VERSIONS): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

/** Instance ids of batch backups start so. */
export const BLOB_BATCH_ID_PREFIX = "blob-batch-";

/**
 * The instance id of a batch: a hash of what it asks for (account, container, reason and the versions), not of when
 * it was asked, so a message delivered twice, or sent again by a retried scan page, joins the same instance.
 * Overlapping batches with other ids are safe: each version's copy is conditional and idempotent.
 */
export function blobBatchInstanceId(batch: Pick<BackupBatch, "account" | "container" | "reason" | "versions">): string {
  const versions = batch.versions.map((v) => `${v.blob}\n${v.snapshot === undefined ? `etag:${v.etag}` : `snapshot:${v.snapshot}`}`).sort();
  const hash = createHash("sha256").update(JSON.stringify([batch.account, batch.container, batch.reason, versions])).digest("hex");
  return `${BLOB_BATCH_ID_PREFIX}${hash}`;
}

/**
 * A version's own request id, derived from its chunk's: a GUID-shaped hash, stable across retries of the activity, so
 * a copy whose answer was lost recognises its own write (backup_request_id), and different per version.
 */
export function versionRequestId(chunkRequestId: string, blob: string, etag: string, snapshot: string | undefined): string {
  const h = createHash("sha256").update(`${chunkRequestId}\n${blob}\n${etag}\n${snapshot ?? ""}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
