/**
 * Writes one backed-up version into the target, server side, and verifies it. No bytes pass through the function
 * (except to hash a large blob whose MD5 could not be checked on the way).
 *
 * Why Put Block From URL + Put Block List rather than Copy Blob From URL: a copy without metadata takes the source's
 * metadata (our `backup_*` record) along, so blobs without metadata of their own would need a second write; a block
 * list sets exactly the source's own metadata and content headers, is conditional like any write, and the service
 * checks the bytes it reads against the MD5 we give it (`x-ms-source-content-md5`). Large blobs are staged in ranges
 * with ids derived from the version, so a retried activity skips the ranges already staged.
 */
import { createHash } from "node:crypto";

import type { BlobHTTPHeaders, BlockBlobClient, ContainerClient } from "@azure/storage-blob";

import type { BlobAccount } from "../config/clients";
import { describeError } from "../domain/errors";
import type { BackupVersion, WriteConditions } from "../domain/restore";
import { blobIn, blockBlobClient, UnsafeNameError } from "./addressed-clients";
import { errorCodeOf, isPreconditionFailed, statusOf } from "./rest-errors";
import { sourceReadUrl, versionReadUrl } from "./source-sas";

export interface RestoreCopyOptions {
  /** Up to this size a version is staged as one block, whose MD5 the service checks while it reads the source. */
  readonly singleBlockMaxBytes: number;
  /** Range size above that (Put Block From URL allows 4000 MiB; smaller ranges run in parallel). */
  readonly rangeBytes: number;
  readonly rangeParallelism: number;
  /** Above this, a blob whose MD5 the service could not check is verified by length only (hashing would run too long). */
  readonly maxHashedBytes: number;
}

export const DEFAULT_RESTORE_COPY_OPTIONS: RestoreCopyOptions = {
  singleBlockMaxBytes: 256 * 1024 * 1024,
  rangeBytes: 64 * 1024 * 1024,
  rangeParallelism: 4,
  maxHashedBytes: 1024 * 1024 * 1024,
};
/** The read SAS lives this long: one copy, plus ten minutes a GiB for staged ranges. */
const SAS_MINUTES = 15;

export type RestoreWriteResult =
  | { readonly kind: "restored"; readonly bytes: number; readonly note: string }
  /** The target changed between our read and our write, or right after it: the other write is kept. */
  | { readonly kind: "lostRace"; readonly reason: string }
  | { readonly kind: "failed"; readonly reason: string };

function headersOf(version: BackupVersion): BlobHTTPHeaders {
  return {
    ...(version.contentType !== undefined && { blobContentType: version.contentType }),
    ...(version.contentEncoding !== undefined && { blobContentEncoding: version.contentEncoding }),
    ...(version.contentLanguage !== undefined && { blobContentLanguage: version.contentLanguage }),
    ...(version.contentDisposition !== undefined && { blobContentDisposition: version.contentDisposition }),
    ...(version.cacheControl !== undefined && { blobCacheControl: version.cacheControl }),
    ...(version.contentMd5 !== undefined && { blobContentMD5: Buffer.from(version.contentMd5, "base64") }),
  };
}

async function readUrl(backup: BlobAccount, container: string, version: BackupVersion): Promise<string> {
  const expiresOn = new Date(Date.now() + (SAS_MINUTES + Math.ceil(version.contentLength / 2 ** 30) * 10) * 60_000);
  return version.versionId !== undefined
    ? versionReadUrl(backup, container, version.name, version.versionId, expiresOn)
    : sourceReadUrl(backup, container, version.name, version.snapshot, expiresOn);
}

/** Block ids unique to (backup version, target name), all of one length, as the service requires within a blob. */
function blockIds(version: BackupVersion, target: string, count: number): string[] {
  const key = `${version.name}\n${version.snapshot ?? ""}\n${version.versionId ?? ""}\n${version.etag}\n${target}`;
  const prefix = createHash("sha256").update(key).digest("hex").slice(0, 24);
  return Array.from({ length: count }, (_, i) => Buffer.from(`${prefix}-${String(i).padStart(6, "0")}`).toString("base64"));
}

async function stage(
  target: BlockBlobClient,
  url: string,
  version: BackupVersion,
  targetName: string,
  options: RestoreCopyOptions,
): Promise<{ ids: string[]; md5Checked: boolean }> {
  if (version.contentLength <= options.singleBlockMaxBytes) {
    const [id = ""] = blockIds(version, targetName, 1);
    await target.stageBlockFromURL(id, url, 0, version.contentLength, {
      ...(version.contentMd5 !== undefined && { sourceContentMD5: Buffer.from(version.contentMd5, "base64") }),
    });
    return { ids: [id], md5Checked: version.contentMd5 !== undefined };
  }
  const count = Math.ceil(version.contentLength / options.rangeBytes);
  const ids = blockIds(version, targetName, count);
  // A retried activity resumes: ranges already staged (same id, same size) are not read again.
  const staged = new Map<string, number>();
  try {
    const list = await target.getBlockList("uncommitted");
    for (const block of list.uncommittedBlocks ?? []) staged.set(block.name, block.size);
  } catch (err) {
    if (statusOf(err) !== 404) throw err;
  }
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const offset = i * options.rangeBytes;
      const length = Math.min(options.rangeBytes, version.contentLength - offset);
      const id = ids[i] ?? "";
      if (staged.get(id) === length) continue;
      await target.stageBlockFromURL(id, url, offset, length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.rangeParallelism, count) }, worker));
  return { ids, md5Checked: false };
}

async function hashBlob(target: BlockBlobClient, etag: string): Promise<string> {
  const response = await target.download(0, undefined, { conditions: { ifMatch: etag } });
  const body = response.readableStreamBody;
  if (body === undefined) throw new Error("the restored blob's download has no body");
  const hash = createHash("md5");
  for await (const chunk of body) hash.update(chunk as Buffer);
  return hash.digest("base64");
}

/** Reads the written blob back (pinned to our write's ETag): length, and MD5 where the source has one. */
async function verify(target: BlockBlobClient, etag: string, version: BackupVersion, md5Checked: boolean, maxHashedBytes: number): Promise<RestoreWriteResult> {
  let p;
  try {
    p = await target.getProperties({ conditions: { ifMatch: etag } });
  } catch (err) {
    if (isPreconditionFailed(err) || statusOf(err) === 404) {
      return { kind: "lostRace", reason: "restored, then replaced or deleted by a concurrent write before it was verified (that write is kept)" };
    }
    throw err;
  }
  if (p.contentLength !== version.contentLength) {
    return { kind: "failed", reason: `verification: the restored blob has ${p.contentLength ?? "?"} bytes, the backup ${version.contentLength}` };
  }
  if (version.contentMd5 === undefined) return { kind: "restored", bytes: version.contentLength, note: "length checked (the backup has no Content-MD5)" };
  const property = p.contentMD5 === undefined ? undefined : Buffer.from(p.contentMD5).toString("base64");
  if (property !== version.contentMd5) {
    return { kind: "failed", reason: `verification: the restored blob's Content-MD5 ${property ?? "(none)"} differs from the backup's ${version.contentMd5}` };
  }
  if (md5Checked) return { kind: "restored", bytes: version.contentLength, note: "length and MD5 checked (the service checked the bytes it read)" };
  if (version.contentLength > maxHashedBytes) {
    return { kind: "restored", bytes: version.contentLength, note: "length checked (too large to hash; staged in ranges)" };
  }
  const md5 = await hashBlob(target, etag);
  if (md5 !== version.contentMd5) return { kind: "failed", reason: `verification: the restored content's MD5 ${md5} differs from the backup's ${version.contentMd5}` };
  return { kind: "restored", bytes: version.contentLength, note: "length and MD5 of the content checked" };
}

function isLostRace(err: unknown): boolean {
  // If-Match failed (412), or If-None-Match * found a blob (409 BlobAlreadyExists); a block id of another length means a
  // producer is uploading this blob in blocks right now.
  return isPreconditionFailed(err) || errorCodeOf(err) === "BlobAlreadyExists" || errorCodeOf(err) === "InvalidBlobOrBlock";
}

/**
 * Restores `version` (a backup entry of `backupContainer`) as `targetName` in `target`, written only under
 * `conditions`. Expected outcomes are results; transient errors throw (the activity is retried, and resumes).
 */
export async function restoreVersion(
  backup: BlobAccount,
  backupContainer: string,
  version: BackupVersion,
  target: ContainerClient,
  targetName: string,
  conditions: WriteConditions,
  copyOptions: RestoreCopyOptions = DEFAULT_RESTORE_COPY_OPTIONS,
): Promise<RestoreWriteResult> {
  const options = { metadata: { ...version.metadata }, blobHTTPHeaders: headersOf(version), conditions };
  let blob;
  try {
    blob = blockBlobClient(target, targetName);
  } catch (err) {
    // A backup listing can hold a name the app never writes (someone else's blob): refused for this name only.
    if (err instanceof UnsafeNameError) return { kind: "failed", reason: err.message };
    throw err;
  }
  try {
    if (version.contentLength === 0) {
      const written = await blob.upload("", 0, options);
      return await verify(blob, written.etag ?? "", version, true, copyOptions.maxHashedBytes);
    }
    const url = await readUrl(backup, backupContainer, version);
    const { ids, md5Checked } = await stage(blob, url, version, targetName, copyOptions);
    // The backup blob itself (not a snapshot or version) can be replaced by a newer backup while we read it. Its MD5,
    // checked by the service, proves we read the version we chose; without one, its ETag must be unchanged.
    if (version.snapshot === undefined && version.versionId === undefined && !md5Checked) {
      const now = await blobIn(backup.service, backupContainer, version.name).getProperties();
      if (now.etag !== version.etag) {
        return { kind: "failed", reason: "the backup blob was replaced by a newer backup while it was read; restore this blob again" };
      }
    }
    const committed = await blob.commitBlockList(ids, options);
    return await verify(blob, committed.etag ?? "", version, md5Checked, copyOptions.maxHashedBytes);
  } catch (err) {
    if (isLostRace(err)) return { kind: "lostRace", reason: `the target changed before our write (${errorCodeOf(err) ?? statusOf(err) ?? "conflict"}); that write is kept` };
    const code = errorCodeOf(err);
    if (code === "Md5Mismatch") return { kind: "failed", reason: "the bytes read from the backup do not match its Content-MD5 (the backup blob changed or is damaged)" };
    if (code === "CannotVerifyCopySource" || code === "BlobArchived" || code === "BlobNotFound") {
      return { kind: "failed", reason: `the backup version is not readable: ${describeError(err)}` };
    }
    throw err;
  }
}
