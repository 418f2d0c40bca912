/**
 * Copy engine `server`: the storage service copies the exact source version into the backup account; no bytes pass
 * through the function. Up to 256 MiB one Put Blob From URL (`syncCopyFromURL`); above, Put Block From URL in parallel
 * ranges and one conditional Put Block List.
 */
import { createHash } from "node:crypto";

import type { BlockBlobClient } from "@azure/storage-blob";

import type { BlobAccount } from "../config/clients";
import { backupMetadata } from "../domain/blob-backup";
import type { CopyResult, ServerCopyInput } from "../domain/blob-backup-activities";
import { describeError } from "../domain/errors";
import { blobIn, blockBlobClient, containerClient } from "../storage/addressed-clients";
import { MAX_TARGET_ATTEMPTS, prepareTarget } from "../storage/backup-target";
import { errorCodeOf, isPreconditionFailed } from "../storage/rest-errors";
import { sourceReadUrl } from "../storage/source-sas";

/** The service limit of Put Blob From URL. */
export const SYNC_COPY_MAX_BYTES = 256 * 1024 * 1024;

export interface ServerCopyOptions {
  /** Block size for blobs above the sync-copy limit (Put Block From URL allows up to 4000 MiB; smaller runs in parallel). */
  readonly blockBytes: number;
  readonly parallelism: number;
  /** Lifetime of the source SAS. */
  readonly sasMinutes: number;
}

export const DEFAULT_SERVER_COPY_OPTIONS: ServerCopyOptions = { blockBytes: 64 * 1024 * 1024, parallelism: 4, sasMinutes: 60 };

class SourceChanged extends Error {}

export async function serverCopy(
  source: BlobAccount,
  backup: BlobAccount,
  input: ServerCopyInput,
  options: ServerCopyOptions = DEFAULT_SERVER_COPY_OPTIONS,
): Promise<CopyResult> {
  const { version } = input;
  const url = await sourceReadUrl(source, version.container, version.blob, version.snapshot, new Date(Date.now() + options.sasMinutes * 60_000));
  const live = blobIn(source.service, version.container, version.blob);
  return conditionalCopy(backup, input, backupMetadata(version, "server", input.copiedAt), {
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
 * Copies `from` into the backup blob of `input.version` under the conditional-write protocol of backup-target.ts:
 * skipped when the backup holds this or a newer version, previous version kept as a snapshot, written only if the
 * backup blob is still what was read. Shared by the server engine (from the source) and the ADF engine (from the
 * blob its pipeline run staged).
 */
export async function conditionalCopy(
  backup: BlobAccount,
  input: ServerCopyInput,
  metadata: Record<string, string>,
  from: CopySource,
  options: ServerCopyOptions = DEFAULT_SERVER_COPY_OPTIONS,
): Promise<CopyResult> {
  const { version } = input;
  const container = containerClient(backup.service, input.backupContainer);
  await container.createIfNotExists();
  const target = blockBlobClient(container, version.blob);

  for (let attempt = 1; attempt <= MAX_TARGET_ATTEMPTS; attempt++) {
    const decision = await prepareTarget(target, version, input.backupHistory);
    if (decision.kind === "skipped") return decision;
    if (decision.kind === "raced") continue;
    try {
      if (version.contentLength <= SYNC_COPY_MAX_BYTES) {
        await target.syncCopyFromURL(from.url, {
          metadata,
          conditions: decision.conditions,
          // The copy reads the version we resolved or nothing (a live blob that changed since is a stale request).
          sourceConditions: { ifMatch: from.etag },
        });
      } else {
        await stagedCopy(target, from, input, metadata, decision.conditions, options);
      }
      return { kind: "copied", bytes: version.contentLength };
    } catch (err) {
      if (err instanceof SourceChanged || errorCodeOf(err) === "SourceConditionNotMet") {
        return { kind: "skipped", reason: "stale: the source blob changed during the copy (a newer request exists)" };
      }
      // The backup blob changed under us (another copy committed): decide again from a fresh read.
      // (A write conditional on If-None-Match "*" answers 409 BlobAlreadyExists instead of 412.)
      if (isPreconditionFailed(err) || errorCodeOf(err) === "BlobAlreadyExists") continue;
      if (errorCodeOf(err) === "CannotVerifyCopySource" || errorCodeOf(err) === "BlobNotFound") {
        return { kind: "failed", reason: `the copy source is not readable: ${describeError(err)}` };
      }
      throw err;
    }
  }
  throw new Error(`the backup blob ${input.backupContainer}/${version.blob} kept changing during ${MAX_TARGET_ATTEMPTS} attempts`);
}

async function stagedCopy(
  target: BlockBlobClient,
  from: CopySource,
  input: ServerCopyInput,
  metadata: Record<string, string>,
  conditions: { ifMatch?: string; ifNoneMatch?: string },
  options: ServerCopyOptions,
): Promise<void> {
  const { version } = input;
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
  await target.commitBlockList(ids, {
    metadata,
    conditions,
    blobHTTPHeaders: {
      ...(version.contentType !== undefined && { blobContentType: version.contentType }),
      ...(version.contentMd5 !== undefined && { blobContentMD5: Buffer.from(version.contentMd5, "base64") }),
    },
  });
}
