/**
 * The backup side of a window of source names, shared by reconciliation's window and the container scan's page (when
 * it runs without snapshots, to tell which live versions are backed up already): reads the backup listing from a
 * cursor through the window's last name and merge-joins it with the window's names (src/domain/backup-join.ts),
 * collecting the versions the backup holds, the orphans (backup blobs whose source name is gone) and those orphans whose
 * deletion is not recorded yet. Cost: the backup listing, plus one re-read of the page a window ends in; no request per
 * blob. Memory: one backup page and the window's results.
 */
import type { ContainerClient } from "@azure/storage-blob";

import { type BackupCursor, compareBlobNames, joinBackupPage } from "../domain/backup-join";
import type { HeldVersion } from "../domain/blob-backup";
import { canonicalEtag } from "../domain/etag";
import { needsDeletionRecord, type OrphanEntry } from "./deletion-record";
import { isContainerNotFound } from "./list-source-page";

export interface BackupWindow {
  readonly held: Map<string, HeldVersion>;
  readonly orphans: string[];
  readonly newOrphans: OrphanEntry[];
  readonly cursor: BackupCursor;
  readonly listRequests: number;
}

async function readBackupPage(
  container: ContainerClient,
  prefix: string | undefined,
  token: string | undefined,
  pageSize: number,
): Promise<{ items: { name: string; etag: string; metadata?: Record<string, string> }[]; token?: string } | "containerNotFound"> {
  try {
    const pages = container
      .listBlobsFlat({ includeMetadata: true, ...(prefix !== undefined && prefix !== "" && { prefix }) })
      .byPage({ maxPageSize: pageSize, ...(token !== undefined && { continuationToken: token }) });
    const first = await pages.next();
    if (first.done === true) return { items: [] };
    const value = first.value;
    const next = value.continuationToken;
    return {
      items: value.segment.blobItems.map((b) => ({ name: b.name, etag: b.properties.etag ?? "", ...(b.metadata !== undefined && { metadata: b.metadata }) })),
      ...(next !== undefined && next !== "" && { token: next }),
    };
  } catch (err) {
    if (isContainerNotFound(err)) return "containerNotFound";
    throw err;
  }
}

/** The page's orphans whose backup blob does not record the deletion yet, with the ETag and metadata listed. */
function newlySeen(items: readonly { name: string; etag: string; metadata?: Record<string, string> }[], orphans: readonly string[]): OrphanEntry[] {
  if (orphans.length === 0) return [];
  const names = new Set(orphans);
  return items
    .filter((i) => names.has(i.name) && needsDeletionRecord(i.metadata))
    .map((i) => ({ name: i.name, etag: canonicalEtag(i.etag), metadata: i.metadata ?? {} }));
}

/** Reads the backup listing from `cursor` through `windowEnd` (undefined: to the end), joining it with `sourceNames`. */
export async function joinBackupWindow(
  container: ContainerClient,
  prefix: string | undefined,
  cursor: BackupCursor,
  sourceNames: ReadonlySet<string>,
  windowEnd: string | undefined,
  pageSize: number,
): Promise<BackupWindow> {
  const held = new Map<string, HeldVersion>();
  const orphans: string[] = [];
  const newOrphans: OrphanEntry[] = [];
  let token = cursor.token;
  let after = cursor.after;
  let listRequests = 0;
  for (;;) {
    const page = await readBackupPage(container, prefix, token, pageSize);
    listRequests += 1;
    // No backup container yet: nothing is backed up, and the backup orchestrations will create it.
    if (page === "containerNotFound") return { held, orphans, newOrphans, cursor: {}, listRequests };
    const joined = joinBackupPage(page.items, sourceNames, after, windowEnd);
    for (const [name, version] of joined.held) held.set(name, version);
    orphans.push(...joined.orphans);
    newOrphans.push(...newlySeen(page.items, joined.orphans));
    const lastConsumed = joined.consumed > 0 ? page.items[joined.consumed - 1]?.name : undefined;
    if (lastConsumed !== undefined && (after === undefined || compareBlobNames(lastConsumed, after) > 0)) after = lastConsumed;
    if (joined.reachedEnd) {
      // The next window starts inside this page: it reads the page again from the same token.
      return { held, orphans, newOrphans, cursor: { ...(token !== undefined && { token }), ...(after !== undefined && { after }) }, listRequests };
    }
    if (page.token === undefined) {
      return { held, orphans, newOrphans, cursor: { ...(after !== undefined && { after }) }, listRequests };
    }
    token = page.token;
  }
}
