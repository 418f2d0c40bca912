/**
 * One reconciliation window of a container (or of one listing range of it): a few source pages listed, merge-joined
 * with the backup listing over the same names, and the source blobs the join covered processed exactly as the
 * container scan processes them (classified, new and changed blobs snapshotted).
 * Cost: the two listings (plus, per window, one re-read of the backup page the window ended in); no request per blob.
 * Memory: the window's source entries and one backup page. The backup side reads at most `backupPages` pages per call:
 * when a long run of backup names without a source (a partition the lake deleted) does not fit, the call joins the
 * source names up to where it got and the next call resumes both listings there. Orphans are counted, a few kept as
 * samples, and their deletion records written page by page — never collected.
 */
import type { ContainerClient } from "@azure/storage-blob";

import { type BackupCursor, type BackupState, backupState, compareBlobNames, joinBackupPage } from "../domain/backup-join";
import type { HeldVersion } from "../domain/blob-backup";
import type { ListedEntry } from "../domain/change-detection";
import { canonicalEtag } from "../domain/etag";
import { needsDeletionRecord, type OrphanEntry } from "./deletion-record";
import { isContainerNotFound, listSourcePage } from "./list-source-page";
import { processListedEntries, type ProcessPageInput, type SnapshotOfPage, type SourceBlobVersion } from "./process-source-page";

/** Orphan names kept per call as samples; the count is always complete. */
const ORPHAN_SAMPLES = 20;
/** Backup pages one call reads at most (100,000 entries at the service's page size). */
export const DEFAULT_BACKUP_PAGES = 20;

export interface SourceCursor {
  readonly continuationToken?: string;
  readonly skipName?: string;
}

export interface ReconcileWindowInput extends Omit<ProcessPageInput, "continuationToken" | "skipName"> {
  readonly source: SourceCursor;
  readonly backup: BackupCursor;
  /** Source pages per window: more pages, fewer re-reads of a backup page. */
  readonly sourcePages: number;
  /** Backup pages per window at most (default DEFAULT_BACKUP_PAGES). */
  readonly backupPages?: number;
  /** Each backup page's orphans whose deletion is not recorded yet (not called in a dry run by the activity). */
  readonly onNewOrphans?: (orphans: readonly OrphanEntry[]) => Promise<void>;
}

export interface ReconciledBlob extends SourceBlobVersion {
  /** Absent for skipped blobs. */
  readonly backup?: BackupState;
}

export type ReconcileWindowResult =
  | { readonly kind: "containerNotFound" }
  | { readonly kind: "snapshotsRefused"; readonly reason: string }
  | {
      readonly kind: "window";
      readonly blobs: readonly ReconciledBlob[];
      readonly orphans: number;
      readonly orphanSamples: readonly string[];
      /** Absent when the source listing is complete. */
      readonly source?: SourceCursor;
      readonly backup: BackupCursor;
      readonly done: boolean;
      readonly sourceListRequests: number;
      readonly backupListRequests: number;
      readonly snapshotRequests: number;
      readonly snapshotsRefusedReason?: string;
    };

export interface BackupWindow {
  readonly held: Map<string, HeldVersion>;
  readonly orphans: number;
  readonly orphanSamples: string[];
  readonly cursor: BackupCursor;
  readonly listRequests: number;
  /** Every backup entry through the window's end was read. */
  readonly caughtUp: boolean;
  /** Not caught up: the last backup name consumed. Source names up to it are joined; the rest wait for the next call. */
  readonly through?: string;
}

export interface BackupJoinInput {
  readonly prefix?: string;
  readonly level?: boolean;
  readonly cursor: BackupCursor;
  readonly sourceNames: ReadonlySet<string>;
  /** The window's last source name; undefined: to the end of the listing. */
  readonly windowEnd: string | undefined;
  readonly pageSize: number;
  readonly maxPages: number;
  readonly onNewOrphans?: (orphans: readonly OrphanEntry[]) => Promise<void>;
}

type BackupItem = { name: string; etag: string; metadata?: Record<string, string> };

async function readBackupPage(
  container: ContainerClient,
  input: Pick<BackupJoinInput, "prefix" | "level" | "pageSize">,
  token: string | undefined,
): Promise<{ items: BackupItem[]; token?: string } | "containerNotFound"> {
  try {
    const options = { includeMetadata: true, ...(input.prefix !== undefined && input.prefix !== "" && { prefix: input.prefix }) };
    const byPage = { maxPageSize: input.pageSize, ...(token !== undefined && { continuationToken: token }) };
    const pages = input.level === true ? container.listBlobsByHierarchy("/", options).byPage(byPage) : container.listBlobsFlat(options).byPage(byPage);
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
function newlySeen(items: readonly BackupItem[], orphans: readonly string[]): OrphanEntry[] {
  if (orphans.length === 0) return [];
  const names = new Set(orphans);
  return items
    .filter((i) => names.has(i.name) && needsDeletionRecord(i.metadata))
    .map((i) => ({ name: i.name, etag: canonicalEtag(i.etag), metadata: i.metadata ?? {} }));
}

/**
 * Reads the backup listing from `cursor` towards `windowEnd`, at most `maxPages` pages, joining it with the window's
 * source names. Holds one page and the window's matches; orphans are counted and sampled.
 */
export async function joinBackupWindow(container: ContainerClient, input: BackupJoinInput): Promise<BackupWindow> {
  const held = new Map<string, HeldVersion>();
  const orphanSamples: string[] = [];
  let orphans = 0;
  let listRequests = 0;
  // The listing was read to its end by an earlier window: nothing beyond it is backed up.
  if (input.cursor.ended === true) return { held, orphans, orphanSamples, cursor: input.cursor, listRequests, caughtUp: true };
  let token = input.cursor.token;
  let after = input.cursor.after;
  const at = (): BackupCursor => ({ ...(token !== undefined && { token }), ...(after !== undefined && { after }) });
  for (;;) {
    const page = await readBackupPage(container, input, token);
    listRequests += 1;
    // No backup container yet: nothing is backed up, and the backup orchestrations will create it.
    if (page === "containerNotFound") return { held, orphans, orphanSamples, cursor: {}, listRequests, caughtUp: true };
    const joined = joinBackupPage(page.items, input.sourceNames, after, input.windowEnd);
    for (const [name, version] of joined.held) held.set(name, version);
    orphans += joined.orphans.length;
    orphanSamples.push(...joined.orphans.slice(0, ORPHAN_SAMPLES - orphanSamples.length));
    if (input.onNewOrphans !== undefined) {
      const fresh = newlySeen(page.items, joined.orphans);
      if (fresh.length > 0) await input.onNewOrphans(fresh);
    }
    const lastConsumed = joined.consumed > 0 ? page.items[joined.consumed - 1]?.name : undefined;
    if (lastConsumed !== undefined && (after === undefined || compareBlobNames(lastConsumed, after) > 0)) after = lastConsumed;
    // The next window starts inside this page: it reads the page again from the same token.
    if (joined.reachedEnd) return { held, orphans, orphanSamples, cursor: at(), listRequests, caughtUp: true };
    if (page.token === undefined) {
      return { held, orphans, orphanSamples, cursor: { ...(after !== undefined && { after }), ended: true }, listRequests, caughtUp: true };
    }
    token = page.token;
    if (listRequests >= input.maxPages) {
      return { held, orphans, orphanSamples, cursor: at(), listRequests, caughtUp: false, ...(after !== undefined && { through: after }) };
    }
  }
}

interface ListedPage {
  /** Where this page's listing started. */
  readonly start: SourceCursor;
  readonly entries: readonly ListedEntry[];
}

export async function reconcileWindow(
  source: ContainerClient,
  backup: ContainerClient,
  input: ReconcileWindowInput,
  snapshot: SnapshotOfPage,
): Promise<ReconcileWindowResult> {
  const pages: ListedPage[] = [];
  let cursor: SourceCursor = input.source;
  let sourceListRequests = 0;
  let sourceDone = false;
  for (let page = 0; page < input.sourcePages && !sourceDone; page += 1) {
    const listed = await listSourcePage(source, {
      ...(input.prefix !== undefined && { prefix: input.prefix }),
      ...(input.level === true && { level: true }),
      ...(input.pageSize !== undefined && { pageSize: input.pageSize }),
      ...(cursor.continuationToken !== undefined && { continuationToken: cursor.continuationToken }),
      ...(cursor.skipName !== undefined && { skipName: cursor.skipName }),
    });
    if (listed.kind === "containerNotFound") return listed;
    pages.push({ start: cursor, entries: listed.entries });
    sourceListRequests += listed.listRequests;
    cursor = {
      ...(listed.continuationToken !== undefined && { continuationToken: listed.continuationToken }),
      ...(listed.skipName !== undefined && { skipName: listed.skipName }),
    };
    sourceDone = listed.continuationToken === undefined;
  }

  const sourceNames = new Set(pages.flatMap((p) => p.entries.map((e) => e.name)));
  const lastPage = pages[pages.length - 1];
  const windowEnd = sourceDone ? undefined : lastPage?.entries[lastPage.entries.length - 1]?.name;
  // A window with no names and more to come has nothing to join yet; the backup cursor stays where it is.
  const join: BackupWindow =
    !sourceDone && windowEnd === undefined
      ? { held: new Map<string, HeldVersion>(), orphans: 0, orphanSamples: [], cursor: input.backup, listRequests: 0, caughtUp: true }
      : await joinBackupWindow(backup, {
          ...(input.prefix !== undefined && { prefix: input.prefix }),
          ...(input.level === true && { level: true }),
          cursor: input.backup,
          sourceNames,
          windowEnd,
          pageSize: input.pageSize ?? 5000,
          maxPages: input.backupPages ?? DEFAULT_BACKUP_PAGES,
          ...(input.onNewOrphans !== undefined && { onNewOrphans: input.onNewOrphans }),
        });

  // The join covers every source name up to `through`; the rest is listed again, from its page, by the next window.
  let entries = pages.flatMap((p) => p.entries);
  let next: SourceCursor | undefined = sourceDone ? undefined : cursor;
  if (!join.caughtUp) {
    const through = join.through;
    const covered = (name: string): boolean => through !== undefined && compareBlobNames(name, through) <= 0;
    const resume = pages.find((p) => p.entries.some((e) => !covered(e.name))) ?? pages[0];
    entries = entries.filter((e) => covered(e.name));
    if (resume !== undefined) {
      const held = resume.start.skipName;
      const skipName = through !== undefined && (held === undefined || compareBlobNames(through, held) > 0) ? through : held;
      next = { ...(resume.start.continuationToken !== undefined && { continuationToken: resume.start.continuationToken }), ...(skipName !== undefined && { skipName }) };
    }
  }

  const processed = await processListedEntries(
    source,
    entries,
    {
      snapshots: input.snapshots,
      snapshotsRefused: input.snapshotsRefused === true,
      dryRun: input.dryRun,
      concurrency: input.concurrency,
      ...(input.scanStartedAt !== undefined && { scanStartedAt: input.scanStartedAt }),
    },
    snapshot,
  );
  if (processed.kind === "snapshotsRefused") return processed;

  return {
    kind: "window",
    blobs: processed.blobs.map((b) => (b.outcome === "skipped" ? b : { ...b, backup: backupState(b.etag, join.held.get(b.name)) })),
    orphans: join.orphans,
    orphanSamples: join.orphanSamples,
    ...(next !== undefined && { source: next }),
    backup: join.cursor,
    done: next === undefined,
    sourceListRequests,
    backupListRequests: join.listRequests,
    snapshotRequests: processed.snapshotRequests,
    ...(processed.snapshotsRefusedReason !== undefined && { snapshotsRefusedReason: processed.snapshotsRefusedReason }),
  };
}
