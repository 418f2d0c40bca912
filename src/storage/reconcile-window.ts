/**
 * One reconciliation window of a container (or of one listing range of it): a few source pages listed, merge-joined
 * with the backup listing over the same names, and the source blobs the join covered processed exactly as the
 * container scan processes them (classified, new and changed blobs snapshotted).
 * Cost: the two listings (plus, per window, one re-read of the backup page the window ended in); no request per blob.
 * The backup pages are listed while the source pages are (`BackupReadAhead`), so a window waits for the longer of the
 * two listings rather than their sum; and a window that joined all its names asks for the next window's first pages
 * before it finishes (`./page-prefetch.ts`), so the listings go on between windows too.
 * Memory: the window's source entries and its backup pages read ahead (at most one more than the source pages listed,
 * each let go as the join takes it), then one backup page at a time. The backup side reads at most `backupPages` pages per call:
 * when a long run of backup names without a source (a partition the lake deleted) does not fit, the call joins the
 * source names up to where it got and the next call resumes both listings there. Orphans are counted, a few kept as
 * samples, and their deletion records written page by page — never collected.
 */
import type { ContainerClient } from "@azure/storage-blob";

import { type BackupCursor, type BackupState, backupState, compareBlobNames } from "../domain/backup-join";
import type { HeldVersion } from "../domain/blob-backup";
import { classify, type ListedEntry } from "../domain/change-detection";
import { directoriesCovered } from "../domain/listing-ranges";
import { mapBounded } from "../domain/map-bounded";
import type { OrphanEntry } from "./deletion-record";
import { type BackupPage, type BackupPageReader, backupPageReader, BackupReadAhead, type BackupWindow, DEFAULT_BACKUP_PAGES, joinBackupWindow } from "./join-backup-window";
import { listNameEntries, type ListPageResult, listSourcePage, toListedEntry } from "./list-source-page";
import { pageKey, PagePrefetch } from "./page-prefetch";
import { processListedEntries, type ProcessPageInput, type SnapshotOfPage, type SourceBlobVersion } from "./process-source-page";

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
      /** Top-level directories under the prefix that the window's names covered wholly (see `directoriesCovered`). */
      readonly directoriesCovered: number;
    };

/** Next windows' first pages, held in this process (a few, briefly: see ./page-prefetch.ts). */
const PREFETCH_PAGES = 32;
const PREFETCH_TTL_MS = 30_000;
const sourcePrefetch = new PagePrefetch<ListPageResult>(PREFETCH_PAGES, PREFETCH_TTL_MS);
const backupPrefetch = new PagePrefetch<BackupPage>(PREFETCH_PAGES, PREFETCH_TTL_MS);

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
  const backupListing = {
    ...(input.prefix !== undefined && { prefix: input.prefix }),
    ...(input.level === true && { level: true }),
    cursor: input.backup,
    pageSize: input.pageSize ?? 5000,
    maxPages: input.backupPages ?? DEFAULT_BACKUP_PAGES,
  };
  const sourceKey = (at: SourceCursor): string =>
    pageKey(source.url, { side: "source", prefix: input.prefix, level: input.level, pageSize: input.pageSize, token: at.continuationToken, skipName: at.skipName });
  const backupKey = (token: string | undefined): string =>
    pageKey(backup.url, { side: "backup", prefix: input.prefix, level: input.level, pageSize: backupListing.pageSize, token });
  const listFrom = (at: SourceCursor): Promise<ListPageResult> =>
    listSourcePage(source, {
      ...(input.prefix !== undefined && { prefix: input.prefix }),
      ...(input.level === true && { level: true }),
      ...(input.pageSize !== undefined && { pageSize: input.pageSize }),
      ...(at.continuationToken !== undefined && { continuationToken: at.continuationToken }),
      ...(at.skipName !== undefined && { skipName: at.skipName }),
      // Live blobs only: an in-sync blob needs nothing else, and its snapshots would double the entries listed.
    }, { snapshots: false });
  // Pages an earlier window of this listing asked for ahead (see ./page-prefetch.ts); their requests are its to count.
  let backupPrefetched = 0;
  const readBackup = backupPageReader(backup, backupListing);
  const readBackupOrTake: BackupPageReader = async (token) => {
    const taken = await backupPrefetch.take(backupKey(token), () => readBackup(token));
    if (taken.prefetched) backupPrefetched += 1;
    return taken.value;
  };
  // The backup listing runs alongside the source's: the join needs both, and neither waits for the other's pages.
  const ahead = new BackupReadAhead(readBackupOrTake, backupListing.cursor, backupListing.maxPages);
  const pages: ListedPage[] = [];
  let cursor: SourceCursor = input.source;
  let sourceListRequests = 0;
  let sourceDone = false;
  for (let page = 0; page < input.sourcePages && !sourceDone; page += 1) {
    const from = cursor;
    const { value: listed, prefetched } = await sourcePrefetch.take(sourceKey(from), () => listFrom(from));
    if (listed.kind === "containerNotFound") return listed;
    pages.push({ start: cursor, entries: listed.entries });
    if (!prefetched) sourceListRequests += listed.listRequests;
    cursor = {
      ...(listed.continuationToken !== undefined && { continuationToken: listed.continuationToken }),
      ...(listed.skipName !== undefined && { skipName: listed.skipName }),
    };
    sourceDone = listed.continuationToken === undefined;
    const last = listed.entries[listed.entries.length - 1];
    if (last !== undefined) ahead.sourceListed(last.name, !sourceDone && page + 1 < input.sourcePages);
  }

  const sourceNames = new Set(pages.flatMap((p) => p.entries.map((e) => e.name)));
  // The last name listed, not the last page's: a listing may answer an empty page before it ends (Azure does), and
  // the window's names before it are joined all the same.
  const lastListed = pages.findLast((p) => p.entries.length > 0)?.entries.at(-1)?.name;
  const windowEnd = sourceDone ? undefined : lastListed;
  // A window with no names and more to come has nothing to join yet; the backup cursor stays where it is.
  const join: BackupWindow =
    !sourceDone && windowEnd === undefined
      ? { held: new Map<string, HeldVersion>(), orphans: 0, orphanSamples: [], cursor: input.backup, listRequests: 0, caughtUp: true }
      : await joinBackupWindow(backup, {
          ...backupListing,
          sourceNames,
          windowEnd,
          read: ahead.read,
          ...(input.onNewOrphans !== undefined && { onNewOrphans: input.onNewOrphans }),
        });

  // Joined through the window's end, the next window starts where both listings stopped: its first pages are asked
  // for now, listed while this window finishes (one request each, counted here). A level range's page is many
  // requests, and a window that did not catch up resumes from an earlier page: neither asks.
  let asked = 0;
  if (!sourceDone && join.caughtUp && input.level !== true) {
    const next = cursor;
    sourcePrefetch.ask(sourceKey(next), () => listFrom(next));
    sourceListRequests += 1;
    // Not the backup's first page (no token: the window ended inside it), which a later run would start with too.
    const token = join.cursor.token;
    if (join.cursor.ended !== true && token !== undefined) {
      backupPrefetch.ask(backupKey(token), () => readBackup(token));
      asked = 1;
    }
  }

  // The join covers every source name up to `through`; the rest is listed again, from its page, by the next window.
  let entries = pages.flatMap((p) => p.entries);
  let next: SourceCursor | undefined = sourceDone ? undefined : cursor;
  if (!join.caughtUp) {
    const through = join.through;
    const covered = (name: string): boolean => through !== undefined && compareBlobNames(name, through) <= 0;
    // Every name covered (the listing ended; the backup goes on): the last page is the one listed again.
    const resume = pages.find((p) => p.entries.some((e) => !covered(e.name))) ?? pages[pages.length - 1];
    entries = entries.filter((e) => covered(e.name));
    if (resume !== undefined) {
      const held = resume.start.skipName;
      const skipName = through !== undefined && (held === undefined || compareBlobNames(through, held) > 0) ? through : held;
      next = { ...(resume.start.continuationToken !== undefined && { continuationToken: resume.start.continuationToken }), ...(skipName !== undefined && { skipName }) };
    }
  }

  const covered = directoriesCovered(input.prefix ?? "", entries.map((e) => e.name));

  // The names the backup does not hold as listed are read whole (with their snapshots), one request each, to classify
  // them as the scan does and to snapshot or request them.
  const held = (name: string, etag: string): boolean => backupState(etag, join.held.get(name)) === "inSync";
  const toRead = entries.filter((e) => !held(e.name, e.etag) && classify({ name: e.name, base: e, snapshots: [] }, input.scanStartedAt).kind !== "skipped");
  const whole = new Map(
    await mapBounded(toRead, input.concurrency, async (e) => {
      const read = await listNameEntries(source, e.name);
      sourceListRequests += read.requests;
      return [e.name, read.items.map(toListedEntry)] as const;
    }),
  );
  entries = entries.flatMap((e) => whole.get(e.name) ?? [e]);

  const processed = await processListedEntries(
    source,
    entries,
    {
      backedUp: held,
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
    backupListRequests: join.listRequests + ahead.unused - backupPrefetched + asked,
    snapshotRequests: processed.snapshotRequests,
    ...(processed.snapshotsRefusedReason !== undefined && { snapshotsRefusedReason: processed.snapshotsRefusedReason }),
    directoriesCovered: covered,
  };
}
