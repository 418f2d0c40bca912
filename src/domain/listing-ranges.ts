/**
 * Name ranges of a container, listed in parallel (no I/O here). A range is either every name under a directory prefix
 * (a flat listing with that prefix) or the names directly under the root (a hierarchical listing with delimiter `/`,
 * whose directory entries are left out). The root's level plus one range per directory found under it, on either
 * side, partitions the names exactly: a name with no `/` after the root is in the level, any other in the directory
 * up to its first `/` — so `a`, `a/b` and `a0` land in three places that cannot overlap, and both listings of a range
 * hold the same names in the same order, which the merge-join needs. Prefixes, not start markers: Azure's
 * continuation markers are opaque, and List Blobs has no start-at-name parameter outside hierarchical-namespace
 * previews.
 */
import { z } from "zod";

import { compareBlobNames } from "./backup-join";

/** More directories than this are not split: one flat listing serves the container. */
export const MAX_RANGES = 256;

/**
 * More names directly under the root than this and the lake is not split: Azure lists no snapshots in a hierarchical
 * listing, so the root's own range reads each of its names with a request of its own (src/storage/list-source-page.ts).
 */
export const MAX_LEVEL_NAMES = 500;

export const listingRangeSchema = z.strictObject({
  /** Every range's names start with it; the root's (the request's prefix) may be "". */
  prefix: z.string().max(1024),
  /** Only the names directly under `prefix` (no further `/`). */
  level: z.literal(true).optional(),
});
export type ListingRange = z.infer<typeof listingRangeSchema>;

/** What one hierarchical page found directly under the root: its directories and how many blobs sit beside them. */
export interface TopLevel {
  readonly directories: readonly string[];
  readonly blobs: number;
}

/**
 * The ranges for a root prefix, given what a hierarchical listing found under it in the lake and in the backup (the
 * backup's too: a directory the lake deleted holds only orphans). Undefined: do not split — one listing is as good
 * (fewer than two directories, too many, a side whose top level did not fit one page, or a lake with more than
 * MAX_LEVEL_NAMES names at its root). The root's own level is a range only when either side has blobs there: listing
 * an empty level costs two hierarchical listings of the whole container. A blob written at the root after the plan is
 * then left to the next run, as one written into a range already listed is.
 */
export function planRanges(root: string, lake: TopLevel | undefined, backup: TopLevel | undefined): ListingRange[] | undefined {
  if (lake === undefined || backup === undefined) return undefined;
  const directories = [...new Set([...lake.directories, ...backup.directories])].filter((d) => d.startsWith(root) && d.length > root.length);
  if (directories.length < 2 || directories.length > MAX_RANGES) return undefined;
  directories.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const level: ListingRange[] = lake.blobs + backup.blobs > 0 ? [{ prefix: root, level: true }] : [];
  return [...level, ...directories.map((prefix) => ({ prefix }))];
}

/**
 * A container's ranges being run as sub-orchestrations (src/durable/range-batch.ts): the ranges, the first one not
 * started yet, and how many run at a time. Carried through continueAsNew, one batch per execution.
 */
export const rangeFanOutSchema = z.strictObject({
  ranges: z.array(listingRangeSchema).max(MAX_RANGES + 1),
  /** The last name the container's first pages covered before it was split: each range starts after it. */
  after: z.string().optional(),
  next: z.number().int().nonnegative(),
  parallelism: z.number().int().min(1).max(64),
});
export type RangeFanOut = z.infer<typeof rangeFanOutSchema>;

/**
 * Whether every name under `range` sorts at or before `after`, the last name a listing of the whole container
 * covered: then that listing did the whole range. The root's own level is never covered (its names sit between the
 * directories), nor a directory `after` is in.
 */
export function coveredBy(range: ListingRange, after: string | undefined): boolean {
  return after !== undefined && range.level !== true && !after.startsWith(range.prefix) && compareBlobNames(range.prefix, after) < 0;
}

/**
 * Whether the ranges left after a container's first pages (a reconciliation's first window, a scan's `firstPages`) are
 * worth splitting into. Each batch of ranges (a sub-orchestration per range, `parallelism` at a time) takes at least
 * about what those first pages took — a round of Durable messages and at least one listing request per side —, so
 * ranges pay only when listing the rest as one chain would take more such stretches than the batches they need. The
 * rest is estimated at the first pages' pace: they covered `covered` whole directories and part of one more, so the
 * `remaining` ranges hold about `remaining / (covered + 1)` stretches. A container whose first pages stay inside one
 * directory (10 million names in a few hundred directories) splits; 30 directories of 1,000 names after a first window
 * of 20 do not (four batches of sub-orchestrations for what two more windows list).
 */
export function rangesPay(remaining: number, covered: number, parallelism: number): boolean {
  return remaining / (covered + 1) > Math.ceil(remaining / parallelism);
}

/**
 * Whether any number of ranges left could pay (`rangesPay`) after first pages that covered `covered` directories:
 * only while `covered + 1 < parallelism` — from there on `remaining / (covered + 1)` is at most
 * `remaining / parallelism`. False at a parallelism of 1, where nothing is split. What lets PlanListingRanges answer
 * without listing.
 */
export function rangesMayPay(covered: number, parallelism: number): boolean {
  return covered + 1 < parallelism;
}

/**
 * The planned ranges to list after a container's first pages, which covered every name up to `after`: those not
 * wholly covered (`coveredBy`), when they pay for their sub-orchestrations (`rangesPay`, the covered ones giving the
 * pace); undefined: list the rest as one chain. Without `after` (planned before any page) nothing is covered and two
 * or more ranges always pay at a parallelism of two or more, the only one a plan splits at.
 */
export function rangesToList(planned: readonly ListingRange[] | undefined, after: string | undefined, parallelism: number): ListingRange[] | undefined {
  const ranges = planned?.filter((r) => !coveredBy(r, after));
  if (ranges === undefined || ranges.length === 0) return undefined;
  return rangesPay(ranges.length, (planned?.length ?? 0) - ranges.length, parallelism) ? ranges : undefined;
}

/**
 * How many top-level directories under `root` a listing that started at the container's (or prefix's) first name
 * covered wholly, given its names in listing order: every directory among them but the last name's (names sharing a
 * prefix are contiguous in the listing, so only the last directory may go on past them). A lower bound of what the
 * plan's `coveredBy` counts (that also counts directories only the backup holds): so at `parallelism - 1` or more,
 * `rangesPay` cannot hold and the plan need not list anything.
 */
export function directoriesCovered(root: string, names: readonly string[]): number {
  let seen = 0;
  let current: string | undefined;
  for (const name of names) {
    if (!name.startsWith(root)) continue;
    const slash = name.indexOf("/", root.length);
    const directory = slash < 0 ? undefined : name.slice(0, slash + 1);
    if (directory !== undefined && directory !== current) seen += 1;
    current = directory;
  }
  // The last name's directory may go on past the listing; a name at the root after it means it did not.
  return current !== undefined ? seen - 1 : seen;
}

/** What PlanListingRanges answers: the ranges (none: list the container as one), or why the settings refuse it. */
export const planRangesResultSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("refused"), reason: z.string() }),
  z.strictObject({
    kind: z.literal("ranges"),
    ranges: z.array(listingRangeSchema).max(MAX_RANGES + 1).optional(),
    parallelism: z.number().int().min(1).max(64),
  }),
]);
export type PlanRangesResult = z.infer<typeof planRangesResultSchema>;
