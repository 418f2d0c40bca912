/**
 * Verification after a copy: the backup blob holds exactly the version we resolved — its recorded source ETag and
 * snapshot, its length, and its Content-MD5 when the source has one (hashed from the content when the backup blob
 * carries no MD5 property, as after a block-wise copy, up to MAX_HASHED_BYTES).
 *
 * A copy in steps is also checked against its block layout: the committed block list (Get Block List, computed by the
 * service) must be exactly this version's block ids, in order, with the sizes of their source ranges — so the blob is
 * assembled from the ranges of this version and nothing else, whatever its size, without reading it. Azure computes no
 * whole-blob MD5 for Put Block List, and hashing a blob of many GiB would not fit one activity's time limit; up to
 * 1 GiB a download hashes in well under a minute at tens of MB/s, so the source's Content-MD5, when it has one, is
 * compared there too.
 */
import { createHash } from "node:crypto";

import type { BlobAccount } from "../config/clients";
import { BackupMetadata, compareWithHeld, heldVersion, type SourceVersion } from "../domain/blob-backup";
import type { VerifyBackupResult } from "../domain/blob-backup-activities";
import { blockIds, type BlockLayout, blockRange } from "../domain/block-layout";
import { blobIn, blockBlobClient, containerClient } from "./addressed-clients";
import { isNotFound } from "./rest-errors";

/** Above this, an MD5 missing on the backup blob is not recomputed by download (the activity would run too long). */
export const MAX_HASHED_BYTES = 1024 * 1024 * 1024;

export async function verifyBackup(backup: BlobAccount, backupContainer: string, version: SourceVersion, layout?: BlockLayout): Promise<VerifyBackupResult> {
  const target = blobIn(backup.service, backupContainer, version.blob);
  let p;
  try {
    p = await target.getProperties();
  } catch (err) {
    if (isNotFound(err)) return { kind: "mismatch", reason: "the backup blob does not exist after the copy" };
    throw err;
  }
  const held = heldVersion(p.metadata);
  if (held.etag !== version.etag) {
    if (compareWithHeld(version, held) === "older") {
      return { kind: "superseded", reason: `superseded during the copy: the backup now holds a newer version (ETag ${held.etag ?? "?"})` };
    }
    return { kind: "mismatch", reason: `the backup's ${BackupMetadata.etag} is ${held.etag ?? "missing"}, expected ${version.etag}` };
  }
  if ((held.snapshot ?? "") !== (version.snapshot ?? "")) {
    return { kind: "mismatch", reason: `the backup's ${BackupMetadata.snapshot} is ${held.snapshot ?? "empty"}, expected ${version.snapshot ?? "empty"}` };
  }
  if (p.contentLength !== version.contentLength) {
    return { kind: "mismatch", reason: `the backup has ${p.contentLength ?? "?"} bytes, the source ${version.contentLength}` };
  }
  let blocks = "";
  if (layout !== undefined) {
    const problem = await blockListProblem(backup, backupContainer, version, layout, p.etag);
    if (problem !== undefined) return { kind: "mismatch", reason: problem };
    blocks = `, ${layout.count} committed blocks of this version`;
  }
  if (version.contentMd5 === undefined) {
    return { kind: "verified", bytes: version.contentLength, note: `length and version${blocks} checked (the source has no Content-MD5)` };
  }
  let md5 = p.contentMD5 === undefined ? undefined : Buffer.from(p.contentMD5).toString("base64");
  let how = "Content-MD5 property";
  if (md5 === undefined) {
    if (version.contentLength > MAX_HASHED_BYTES) {
      return { kind: "verified", bytes: version.contentLength, note: `length and version${blocks} checked (no Content-MD5 on the backup; too large to hash)` };
    }
    md5 = await hashBlob(target, p.etag);
    how = "MD5 of the content";
  }
  if (md5 !== version.contentMd5) return { kind: "mismatch", reason: `the backup's ${how} ${md5} differs from the source's ${version.contentMd5}` };
  return { kind: "verified", bytes: version.contentLength, note: `length, version${blocks} and ${how} checked` };
}

/** Why the committed blocks are not exactly this version's layout, if they are not. */
async function blockListProblem(backup: BlobAccount, container: string, version: SourceVersion, layout: BlockLayout, etag: string | undefined): Promise<string | undefined> {
  const list = await blockBlobClient(containerClient(backup.service, container), version.blob).getBlockList("committed");
  // Get Block List takes no If-Match: a blob written between the two reads is read again by the activity's retry.
  if (list.etag !== undefined && list.etag !== etag) throw new Error("the backup blob changed during verification");
  const committed = list.committedBlocks ?? [];
  const ids = blockIds(version, layout);
  if (committed.length !== ids.length) return `the backup has ${committed.length} committed blocks, the copy in steps ${ids.length}`;
  const wrong = committed.findIndex((b, i) => b.name !== ids[i] || b.size !== blockRange(layout, version.contentLength, i).count);
  if (wrong >= 0) return `committed block ${wrong} is not the copy's block of this version (id or size differs)`;
  return undefined;
}

async function hashBlob(target: ReturnType<ReturnType<BlobAccount["service"]["getContainerClient"]>["getBlobClient"]>, etag: string | undefined): Promise<string> {
  const response = await target.download(0, undefined, etag === undefined ? {} : { conditions: { ifMatch: etag } });
  const hash = createHash("md5");
  const body = response.readableStreamBody;
  if (body === undefined) throw new Error("the backup blob download has no body");
  for await (const chunk of body) hash.update(chunk as Buffer);
  return hash.digest("base64");
}
