/** Resolves a backup request to the exact source version it names: its snapshot, or the live blob pinned by ETag. */
import type { BlobAccount } from "../config/clients";
import type { BackupRequest } from "../domain/backup-request";
import type { SourceVersion, SourceVersionWithMetadata } from "../domain/blob-backup";
import { blobIn } from "./addressed-clients";
import { isNotFound } from "./rest-errors";

export type Resolution =
  | { readonly kind: "ready"; readonly version: SourceVersion; readonly metadata: Readonly<Record<string, string>> }
  | { readonly kind: "skipped"; readonly reason: string };

export async function resolveSourceVersion(source: BlobAccount, request: BackupRequest): Promise<Resolution> {
  const base = blobIn(source.service, request.container, request.blob);
  const client = request.snapshot === undefined ? base : base.withSnapshot(request.snapshot);
  let p;
  try {
    p = await client.getProperties();
  } catch (err) {
    if (!isNotFound(err)) throw err;
    return {
      kind: "skipped",
      reason:
        request.snapshot === undefined
          ? "the source blob no longer exists"
          : `the source snapshot ${request.snapshot} no longer exists`,
    };
  }
  if (p.etag !== request.etag) {
    // A snapshot carries the base blob's ETag at snapshot time, so a mismatch there means the message is inconsistent.
    return {
      kind: "skipped",
      reason:
        request.snapshot === undefined
          ? "stale: the live blob changed since the request was made (a newer request exists)"
          : `the snapshot's ETag ${p.etag ?? "?"} differs from the request's ${request.etag}`,
    };
  }
  if (p.lastModified === undefined || p.contentLength === undefined) throw new Error("the source blob has no last-modified time or length");
  return {
    kind: "ready",
    version: {
      account: source.accountName,
      container: request.container,
      blob: request.blob,
      ...(request.snapshot !== undefined && { snapshot: request.snapshot }),
      etag: request.etag,
      lastModified: p.lastModified.toISOString(),
      contentLength: p.contentLength,
      ...(p.contentType !== undefined && { contentType: p.contentType }),
      ...(p.contentMD5 !== undefined && { contentMd5: Buffer.from(p.contentMD5).toString("base64") }),
    },
    metadata: p.metadata ?? {},
  };
}

/**
 * The source's own metadata, read where the backup is written (it stays out of the orchestration's history): from the
 * snapshot, or from the live blob while it still has the version's ETag (metadata is part of what an ETag covers).
 */
export async function withSourceMetadata(
  source: BlobAccount,
  version: SourceVersion,
): Promise<{ readonly kind: "ready"; readonly version: SourceVersionWithMetadata } | { readonly kind: "skipped"; readonly reason: string }> {
  const base = blobIn(source.service, version.container, version.blob);
  let p;
  try {
    p = await (version.snapshot === undefined ? base : base.withSnapshot(version.snapshot)).getProperties();
  } catch (err) {
    if (!isNotFound(err)) throw err;
    return { kind: "skipped", reason: version.snapshot === undefined ? "the source blob no longer exists" : `the source snapshot ${version.snapshot} no longer exists` };
  }
  if (p.etag !== version.etag) return { kind: "skipped", reason: "stale: the source blob changed during the copy (a newer request exists)" };
  return { kind: "ready", version: { ...version, metadata: p.metadata ?? {} } };
}
