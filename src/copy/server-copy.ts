/**
 * Copy engine `server`: the storage service copies the exact source version into the backup account; no bytes pass
 * through the function. Up to 256 MiB one Copy Blob From URL (`syncCopyFromURL`, which also checks the transferred
 * bytes against the source's Content-MD5 when it has one); above, Put Block From URL in parallel ranges and one
 * conditional Put Block List.
 */
import { createHash } from "node:crypto";

import type { BlockBlobClient } from "@azure/storage-blob";

import type { BlobAccount } from "../config/clients";
import { backupMetadata, type SourceVersion } from "../domain/blob-backup";
import type { CopyResult } from "../domain/blob-backup-activities";
import { describeError } from "../domain/errors";
import { blobIn, blockBlobClient, containerClient } from "../storage/addressed-clients";
import { type BackupTarget, MAX_TARGET_ATTEMPTS, prepareTarget } from "../storage/backup-target";
import { errorCodeOf, isPreconditionFailed, statusOf } from "../storage/rest-errors";
import { sourceReadUrl } from "../storage/source-sas";

/** The service limit of Copy Blob From URL. */
export const SYNC_COPY_MAX_BYTES = 256 * 1024 * 1024;

export interface ServerCopyOptions {
  /** Blobs above this size are copied block by block (at most the service limit of Copy Blob From URL). */
  readonly syncCopyMaxBytes: number;
  /** Block size for blobs above the sync-copy limit (Put Block From URL allows up to 4000 MiB; smaller runs in parallel). */
  readonly blockBytes: number;
  readonly parallelism: number;
  /** Lifetime of the source SAS. */
  readonly sasMinutes: number;
}

export const DEFAULT_SERVER_COPY_OPTIONS: ServerCopyOptions = {
  syncCopyMaxBytes: SYNC_COPY_MAX_BYTES,
  blockBytes: 64 * 1024 * 1024,
  parallelism: 4,
  sasMinutes: 60,
};

/** One copy of one version: what it copies, its id (recorded on the backup blob) and when it was decided. */
export interface CopyRequest {
  readonly version: SourceVersion;
  readonly requestId: string;
  readonly copiedAt: string;
}

class SourceChanged extends Error {}

export async function serverCopy(
  source: BlobAccount,
  backup: BlobAccount,
  target: BackupTarget,
  request: CopyRequest,
  options: ServerCopyOptions = DEFAULT_SERVER_COPY_OPTIONS,
): Promise<CopyResult> {
  const { version } = request;
  const url = await sourceReadUrl(source, version.container, version.blob, version.snapshot, new Date(Date.now() + options.sasMinutes * 60_000));
  const live = blobIn(source.service, version.container, version.blob);
  return conditionalCopy(backup, target, request, backupMetadata(version, "server", request.copiedAt, request.requestId), {
    url,
    etag: version.etag,
    // A snapshot never changes; a live blob is re-checked after a block-wise copy (see stagedCopy).
    ...(version.snapshot === undefined && { unchanged: async () => (await live.getProperties()).etag === version.etag }),
  }, options);
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
 * run staged).
 */
export async function conditionalCopy(
  backup: BlobAccount,
  target: BackupTarget,
  request: CopyRequest,
  metadata: Record<string, string>,
  from: CopySource,
  options: ServerCopyOptions = DEFAULT_SERVER_COPY_OPTIONS,
): Promise<CopyResult> {
  const { version } = request;
  const container = containerClient(backup.service, target.container);
  await container.createIfNotExists();
  const blob = blockBlobClient(container, version.blob);

  for (let attempt = 1; attempt <= MAX_TARGET_ATTEMPTS; attempt++) {
    const decision = await prepareTarget(blob, version, target.history, request.requestId);
    if (decision.kind === "skipped") return decision;
    if (decision.kind === "ours") return { kind: "copied", bytes: version.contentLength };
    if (decision.kind === "raced") continue;
    let versionId: string | undefined;
    try {
      if (version.contentLength <= options.syncCopyMaxBytes) {
        const written = await blob.syncCopyFromURL(from.url, {
          metadata,
          conditions: decision.conditions,
          // The copy reads the version we resolved or nothing (a live blob that changed since is a stale request).
          sourceConditions: { ifMatch: from.etag },
          // The service hashes the bytes it transfers and refuses a copy that differs from the source's Content-MD5.
          ...(version.contentMd5 !== undefined && { sourceContentMD5: Buffer.from(version.contentMd5, "base64") }),
        });
        versionId = written.versionId;
      } else {
        versionId = await stagedCopy(blob, from, version, metadata, decision.conditions, options);
      }
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
function copyError(err: unknown, target: BackupTarget, version: SourceVersion): CopyResult | "retry" {
  const code = errorCodeOf(err);
  if (err instanceof SourceChanged || code === "SourceConditionNotMet") {
    return { kind: "skipped", reason: "stale: the source blob changed during the copy (a newer request exists)" };
  }
  // The backup blob changed under us (another copy committed): decide again from a fresh read.
  // (A write conditional on If-None-Match "*" answers 409 BlobAlreadyExists instead of 412.)
  if (isPreconditionFailed(err) || code === "BlobAlreadyExists") return "retry";
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

/** Returns the version id of the committed blob (undefined without blob versioning). */
async function stagedCopy(
  target: BlockBlobClient,
  from: CopySource,
  version: SourceVersion,
  metadata: Record<string, string>,
  conditions: { ifMatch?: string; ifNoneMatch?: string },
  options: ServerCopyOptions,
): Promise<string | undefined> {
  const count = Math.ceil(version.contentLength / options.blockBytes);
  // Block ids are unique per source version, so two copies of different versions never mix their uncommitted blocks.
  const prefix = createHash("sha256").update(`${version.etag}\n${version.snapshot ?? ""}`).digest("hex").slice(0, 16);
  const ids = Array.from({ length: count }, (_, i) => Buffer.from(`${prefix}-${String(i).padStart(6, "0")}`).toString("base64"));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const offset = i * options.blockBytes;
      const length = Math.min(options.blockBytes, version.contentLength - offset);
      await target.stageBlockFromURL(ids[i] ?? "", from.url, offset, length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.parallelism, count) }, worker));
  // Put Block From URL has no source condition. A source whose ETag is unchanged after every block was read had no
  // write in between, so the blocks form the version we resolved.
  if (from.unchanged !== undefined && !(await from.unchanged())) throw new SourceChanged();
  // No Content-MD5 from the source's record here: nothing hashed these bytes, so verification hashes them instead of
  // comparing the record with itself.
  const committed = await target.commitBlockList(ids, {
    metadata,
    conditions,
    ...(version.contentType !== undefined && { blobHTTPHeaders: { blobContentType: version.contentType } }),
  });
  return committed.versionId;
}
