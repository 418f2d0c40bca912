/**
 * What the target already holds for a batch of names, without a request per blob: the target listing is read over
 * the same name range as the backup page (both are sorted by name, and the target prefix keeps that order), as
 * reconciliation joins the backup listing with the source. The cursor (the page the last batch ended in and the last
 * name consumed there) carries over to the next batch, so the whole restore reads the target listing about once.
 */
import type { ContainerClient } from "@azure/storage-blob";

import { compareBlobNames } from "../domain/backup-join";
import { canonicalEtag } from "../domain/etag";
import type { TargetBlob } from "../domain/restore";
import type { TargetCursor } from "../domain/restore-contracts";
import { blobClient } from "./addressed-clients";
import { listBlobsPage } from "./list-blobs-page";
import { isContainerNotFound } from "./list-source-page";
import { isNotFound } from "./rest-errors";

export interface TargetWindow {
  readonly blobs: ReadonlyMap<string, TargetBlob>;
  readonly cursor: TargetCursor;
  readonly listRequests: number;
}

async function readPage(
  container: ContainerClient,
  prefix: string | undefined,
  token: string | undefined,
  pageSize: number,
): Promise<{ items: { name: string; blob: TargetBlob }[]; token?: string } | "containerNotFound"> {
  try {
    const page = await listBlobsPage(container, { ...(prefix !== undefined && prefix !== "" && { prefix }), maxResults: pageSize, ...(token !== undefined && { marker: token }) });
    const next = page.nextMarker;
    return {
      items: page.items.map((b) => ({
        name: b.name,
        blob: {
          etag: canonicalEtag(b.properties.etag ?? ""),
          lastModified: b.properties.lastModified.toISOString(),
          contentLength: b.properties.contentLength ?? 0,
          ...(b.properties.contentMD5 !== undefined &&
            b.properties.contentMD5.length > 0 && { contentMd5: Buffer.from(b.properties.contentMD5).toString("base64") }),
        },
      })),
      ...(next !== undefined && { token: next }),
    };
  } catch (err) {
    if (isContainerNotFound(err)) return "containerNotFound";
    throw err;
  }
}

/**
 * Reads the target listing (under `prefix`) from `cursor` up to and including `windowEnd`, keeping the entries named in
 * `names`. A missing container holds nothing (a new target, or a dry run before it is created).
 */
export async function readTargetWindow(
  container: ContainerClient,
  prefix: string | undefined,
  cursor: TargetCursor,
  names: ReadonlySet<string>,
  windowEnd: string,
  pageSize: number,
): Promise<TargetWindow> {
  const blobs = new Map<string, TargetBlob>();
  if (cursor.end === true) return { blobs, cursor, listRequests: 0 };
  let token = cursor.token;
  let after = cursor.after;
  let listRequests = 0;
  for (;;) {
    const page = await readPage(container, prefix, token, pageSize);
    listRequests += 1;
    if (page === "containerNotFound") return { blobs, cursor: { end: true }, listRequests };
    for (const entry of page.items) {
      if (after !== undefined && compareBlobNames(entry.name, after) <= 0) continue;
      if (compareBlobNames(entry.name, windowEnd) > 0) {
        // The next batch starts inside this page: it reads the page again from the same token.
        return { blobs, cursor: { ...(token !== undefined && { token }), ...(after !== undefined && { after }) }, listRequests };
      }
      if (names.has(entry.name)) blobs.set(entry.name, entry.blob);
      after = entry.name;
    }
    if (page.token === undefined) return { blobs, cursor: { ...(after !== undefined && { after }), end: true }, listRequests };
    token = page.token;
  }
}

/** One name's target state by HEAD, for restores of a list of blobs (a few names, not a container). */
export async function readTargetBlob(container: ContainerClient, name: string): Promise<TargetBlob | undefined> {
  try {
    const p = await blobClient(container, name).getProperties();
    return {
      etag: p.etag ?? "",
      lastModified: (p.lastModified ?? new Date(0)).toISOString(),
      contentLength: p.contentLength ?? 0,
      ...(p.contentMD5 !== undefined && { contentMd5: Buffer.from(p.contentMD5).toString("base64") }),
    };
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}
