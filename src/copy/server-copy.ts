/**
 * Copy engine `server`: the storage service copies the exact source version into the backup account; no bytes pass
 * through the function. Up to 256 MiB one Copy Blob From URL (`syncCopyFromURL`, which also checks the transferred
 * bytes against the source's Content-MD5 when it has one); above, Put Block From URL in parallel ranges and one
 * conditional Put Block List.
 */
import type { BlockBlobClient } from "@azure/storage-blob";

import type { BlobAccount } from "../config/clients";
import type { Settings } from "../config/settings";
import { backupMetadata, type SourceVersion } from "../domain/blob-backup";
import type { CopyResult } from "../domain/blob-backup-activities";
import { blockIds, blockLayout } from "../domain/block-layout";
import { describeError } from "../domain/errors";
import { blobIn, blockBlobClient, containerClient } from "../storage/addressed-clients";
import { type BackupTarget, type BackupTargetDecision, MAX_TARGET_ATTEMPTS, prepareTarget } from "../storage/backup-target";
import { errorCodeOf, isPreconditionFailed, statusOf } from "../storage/rest-errors";
import { sourceReadUrl } from "../storage/source-sas";
import { withSourceMetadata } from "../storage/source-version";
import { commitBlocks, stageMissingBlocks } from "./block-copy";

/** The service limit of Copy Blob From URL. */
export const SYNC_COPY_MAX_BYTES = 256 * 1024 * 1024;

export interface ServerCopyOptions {
  /** Blobs above this size are copied block by block (at most the service limit of Copy Blob From URL). */
  readonly syncCopyMaxBytes: number;
  /**
   * The smallest block for blobs above the sync-copy limit; raised for blobs that would need more than 50,000 blocks
   * (src/domain/block-layout.ts). Smaller blocks run in parallel and lose less to a failed attempt.
   */
  readonly blockBytes: number;
  readonly parallelism: number;
  /** Lifetime of the source SAS. */
  readonly sasMinutes: number;
  /**
   * A step of a copy in steps starts no block after this many seconds, so that it ends well inside the activity's
   * time limit (functionTimeout, 10 min) even when its last blocks are large.
   */
  readonly stepSeconds: number;
}

export const DEFAULT_SERVER_COPY_OPTIONS: ServerCopyOptions = {
  syncCopyMaxBytes: SYNC_COPY_MAX_BYTES,
  blockBytes: 64 * 1024 * 1024,
  parallelism: 4,
  sasMinutes: 60,
  stepSeconds: 240,
};

/** The options the settings choose (COPY_BLOCK_MIB, COPY_STEP_SECONDS); the rest are the service's limits. */
export function copyOptionsOf(settings: Pick<Settings, "copyBlockMiB" | "copyStepSeconds">): ServerCopyOptions {
  return { ...DEFAULT_SERVER_COPY_OPTIONS, blockBytes: settings.copyBlockMiB * 1024 * 1024, stepSeconds: settings.copyStepSeconds };
}

/** One copy of one version: what it copies, its id (recorded on the backup blob) and when it was decided. */
export interface CopyRequest {
  readonly version: SourceVersion;
  readonly requestId: string;
  readonly copiedAt: string;
}

/**
 * What a caller that has just resolved the version already knows (the batch copy), so the copy does not ask again.
 * Never part of an activity's input: source metadata stays out of orchestration history.
 */
export interface KnownSource {
  /** The source's metadata, read from this exact version (a snapshot, or the live blob at this ETag). */
  readonly metadata?: Readonly<Record<string, string>>;
  /** No backup blob is expected: try a create-only write before reading the backup blob (see WriteOptions). */
  readonly assumeAbsent?: boolean;
}

/** A live source whose ETag changed while its blocks were read: the blocks may mix two versions. */
export class SourceChanged extends Error {}

export async function serverCopy(
  source: BlobAccount,
  backup: BlobAccount,
  target: BackupTarget,
  request: CopyRequest,
  options: ServerCopyOptions = DEFAULT_SERVER_COPY_OPTIONS,
  known: KnownSource = {},
): Promise<CopyResult> {
  const { version } = request;
  // Metadata read from this version stays right: the copy's source condition holds the live blob to the same ETag.
  const withMetadata = known.metadata !== undefined ? { kind: "ready" as const, version: { ...version, metadata: known.metadata } } : await withSourceMetadata(source, version);
  if (withMetadata.kind === "skipped") return withMetadata;
  const url = await sourceReadUrl(source, version.container, version.blob, version.snapshot, new Date(Date.now() + options.sasMinutes * 60_000));
  const live = blobIn(source.service, version.container, version.blob);
  return conditionalCopy(
    backup,
    target,
    request,
    backupMetadata(withMetadata.version, "server", request.copiedAt, request.requestId),
    {
      url,
      etag: version.etag,
      // A snapshot never changes; a live blob is re-checked after a block-wise copy (see stagedCopy).
      ...(version.snapshot === undefined && { unchanged: async () => (await live.getProperties()).etag === version.etag }),
    },
    options,
    { assumeAbsent: known.assumeAbsent === true },
  );
}

/** Where a conditional copy reads from: a URL with a read SAS, the ETag it must still have. */
export interface CopySource {
  readonly url: string;
  readonly etag: string;
  /** For sources that may change during a block-wise copy: true when the ETag is still the one read. */
  readonly unchanged?: () => Promise<boolean>;
}

/**
 * Copies `from` into the backup blob of `request.version` under the conditional-write protocol of backup-target.ts:
 * skipped when the backup holds this or a newer version, previous version kept, written only if the backup blob is
 * still what was read. Shared by the server engine (from the source) and the ADF engine (from the blob its pipeline
 * run staged). Above the sync-copy limit all blocks are staged in this one call (the orchestration copies large
 * blobs of the server engine in steps instead: src/activities/stage-backup-blocks.ts).
 */
export async function conditionalCopy(
  backup: BlobAccount,
  target: BackupTarget,
  request: CopyRequest,
  metadata: Record<string, string>,
  from: CopySource,
  options: ServerCopyOptions = DEFAULT_SERVER_COPY_OPTIONS,
  writeOptions: WriteOptions = {},
): Promise<CopyResult> {
  const { version } = request;
  return conditionalWrite(backup, target, request, writeOptions, async (blob, conditions) => {
    if (version.contentLength <= options.syncCopyMaxBytes) {
      const written = await blob.syncCopyFromURL(from.url, {
        metadata,
        conditions,
        // The copy reads the version we resolved or nothing (a live blob that changed since is a stale request).
        sourceConditions: { ifMatch: from.etag },
        // The service hashes the bytes it transfers and refuses a copy that differs from the source's Content-MD5.
        ...(version.contentMd5 !== undefined && { sourceContentMD5: Buffer.from(version.contentMd5, "base64") }),
      });
      return written.versionId;
    }
    return stagedCopy(blob, from, version, metadata, conditions, options);
  });
}

export interface WriteOptions {
  /**
   * The first attempt writes create-only (If-None-Match "*") without reading the backup blob first: one request instead
   * of two for a blob the requester saw no backup of. A backup blob that exists after all refuses the write
   * (BlobAlreadyExists), and the next attempt reads it and decides as usual.
   */
  readonly assumeAbsent?: boolean;
}

/**
 * The conditional-write protocol around one write: read the backup blob, skip or keep its current version, then
 * `write` with the conditions that make it fail if the backup blob changed meanwhile (then decide again). The write
 * returns the version id the service gave the new blob. The backup container is created when a write finds it
 * missing, not before every write (one request per blob saved).
 */
export async function conditionalWrite(
  backup: BlobAccount,
  target: BackupTarget,
  request: CopyRequest,
  options: WriteOptions,
  write: (blob: BlockBlobClient, conditions: { ifMatch?: string; ifNoneMatch?: string }) => Promise<string | undefined>,
): Promise<CopyResult> {
  const { version } = request;
  const container = containerClient(backup.service, target.container);
  const blob = blockBlobClient(container, version.blob);

  // The backup container is created when the first write finds it missing; that same write is then sent again.
  const writeCreatingContainer = async (conditions: { ifMatch?: string; ifNoneMatch?: string }): Promise<string | undefined> => {
    try {
      return await write(blob, conditions);
    } catch (err) {
      if (errorCodeOf(err) !== "ContainerNotFound") throw err;
      await container.createIfNotExists();
      return write(blob, conditions);
    }
  };

  let createOnly = options.assumeAbsent === true;
  for (let attempt = 1; attempt <= MAX_TARGET_ATTEMPTS; attempt++) {
    const decision: BackupTargetDecision = createOnly
      ? { kind: "write", conditions: { ifNoneMatch: "*" } }
      : await prepareTarget(blob, version, target.history, request.requestId);
    createOnly = false;
    if (decision.kind === "skipped") return decision;
    if (decision.kind === "ours") return { kind: "copied", bytes: version.contentLength };
    if (decision.kind === "raced") continue;
    let versionId: string | undefined;
    try {
      versionId = await writeCreatingContainer(decision.conditions);
    } catch (err) {
      const outcome = copyError(err, target, version);
      if (outcome === "retry") continue;
      return outcome;
    }
    if (target.history === "versioning" && versionId === undefined) {
      return {
        kind: "failed",
        reason:
          "BACKUP_HISTORY=versioning, but the backup account returned no version id for the write: blob versioning is off there, " +
          "so an overwrite would destroy the previous backup (it was kept as a snapshot this time). Enable versioning on the " +
          "backup account, or set BACKUP_HISTORY=snapshot",
      };
    }
    return { kind: "copied", bytes: version.contentLength };
  }
  throw new Error(`the backup blob ${target.container}/${version.blob} kept changing during ${MAX_TARGET_ATTEMPTS} attempts`);
}

/** What a failed write means: an outcome, "retry" (the backup blob changed under us), or rethrown (transient). */
export function copyError(err: unknown, target: BackupTarget, version: SourceVersion): CopyResult | "retry" {
  const code = errorCodeOf(err);
  if (err instanceof SourceChanged || code === "SourceConditionNotMet") {
    return { kind: "skipped", reason: "stale: the source blob changed during the copy (a newer request exists)" };
  }
  // The backup blob changed under us (another copy committed): decide again from a fresh read.
  // (A write conditional on If-None-Match "*" answers 409 BlobAlreadyExists instead of 412.)
  if (isPreconditionFailed(err) || code === "BlobAlreadyExists") return "retry";
  if (code === "MetadataTooLarge") {
    return { kind: "failed", reason: `the source's metadata does not fit beside the backup's own record (the service allows 8 KiB of metadata in all): ${describeError(err)}` };
  }
  if (code === "Md5Mismatch") {
    return { kind: "failed", reason: `the bytes copied into ${target.container}/${version.blob} do not match the source's Content-MD5: ${describeError(err)}` };
  }
  // Copy sources answer with CannotVerifyCopySource and the source's own status: 404 means the version is gone,
  // 401/403 that the SAS or the app's role does not allow reading it; 5xx (the documented status) is transient.
  if (code === "CannotVerifyCopySource" || code === "BlobNotFound") {
    const status = statusOf(err) ?? 500;
    if (status === 404) return { kind: "skipped", reason: `the source ${version.snapshot === undefined ? "blob" : "snapshot"} no longer exists` };
    if (status < 500) return { kind: "failed", reason: `the copy source is not readable (HTTP ${status}): ${describeError(err)}` };
  }
  throw err;
}

/** All blocks in one call, then the commit. Returns the version id of the committed blob (undefined without versioning). */
async function stagedCopy(
  target: BlockBlobClient,
  from: CopySource,
  version: SourceVersion,
  metadata: Record<string, string>,
  conditions: { ifMatch?: string; ifNoneMatch?: string },
  options: ServerCopyOptions,
): Promise<string | undefined> {
  const layout = blockLayout(version.contentLength, options.blockBytes);
  if (layout === undefined) throw new Error(`${version.contentLength} bytes is more than a block blob can hold`);
  const ids = blockIds(version, layout);
  await stageMissingBlocks(target, from.url, version.contentLength, layout, ids, { parallelism: options.parallelism, stopAt: Infinity });
  // Put Block From URL has no source condition in the SDK. A source whose ETag is unchanged after every block was
  // read had no write in between, so the blocks form the version we resolved.
  if (from.unchanged !== undefined && !(await from.unchanged())) throw new SourceChanged();
  return commitBlocks(target, ids, metadata, conditions, version.contentType);
}
