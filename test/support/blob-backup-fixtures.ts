/** Source blobs, snapshots and backup requests for the blob backup tests. */
import type { ContainerClient } from "@azure/storage-blob";

import { type BackupRequest } from "../../src/domain/backup-request";

export interface Version {
  readonly etag: string;
  readonly lastModified: string;
  readonly snapshot?: string;
  readonly contentLength: number;
}

/** Uploads (or overwrites) a blob and snapshots it, as the container scan would; returns the snapshot's version. */
export async function writeAndSnapshot(container: ContainerClient, name: string, content: string | Buffer, metadata: Record<string, string> = {}): Promise<Version> {
  const blob = container.getBlockBlobClient(name);
  const data = typeof content === "string" ? Buffer.from(content) : content;
  await blob.uploadData(data, { metadata, blobHTTPHeaders: { blobContentType: "text/plain" } });
  const snap = await blob.createSnapshot();
  const p = await blob.withSnapshot(snap.snapshot ?? "").getProperties();
  return { etag: p.etag ?? "", lastModified: (p.lastModified ?? new Date()).toISOString(), snapshot: snap.snapshot ?? "", contentLength: data.length };
}

/** Uploads a blob without a snapshot (a live, ETag-pinned request). */
export async function writeLive(container: ContainerClient, name: string, content: string): Promise<Version> {
  const blob = container.getBlockBlobClient(name);
  const r = await blob.uploadData(Buffer.from(content));
  return { etag: r.etag ?? "", lastModified: (r.lastModified ?? new Date()).toISOString(), contentLength: Buffer.byteLength(content) };
}

export function requestFor(account: string, container: string, blob: string, v: Version): BackupRequest {
  return {
    v: 1,
    account,
    container,
    blob,
    etag: v.etag,
    ...(v.snapshot !== undefined && { snapshot: v.snapshot }),
    lastModified: v.lastModified,
    contentLength: v.contentLength,
    reason: "producer",
    requestedAt: new Date().toISOString(),
  };
}
