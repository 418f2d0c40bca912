/**
 * The backup side of a window of source names, shared by reconciliation's window and the container scan's page (when
 * it runs without snapshots, to tell which live versions are backed up already): reads the backup listing from a
 * cursor towards the window's last name, at most `maxPages` pages per call, and merge-joins it with the window's names
 * (src/domain/backup-join.ts). Holds one backup page and the window's matches; orphans (backup blobs whose source name
 * is gone) are counted, a few sampled, and handed page by page to `onNewOrphans` when their deletion is not recorded
 * yet — never collected. Cost: the backup listing, plus one re-read of the page a window ends in (none when the page
 * ends exactly where the window does, as in-sync pages do); no request per blob.
 */
import type { ContainerClient } from "@azure/storage-blob";

import { type BackupCursor, compareBlobNames, joinBackupPage } from "../domain/backup-join";
import type { HeldVersion } from "../domain/blob-backup";
import { canonicalEtag } from "../domain/etag";
import { needsDeletionRecord, type OrphanEntry } from "./deletion-record";
import { listBlobsPage } from "./list-blobs-page";
import { isContainerNotFound } from "./list-source-page";

/** Orphan names kept per call as samples; the count is always complete. */
const ORPHAN_SAMPLES = 20;
/** Backup pages one call reads at most (100,000 entries at the service's page size). */
export const DEFAULT_BACKUP_PAGES = 20;

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
  /** Where pages come from (a `BackupReadAhead`'s `read`); default: one listing request per page. */
  readonly read?: BackupPageReader;
}

type BackupItem = { name: string; etag: string; metadata?: Record<string, string> };
export type BackupPage = { items: BackupItem[]; token?: string } | "containerNotFound";
/** Reads the backup page that starts at `token` (undefined: the listing's first page). */
export type BackupPageReader = (token: string | undefined) => Promise<BackupPage>;

async function readBackupPage(
  container: ContainerClient,
  input: Pick<BackupJoinInput, "prefix" | "level" | "pageSize">,
  token: string | undefined,
): Promise<BackupPage> {
  try {
    const page = await listBlobsPage(container, {
      metadata: true,
      ...(input.level === true && { delimiter: "/" }),
      ...(input.prefix !== undefined && input.prefix !== "" && { prefix: input.prefix }),
      ...(token !== undefined && { marker: token }),
      maxResults: input.pageSize,
    });
    return {
      items: page.items.map((b) => ({ name: b.name, etag: b.properties.etag ?? "", ...(b.metadata !== undefined && { metadata: b.metadata }) })),
      ...(page.nextMarker !== undefined && { token: page.nextMarker }),
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
    const page = await (input.read ?? backupPageReader(container, input))(token);
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
    // The page ended with the window's last name: nothing later belongs to this window, and the next one starts with
    // the next page (without this, an in-sync window read one page beyond its end only to find that out).
    if (joined.endsAtWindowEnd) return { held, orphans, orphanSamples, cursor: at(), listRequests, caughtUp: true };
    if (listRequests >= input.maxPages) {
      return { held, orphans, orphanSamples, cursor: at(), listRequests, caughtUp: false, ...(after !== undefined && { through: after }) };
    }
  }
}

/** One listing request per page: what the join reads with, unless handed a `BackupReadAhead`'s `read`. */
export function backupPageReader(container: ContainerClient, input: Pick<BackupJoinInput, "prefix" | "level" | "pageSize">): BackupPageReader {
  return (token) => readBackupPage(container, input, token);
}

interface ReadAheadPage {
  readonly token: string | undefined;
  /** Dropped once the join has it: a page is held here only until it is used. */
  page?: Promise<BackupPage>;
  /** What the next read needs of a settled page: where the listing goes on (none: it ended), and the page's last name. */
  settled?: { readonly next?: string; readonly lastName?: string };
}

/**
 * Lists a window's backup pages while its source pages are still being listed, so that the two listings, which the
 * join needs both, are in flight together rather than one after the other (a window then takes about the longer of
 * the two listings, not their sum). It reads a page only where the join is sure to read it: the first page (any window
 * with names joins from its cursor), and each next one only while the last page read ends before the last source name
 * listed so far, or at it when the window lists more source pages — a page ending beyond it may be the window's last.
 * So nothing is read that a join without it would not read, except the first page when a window turns out to hold no
 * names yet, and a next page when the window's further source pages turn out empty (`unused` counts them). Memory:
 * it runs at most one page ahead of the source pages listed (a long run of orphans before the window's names is read
 * by the join itself, a page at a time), and lets go of each page as the join takes it.
 */
export class BackupReadAhead {
  readonly #pages: ReadAheadPage[] = [];
  readonly #readPage: BackupPageReader;
  readonly #maxPages: number;
  #sourceLast: string | undefined;
  #sourceMore = false;
  #sourcePages = 0;

  constructor(readPage: BackupPageReader, cursor: BackupCursor, maxPages: number) {
    this.#readPage = readPage;
    this.#maxPages = maxPages;
    if (cursor.ended !== true) this.#start(cursor.token);
  }

  /**
   * The window's source listing has listed one more page, which ends with `name`; `more`: the window lists another
   * page after it, so its last name lies beyond `name`.
   */
  sourceListed(name: string, more: boolean): void {
    this.#sourceLast = name;
    this.#sourceMore = more;
    this.#sourcePages += 1;
    this.#next();
  }

  /** For the join: the page read ahead from `token` if there is one, else a new request. */
  readonly read: BackupPageReader = (token) => {
    const ahead = this.#pages.find((p) => p.page !== undefined && p.token === token);
    if (ahead?.page === undefined) return this.#readPage(token);
    const page = ahead.page;
    delete ahead.page;
    return page;
  };

  /** Pages read ahead that the join did not use: requests made, and to be counted, all the same. */
  get unused(): number {
    return this.#pages.filter((p) => p.page !== undefined).length;
  }

  #start(token: string | undefined): void {
    const entry: ReadAheadPage = { token, page: this.#readPage(token) };
    this.#pages.push(entry);
    // A failure is the join's to report when it asks for this page; if it never does, the page was not needed.
    entry.page?.then(
      (page) => {
        entry.settled =
          page === "containerNotFound"
            ? {}
            : { ...(page.token !== undefined && { next: page.token }), ...(page.items.length > 0 && { lastName: page.items[page.items.length - 1]?.name }) };
        this.#next();
      },
      () => undefined,
    );
  }

  #next(): void {
    const last = this.#pages[this.#pages.length - 1]?.settled;
    if (last?.next === undefined || this.#sourceLast === undefined) return;
    // At most one page ahead of the source, and never beyond what one join may read.
    if (this.#pages.length > this.#sourcePages || this.#pages.length >= this.#maxPages) return;
    // A page ending where the source's listed names end is the window's last only if the window lists no more: in
    // sync, the two listings end their pages on the same names, and the next backup page is read while the host
    // parses the next source page rather than after it (Azurite would otherwise wait on the host once a page).
    const reach = last.lastName === undefined ? -1 : compareBlobNames(last.lastName, this.#sourceLast);
    if (reach > 0 || (reach === 0 && !this.#sourceMore)) return;
    this.#start(last.next);
  }
}
