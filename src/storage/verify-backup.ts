/**
 * Verification after a copy: the backup blob holds exactly the version we resolved — its recorded source ETag and
 * snapshot, its length, and its Content-MD5 when the source has one (hashed from the content when the backup blob
 * carries no MD5 property, as after a block-wise copy by ADF).
 */
import { createHash } from "node:crypto";

import type { BlobAccount } from "../config/clients";
import { BackupMetadata, compareWithHeld, heldVersion, type SourceVersion } from "../domain/blob-backup";
import type { VerifyBackupResult } from "../domain/blob-backup-activities";
import { blobIn } from "./addressed-clients";
import { isNotFound } from "./rest-errors";

/** Above this, an MD5 missing on the backup blob is not recomputed by download (the activity would run too long). */
export const MAX_HASHED_BYTES = 1024 * 1024 * 1024;

export async function verifyBackup(backup: BlobAccount, backupContainer: string, version: SourceVersion): Promise<VerifyBackupResult> {
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
  if (version.contentMd5 === undefined) return { kind: "verified", bytes: version.contentLength, note: "length and version checked (the source has no Content-MD5)" };
  let md5 = p.contentMD5 === undefined ? undefined : Buffer.from(p.contentMD5).toString("base64");
  let how = "Content-MD5 property";
  if (md5 === undefined) {
    if (version.contentLength > MAX_HASHED_BYTES) {
      return { kind: "verified", bytes: version.contentLength, note: "length and version checked (no Content-MD5 on the backup; too large to hash)" };
    }
    md5 = await hashBlob(target, p.etag);
    how = "MD5 of the content";
  }
  if (md5 !== version.contentMd5) return { kind: "mismatch", reason: `the backup's ${how} ${md5} differs from the source's ${version.contentMd5}` };
  return { kind: "verified", bytes: version.contentLength, note: `length, version and ${how} checked` };
}

async function hashBlob(target: ReturnType<ReturnType<BlobAccount["service"]["getContainerClient"]>["getBlobClient"]>, etag: string | undefined): Promise<string> {
  const response = await target.download(0, undefined, etag === undefined ? {} : { conditions: { ifMatch: etag } });
  const hash = createHash("md5");
  const body = response.readableStreamBody;
  if (body === undefined) throw new Error("the backup blob download has no body");
  for await (const chunk of body) hash.update(chunk as Buffer);
  return hash.digest("base64");
}
