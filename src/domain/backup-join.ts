/**
 * The merge-join of reconciliation (no I/O): the source listing and the backup listing are both sorted by name, so one
 * pass over each tells, for every source blob, whether the backup holds its latest version — without a request per
 * blob. A window of source names is joined with the backup entries that fall inside it; backup entries beyond the
 * window are left for the next one.
 */
import { z } from "zod";

import { type HeldVersion, heldVersion } from "./blob-backup";
import { sameEtag } from "./etag";

/**
 * The order in which the Blob service lists names: by UTF-16 code units, which is JavaScript's string comparison.
 * The docs say only "alphabetical order, upper-case letters first"; a test that wrote a blob for every Unicode
 * character found Azure's order to be UTF-16 big-endian (blobfile/blobfile#238), not UTF-8 bytes — the two differ only
 * for characters beyond U+FFFF against U+E000–U+FFFF. Azurite sorts with JavaScript's comparison too (proven with
 * such names at page and range edges in test/integration/listing-ranges.test.ts). Were a service to order otherwise,
 * the join would degrade safely: a blob reported missing and requested again (the backup then finds it holds that
 * version), and its backup counted as an orphan.
 */
export function compareBlobNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Where a backup listing resumes: the token of the page to read next (the page the last window ended in, read again),
 * the last name consumed, and whether the listing has been read to its end (then nothing is read again).
 */
export const backupCursorSchema = z.strictObject({ token: z.string().optional(), after: z.string().optional(), ended: z.literal(true).optional() });
export type BackupCursor = z.infer<typeof backupCursorSchema>;

export interface BackupEntry {
  readonly name: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface WindowJoin {
  /** What the backup holds for each source name of the window that has a backup blob. */
  readonly held: ReadonlyMap<string, HeldVersion>;
  /** Backup names inside the window without a source blob. */
  readonly orphans: readonly string[];
  /** Entries of this page consumed: all of them, or the index of the first entry beyond the window. */
  readonly consumed: number;
  /** True when an entry beyond the window was reached: reading further would leave the window. */
  readonly reachedEnd: boolean;
  /**
   * The page's last entry is the window's last name. A listing of live blobs has one entry per name, sorted, so every
   * later entry lies beyond the window: the window is done without reading the next page (which is where the next
   * window starts). This is the in-sync case, where backup pages end where source pages do.
   */
  readonly endsAtWindowEnd: boolean;
}

/**
 * Consumes one backup listing page for the window `(after, windowEnd]` (`windowEnd` undefined: to the end of the
 * container). Entries up to and including `after` were consumed by an earlier window: they are dropped (the page is
 * re-read from its token when a window ended inside it).
 */
export function joinBackupPage(
  page: readonly BackupEntry[],
  sourceNames: ReadonlySet<string>,
  after: string | undefined,
  windowEnd: string | undefined,
): WindowJoin {
  const held = new Map<string, HeldVersion>();
  const orphans: string[] = [];
  for (let i = 0; i < page.length; i += 1) {
    const entry = page[i] as BackupEntry;
    if (after !== undefined && compareBlobNames(entry.name, after) <= 0) continue;
    if (windowEnd !== undefined && compareBlobNames(entry.name, windowEnd) > 0) {
      return { held, orphans, consumed: i, reachedEnd: true, endsAtWindowEnd: false };
    }
    if (sourceNames.has(entry.name)) held.set(entry.name, heldVersion(entry.metadata));
    else orphans.push(entry.name);
  }
  const last = page[page.length - 1];
  const endsAtWindowEnd = windowEnd !== undefined && last !== undefined && compareBlobNames(last.name, windowEnd) === 0;
  return { held, orphans, consumed: page.length, reachedEnd: false, endsAtWindowEnd };
}

export type BackupState = "inSync" | "missing" | "outdated";

/** A source blob is in sync when its backup records exactly the source's current ETag. */
export function backupState(sourceEtag: string, held: HeldVersion | undefined): BackupState {
  if (held === undefined) return "missing";
  return sameEtag(held.etag, sourceEtag) ? "inSync" : "outdated";
}
