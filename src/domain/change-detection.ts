/**
 * Change detection over one listing page (no I/O): group the entries of a page by blob name, then decide per blob
 * whether its live version is new, changed, unchanged, or must be skipped. The order of entries within a name is never
 * trusted (Azurite returns snapshots and the base blob in any order); snapshots are ordered by their id.
 */
import { isValidBlobName } from "./names";

/** One entry of `listBlobsFlat({ includeSnapshots: true, includeMetadata: true })`, reduced to what we decide on. */
export interface ListedEntry {
  readonly name: string;
  /** Present for a snapshot, absent for the base (live) blob. */
  readonly snapshot?: string;
  readonly etag: string;
  /** ISO 8601. */
  readonly lastModified: string;
  readonly contentLength: number;
  /** Base64, when the service knows it. */
  readonly contentMd5?: string;
  readonly accessTier?: string;
  /** ADLS Gen2 directory marker (metadata `hdi_isfolder=true`). */
  readonly isDirectory: boolean;
}

export interface NameGroup {
  readonly name: string;
  /** The live blob; absent when only snapshots were listed (the base was deleted with soft delete, or is mid-delete). */
  readonly base?: ListedEntry;
  /** Oldest first, by snapshot id. */
  readonly snapshots: readonly ListedEntry[];
}

export type SkipReason =
  | "directory"
  | "archived"
  | "noLiveBlob"
  | "changedSinceListing"
  | "deletedSinceListing"
  /** A name the backup cannot address safely (dot segments, control characters, too long: names.ts). */
  | "unsafeName"
  /** A backup request that failed its schema; the rest of the page was still requested. */
  | "invalidRequest";

export const SKIP_REASONS: readonly SkipReason[] = [
  "directory",
  "archived",
  "noLiveBlob",
  "changedSinceListing",
  "deletedSinceListing",
  "unsafeName",
  "invalidRequest",
];

export type Classification =
  | { readonly kind: "new" }
  | { readonly kind: "changed"; readonly previousSnapshot: string }
  | {
      readonly kind: "unchanged";
      readonly snapshot: string;
      /** The newest snapshot is not older than the scan's start: an earlier attempt of this scan took it. */
      readonly takenThisScan: boolean;
    }
  | { readonly kind: "skipped"; readonly reason: SkipReason };

/**
 * Snapshot ids are UTC timestamps with up to seven fractional digits; Azure always writes seven, but pad so that two
 * ids written differently still compare by time.
 */
export function snapshotSortKey(id: string): string {
  const match = /^(.*?T\d{2}:\d{2}:\d{2})(?:\.(\d{1,7}))?Z$/.exec(id);
  if (!match) return id;
  return `${match[1] ?? ""}.${(match[2] ?? "").padEnd(7, "0")}Z`;
}

export function compareSnapshotIds(a: string, b: string): number {
  const ka = snapshotSortKey(a);
  const kb = snapshotSortKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** Groups a page by name, keeping the names in listing order (the service lists names sorted). */
export function groupByName(entries: readonly ListedEntry[]): NameGroup[] {
  const groups = new Map<string, { base?: ListedEntry; snapshots: ListedEntry[] }>();
  for (const entry of entries) {
    let group = groups.get(entry.name);
    if (group === undefined) {
      group = { snapshots: [] };
      groups.set(entry.name, group);
    }
    if (entry.snapshot === undefined) group.base = entry;
    else group.snapshots.push(entry);
  }
  return [...groups].map(([name, g]) => ({
    name,
    ...(g.base !== undefined && { base: g.base }),
    snapshots: [...g.snapshots].sort((x, y) => compareSnapshotIds(x.snapshot ?? "", y.snapshot ?? "")),
  }));
}

/**
 * Decides what the live version of one blob needs. A snapshot carries the base blob's ETag at snapshot time, so the
 * live blob is unchanged exactly when its ETag equals the newest snapshot's.
 *
 * `scanStartedAt` (ISO) marks snapshots taken by this scan: when an activity is re-run after it snapshotted a blob but
 * before its backup request was recorded, the blob now looks unchanged, and `takenThisScan` lets the caller request
 * its backup again instead of losing it.
 */
export function classify(group: NameGroup, scanStartedAt?: string): Classification {
  // Never snapshotted or requested: a client built from such a name would address another blob (or container).
  if (!isValidBlobName(group.name)) return { kind: "skipped", reason: "unsafeName" };
  const base = group.base;
  if (base === undefined) return { kind: "skipped", reason: "noLiveBlob" };
  if (base.isDirectory) return { kind: "skipped", reason: "directory" };
  if (base.accessTier?.toLowerCase() === "archive") return { kind: "skipped", reason: "archived" };
  const newest = group.snapshots[group.snapshots.length - 1];
  if (newest?.snapshot === undefined) return { kind: "new" };
  if (newest.etag !== base.etag) return { kind: "changed", previousSnapshot: newest.snapshot };
  const takenThisScan =
    scanStartedAt !== undefined && compareSnapshotIds(newest.snapshot, scanStartedAt) >= 0;
  return { kind: "unchanged", snapshot: newest.snapshot, takenThisScan };
}

/** True for metadata that marks an ADLS Gen2 directory (keys are case-insensitive; values "true" in any case). */
export function isDirectoryMarker(metadata: Readonly<Record<string, string>> | undefined): boolean {
  if (metadata === undefined) return false;
  return Object.entries(metadata).some(([k, v]) => k.toLowerCase() === "hdi_isfolder" && v.toLowerCase() === "true");
}
