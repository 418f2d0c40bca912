/**
 * Types and pure rules of the blob backup orchestration: its input and output, the instance id derived from a blob
 * version, the metadata a backup blob carries, and how two versions are ordered. No I/O here.
 */
import { createHash } from "node:crypto";

import { z } from "zod";

import { type BackupRequest, backupRequestSchema } from "./backup-request";
import { blockLayoutSchema } from "./block-layout";

export const copyEngineSchema = z.enum(["server", "adf"]);

/**
 * The orchestration's input: the request alone. Everything that decides where and how it is copied (backup
 * container, history mode, engine, lease, timeouts) comes from the app settings inside the activities, so an
 * instance started with a forged input cannot pick its own target. Unknown keys (such as the `options` inputs of
 * earlier versions carried) are dropped, not obeyed.
 */
export const blobBackupInputSchema = z.object({ request: backupRequestSchema });
export type BlobBackupInput = z.infer<typeof blobBackupInputSchema>;

/**
 * The settings the orchestrator needs for its control flow, read by the prepare activity (orchestrators read no
 * settings) and recorded in its history, so a replay takes the same path.
 */
export const blobBackupPlanSchema = z.strictObject({
  engine: copyEngineSchema,
  /** Lease mode, when the version needs pinning (a live blob; a snapshot never changes): the lease duration. */
  leaseSeconds: z.number().int().min(15).max(60).optional(),
  copyPollSeconds: z.number().int().min(1),
  copyTimeoutMinutes: z.number().int().min(1),
  /**
   * A blob above the sync-copy limit: copied in steps, block ranges staged from URL across several activities and
   * committed at the end, in this layout (src/domain/block-layout.ts) — from the source (engine `server`) or from the
   * blob the ADF run staged (engine `adf`).
   */
  blocks: blockLayoutSchema.optional(),
});
export type BlobBackupPlan = z.infer<typeof blobBackupPlanSchema>;

/** How often a lease is renewed: three chances before it lapses, never more often than every 5 s. */
export function leaseRenewSeconds(leaseSeconds: number): number {
  return Math.max(5, Math.floor(leaseSeconds / 3));
}

/** A completed backup's output. A backup that could not be done fails the instance instead, with the reason. */
export const blobBackupOutputSchema = z.strictObject({
  status: z.enum(["Copied", "Skipped"]),
  reason: z.string(),
  bytes: z.number().int().nonnegative(),
  /** The engine of the plan; absent when the backup was skipped before there was one. */
  engine: copyEngineSchema.optional(),
  runId: z.string().optional(),
  durationMs: z.number().nonnegative(),
});
export type BlobBackupOutput = z.infer<typeof blobBackupOutputSchema>;

/**
 * The orchestration instance id of one blob version: a duplicate message maps to the same instance, so it never copies
 * twice. A hash keeps the id short and free of the characters instance ids reject (`/`, `\`, `#`, `?`, control
 * characters), whatever the blob name.
 */
export function blobBackupInstanceId(request: Pick<BackupRequest, "account" | "container" | "blob" | "etag" | "snapshot">): string {
  const version = request.snapshot === undefined ? `etag:${request.etag}` : `snapshot:${request.snapshot}`;
  const hash = createHash("sha256").update(`${request.account}\n${request.container}\n${request.blob}\n${version}`).digest("hex");
  return `blob-backup-${hash}`;
}

/** Metadata keys with which a backup blob records the version it holds (README, "Blob backup"; docs/architecture.md, "Blob backup"). */
export const BackupMetadata = {
  account: "backup_source_account",
  etag: "backup_source_etag",
  lastModified: "backup_source_last_modified",
  snapshot: "backup_source_snapshot",
  contentMd5: "backup_source_content_md5",
  copiedAt: "backup_copied_at",
  engine: "backup_engine",
  /** The copy request that wrote this blob: a backup whose write response was lost recognises its own copy by it. */
  requestId: "backup_request_id",
  /** Written by reconciliation on the backup blob when it first finds the source blob gone (restore honours it). */
  deletedAt: "backup_source_deleted_at",
} as const;

/** The exact source version a copy reads, as resolved from the request and the source account. */
export const sourceVersionSchema = z.strictObject({
  account: z.string(),
  container: z.string(),
  blob: z.string(),
  snapshot: z.string().optional(),
  etag: z.string(),
  lastModified: z.iso.datetime({ offset: true }),
  contentLength: z.number().int().nonnegative(),
  contentType: z.string().optional(),
  /** Base64, as Azure reports it; absent when the source has none (e.g. blobs uploaded in blocks). */
  contentMd5: z.string().optional(),
});
/**
 * The version as it travels between activities and the orchestration. The lake's user metadata is not part of it:
 * activity results and inputs are stored in the orchestration history, which the management API serves, so the
 * activities that write the backup read the source's metadata themselves (src/storage/source-version.ts).
 */
export type SourceVersion = z.infer<typeof sourceVersionSchema>;
/** A version with the source's own metadata, read by the activity that needs it; never returned to the orchestration. */
export type SourceVersionWithMetadata = SourceVersion & { readonly metadata: Readonly<Record<string, string>> };

/** The metadata written on the backup blob: the source's own metadata plus the backup_source_* record. */
export function backupMetadata(version: SourceVersionWithMetadata, engine: "server" | "adf", copiedAt: string, requestId: string): Record<string, string> {
  // The source's own keys must not masquerade as our record.
  const own = Object.fromEntries(Object.entries(version.metadata).filter(([key]) => !key.toLowerCase().startsWith("backup_")));
  return {
    ...own,
    [BackupMetadata.account]: version.account,
    [BackupMetadata.etag]: version.etag,
    [BackupMetadata.lastModified]: version.lastModified,
    [BackupMetadata.snapshot]: version.snapshot ?? "",
    ...(version.contentMd5 !== undefined && { [BackupMetadata.contentMd5]: version.contentMd5 }),
    [BackupMetadata.copiedAt]: copiedAt,
    [BackupMetadata.engine]: engine,
    [BackupMetadata.requestId]: requestId,
  };
}

/** The service's limit on a blob's metadata: names and values of all pairs together (Azure Storage REST reference). */
export const MAX_METADATA_BYTES = 8 * 1024;

/** The size the service counts: every name and value, as UTF-8 bytes. */
export function metadataBytes(metadata: Readonly<Record<string, string>>): number {
  return Object.entries(metadata).reduce((sum, [name, value]) => sum + Buffer.byteLength(name) + Buffer.byteLength(value), 0);
}

/**
 * Why the backup of `version` cannot carry its metadata, if it cannot: the source's own pairs plus our record (fixed
 * lengths: a GUID request id, an ISO time) must fit the service's limit, or the write would fail with an error the
 * operator cannot act on. Measured here, before any byte is copied.
 */
export function backupMetadataProblem(version: SourceVersionWithMetadata, engine: "server" | "adf"): string | undefined {
  const record = backupMetadata(version, engine, new Date(0).toISOString(), "00000000-0000-0000-0000-000000000000");
  const bytes = metadataBytes(record);
  if (bytes <= MAX_METADATA_BYTES) return undefined;
  const own = metadataBytes(version.metadata);
  return (
    `the source blob's metadata (${own} bytes of names and values) does not fit beside the backup's own record: ` +
    `${bytes} bytes in all, the service allows ${MAX_METADATA_BYTES}. Shorten the blob's metadata, then request its backup again`
  );
}

/** What a backup blob says it holds, read from its metadata (absent keys: a blob we did not write). */
export interface HeldVersion {
  readonly etag?: string;
  readonly lastModified?: string;
  readonly snapshot?: string;
  readonly requestId?: string;
}

export function heldVersion(metadata: Readonly<Record<string, string>> | undefined): HeldVersion {
  const m = metadata ?? {};
  return {
    ...(m[BackupMetadata.etag] !== undefined && { etag: m[BackupMetadata.etag] }),
    ...(m[BackupMetadata.lastModified] !== undefined && { lastModified: m[BackupMetadata.lastModified] }),
    ...(m[BackupMetadata.snapshot] ? { snapshot: m[BackupMetadata.snapshot] } : {}),
    ...(m[BackupMetadata.requestId] !== undefined && { requestId: m[BackupMetadata.requestId] }),
  };
}

export type VersionOrder = "same" | "older" | "newer" | "unknown";

/**
 * How the requested version compares with the one the backup holds. Last-modified times have one-second resolution,
 * so a tie is broken by the snapshot ids (100 ns resolution) when both have one; otherwise it stays "unknown" and the
 * copy proceeds (the later request wins, which is right in the usual case of in-order delivery).
 */
export function compareWithHeld(requested: Pick<SourceVersion, "etag" | "lastModified" | "snapshot">, held: HeldVersion): VersionOrder {
  if (held.etag === undefined) return "unknown";
  if (held.etag === requested.etag) return "same";
  if (held.lastModified === undefined) return "unknown";
  const a = Date.parse(requested.lastModified);
  const b = Date.parse(held.lastModified);
  if (Number.isNaN(a) || Number.isNaN(b)) return "unknown";
  if (a !== b) return a > b ? "newer" : "older";
  if (requested.snapshot !== undefined && held.snapshot !== undefined && requested.snapshot !== held.snapshot) {
    // Snapshot ids are fixed-width ISO timestamps once padded, so they order as strings.
    return padSnapshot(requested.snapshot) > padSnapshot(held.snapshot) ? "newer" : "older";
  }
  return "unknown";
}

function padSnapshot(id: string): string {
  const [whole = id, fraction = ""] = id.replace(/Z$/, "").split(".");
  return `${whole}.${fraction.padEnd(7, "0")}`;
}
