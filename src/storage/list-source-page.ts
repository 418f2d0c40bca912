/**
 * Lists ONE page of a container with snapshots and metadata, so that every blob name in the result carries all of its
 * entries (base blob and snapshots), whatever the page boundaries.
 *
 * Why: a name's entries can straddle a page boundary — in Azure the next page simply continues, but Azurite's
 * continuation token is the last blob *name*, so the rest of that name's entries are never listed. So the last name of
 * a page that has a successor is re-listed on its own (prefix = that name, exact matches only) and handed back as
 * `skipName`: the next call drops any entries of that name that the service still returns at the start of its page.
 *
 * The scan takes the entries reduced to what change detection needs (`listSourcePage`); restore lists the backup
 * container the same way and keeps the SDK items (`listCompletePage`), whose metadata carries each version's record.
 */
import { type BlobItem, type ContainerClient, RestError } from "@azure/storage-blob";

import { compareBlobNames } from "../domain/backup-join";
import { isDirectoryMarker, type ListedEntry } from "../domain/change-detection";
import { canonicalEtag } from "../domain/etag";
import { mapBounded } from "../domain/map-bounded";
import { listBlobsPage } from "./list-blobs-page";

/** What a listing includes besides the base blobs: snapshots unless told not to, blob versions when asked (versioned accounts). */
export interface ListInclude {
  readonly versions?: boolean;
  /**
   * false: live blobs only, one entry per name (reconciliation reads a name's snapshots only when the backup does not
   * hold its current version). Default true.
   */
  readonly snapshots?: boolean;
}

export interface ListPageInput {
  readonly prefix?: string;
  /**
   * Only the names directly under `prefix` (no `/` after it): a hierarchical listing, whose directories are left to
   * ranges of their own (src/domain/listing-ranges.ts).
   */
  readonly level?: boolean;
  readonly continuationToken?: string;
  /**
   * The name completed by the previous call: entries of it and of names before it are dropped from this page (a
   * continuing page starts at or after it; a caller that re-reads a page from its token skips what it has done).
   */
  readonly skipName?: string;
  /** Entries per listing page (the service caps it at 5,000). */
  readonly pageSize?: number;
}

export type ListPageResult =
  | { readonly kind: "containerNotFound" }
  | {
      readonly kind: "page";
      /** Every entry of every name in this page (a name is never split between two results). */
      readonly entries: readonly ListedEntry[];
      /** Absent on the last page. */
      readonly continuationToken?: string;
      readonly skipName?: string;
      /** Listing requests made (for the benchmark and the report). */
      readonly listRequests: number;
    };

/** First try to finish a name with a small page: usually the name has only a handful of snapshots. */
const RELIST_SMALL = 100;
const RELIST_LARGE = 5000;

export function toListedEntry(item: BlobItem): ListedEntry {
  const p = item.properties;
  return {
    name: item.name,
    ...(item.snapshot !== undefined && item.snapshot !== "" && { snapshot: item.snapshot }),
    // Listings give bare ETags; the rest of the app uses the quoted header form.
    etag: canonicalEtag(p.etag ?? ""),
    lastModified: p.lastModified.toISOString(),
    contentLength: p.contentLength ?? 0,
    ...(p.contentMD5 !== undefined && p.contentMD5.length > 0 && { contentMd5: Buffer.from(p.contentMD5).toString("base64") }),
    ...(p.accessTier !== undefined && { accessTier: p.accessTier }),
    isDirectory: isDirectoryMarker(item.metadata),
  };
}

export function isContainerNotFound(err: unknown): boolean {
  return err instanceof RestError && err.statusCode === 404 && (err.code === "ContainerNotFound" || err.code === undefined);
}

async function firstPage(
  container: ContainerClient,
  prefix: string | undefined,
  continuationToken: string | undefined,
  maxPageSize: number,
  include: ListInclude,
): Promise<{ items: BlobItem[]; token?: string }> {
  const page = await listBlobsPage(container, {
    metadata: true,
    snapshots: include.snapshots !== false,
    versions: include.versions === true,
    ...(prefix !== undefined && prefix !== "" && { prefix }),
    ...(continuationToken !== undefined && { marker: continuationToken }),
    maxResults: maxPageSize,
  });
  return { items: page.items, ...(page.nextMarker !== undefined && { token: page.nextMarker }) };
}

/** Names listed at once, each with its own request, for one page of a level (see levelPage). */
const LEVEL_CONCURRENCY = 16;

/**
 * One page of the names directly under `prefix`, every entry of each. Azure refuses snapshots and versions in a
 * hierarchical listing (Azurite does not), so the page's names come from a hierarchical listing without them, and
 * each name's entries from a flat listing of exactly that name: one request per name, which is why a container whose
 * root holds many names is not split (src/activities/plan-listing-ranges.ts). A hierarchical page holds blobs and
 * directory prefixes; the prefixes are ranges of their own.
 */
async function levelPage(
  container: ContainerClient,
  prefix: string | undefined,
  continuationToken: string | undefined,
  maxPageSize: number,
  include: ListInclude,
  done: string | undefined,
): Promise<{ items: BlobItem[]; token?: string; requests: number }> {
  const page = await listBlobsPage(container, {
    delimiter: "/",
    ...(prefix !== undefined && prefix !== "" && { prefix }),
    ...(continuationToken !== undefined && { marker: continuationToken }),
    maxResults: maxPageSize,
  });
  const token = page.nextMarker;
  // Names a caller has done already (skipName) are not read again.
  const names = page.items.map((b) => b.name).filter((name) => done === undefined || compareBlobNames(name, done) > 0);
  const entries = await mapBounded(names, LEVEL_CONCURRENCY, (name) => listNameEntries(container, name, include));
  return {
    items: entries.flatMap((e) => e.items),
    ...(token !== undefined && { token }),
    requests: 1 + entries.reduce((sum, e) => sum + e.requests, 0),
  };
}

/** All entries of exactly `name` (names it is a prefix of are listed after it, so reading stops at the first one). */
export async function listNameEntries(
  container: ContainerClient,
  name: string,
  include: ListInclude = {},
): Promise<{ items: BlobItem[]; requests: number }> {
  for (const size of [RELIST_SMALL, RELIST_LARGE]) {
    const page = await firstPage(container, name, undefined, size, include);
    const exact = page.items.filter((i) => i.name === name);
    if (page.token === undefined || exact.length < page.items.length) {
      return { items: exact, requests: size === RELIST_SMALL ? 1 : 2 };
    }
  }
  // More than 5,000 entries of one name: read on. (Azurite loses entries here; Azure does not.)
  const items: BlobItem[] = [];
  let requests = 2;
  let marker: string | undefined;
  do {
    const page = await listBlobsPage(container, { metadata: true, snapshots: true, versions: include.versions === true, prefix: name, maxResults: RELIST_LARGE, ...(marker !== undefined && { marker }) });
    requests += 1;
    items.push(...page.items.filter((i) => i.name === name));
    if (page.items.some((i) => i.name !== name)) break;
    marker = page.nextMarker;
  } while (marker !== undefined);
  return { items, requests };
}

export type CompletePageResult =
  | { readonly kind: "containerNotFound" }
  | {
      readonly kind: "page";
      /** Every entry of every name in this page, as the SDK lists it (metadata included). */
      readonly items: readonly BlobItem[];
      readonly continuationToken?: string;
      readonly skipName?: string;
      readonly listRequests: number;
    };

/** One page whose names are complete (see the top of this file); the raw SDK items, for callers that need metadata. */
export async function listCompletePage(container: ContainerClient, input: ListPageInput, include: ListInclude = {}): Promise<CompletePageResult> {
  let page: { items: BlobItem[]; token?: string; requests?: number };
  try {
    const pageSize = input.pageSize ?? 5000;
    page =
      input.level === true
        ? await levelPage(container, input.prefix, input.continuationToken, pageSize, include, input.skipName)
        : await firstPage(container, input.prefix, input.continuationToken, pageSize, include);
  } catch (err) {
    if (isContainerNotFound(err)) return { kind: "containerNotFound" };
    throw err;
  }
  let listRequests = page.requests ?? 1;
  const done = input.skipName;
  let items = done === undefined ? page.items : page.items.filter((i) => compareBlobNames(i.name, done) > 0);
  let skipName = input.skipName;
  const last = page.items[page.items.length - 1]?.name;
  if (page.token !== undefined && last !== undefined && (done === undefined || compareBlobNames(last, done) > 0)) {
    // A level page read each name whole already, and a name listed without snapshots or versions has one entry.
    if (input.level !== true && (include.snapshots !== false || include.versions === true)) {
      const relisted = await listNameEntries(container, last, include);
      listRequests += relisted.requests;
      items = [...items.filter((i) => i.name !== last), ...relisted.items];
    }
    skipName = last;
  }
  return {
    kind: "page",
    items,
    ...(page.token !== undefined && { continuationToken: page.token }),
    ...(page.token !== undefined && skipName !== undefined && { skipName }),
    listRequests,
  };
}

export async function listSourcePage(container: ContainerClient, input: ListPageInput, include: ListInclude = {}): Promise<ListPageResult> {
  const page = await listCompletePage(container, input, include);
  if (page.kind === "containerNotFound") return page;
  return {
    kind: "page",
    entries: page.items.map(toListedEntry),
    ...(page.continuationToken !== undefined && { continuationToken: page.continuationToken }),
    ...(page.skipName !== undefined && { skipName: page.skipName }),
    listRequests: page.listRequests,
  };
}
