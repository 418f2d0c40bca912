/**
 * `releaseLakeSnapshots`: after a backup was verified, delete the lake snapshots of that blob which LAKE_SNAPSHOTS no
 * longer needs (src/domain/lake-snapshots.ts). It checks the backup itself rather than trusting its caller: every
 * snapshot's version must be found in the backup account's listing of the same name (the current backup blob or a
 * history entry), so a snapshot whose own backup failed stays, whatever the newer versions did.
 *
 * Cost: two exact-name listings (lake with snapshots, backup with history) and one delete per released snapshot. The
 * retention run applies the same decision from its listings, so whatever this misses (a backup skipped because the
 * version was already there, a crash in between) goes at the next retention run.
 */
import type { BlobItem, ContainerClient } from "@azure/storage-blob";

import { backupCopyOf, decideLakeSnapshots, type LakeSnapshotPolicy } from "../domain/lake-snapshots";
import { type SnapshotCounts, zeroSnapshotCounts } from "../domain/retention";
import { blobClient } from "./addressed-clients";
import { deleteEntry } from "./delete-entry";
import { isContainerNotFound, listNameEntries, toListedEntry } from "./list-source-page";

export interface ReleaseOptions {
  readonly policy: LakeSnapshotPolicy;
  /** Backup history is kept as blob versions (BACKUP_HISTORY=versioning): list them too. */
  readonly versions: boolean;
  readonly now: Date;
  readonly dryRun?: boolean;
}

/** The backup account's entries of `name`; none when the backup container does not exist yet. */
async function backupEntries(backup: ContainerClient, name: string, versions: boolean): Promise<BlobItem[]> {
  try {
    return (await listNameEntries(backup, name, { versions })).items;
  } catch (err) {
    if (isContainerNotFound(err)) return [];
    throw err;
  }
}

export function backupCopiesOf(items: readonly BlobItem[]): ReturnType<typeof backupCopyOf>[] {
  return items.map((i) => {
    const e = toListedEntry(i);
    return backupCopyOf({ ...(i.metadata !== undefined && { metadata: i.metadata }), contentLength: e.contentLength, ...(e.contentMd5 !== undefined && { contentMd5: e.contentMd5 }) });
  });
}

/**
 * Applies the decisions for the snapshots of one lake blob: deletes those that go (unless a dry run), counts every
 * snapshot by reason. A delete refused by immutability counts as kept (`refused`).
 */
export async function applySnapshotDecisions(
  lake: ContainerClient,
  name: string,
  decisions: ReturnType<typeof decideLakeSnapshots>,
  dryRun: boolean,
): Promise<{ counts: SnapshotCounts; deleteRequests: number }> {
  const counts = zeroSnapshotCounts();
  let deleteRequests = 0;
  for (const d of decisions) {
    if (d.action === "keep") {
      counts.kept[d.reason] += 1;
      continue;
    }
    if (!dryRun) {
      deleteRequests += 1;
      if ((await deleteEntry(blobClient(lake, name), { snapshot: d.snapshot })) === "refused") {
        counts.kept.refused += 1;
        continue;
      }
    }
    counts.deleted[d.reason] += 1;
    counts.deletedBytes += d.contentLength;
  }
  return { counts, deleteRequests };
}

/** Releases the lake snapshots of blob `name` that the policy no longer needs (see the top of this file). */
export async function releaseLakeSnapshots(lake: ContainerClient, backup: ContainerClient, name: string, options: ReleaseOptions): Promise<SnapshotCounts> {
  const snapshots = (await listNameEntries(lake, name)).items.filter((i) => i.snapshot !== undefined && i.snapshot !== "").map(toListedEntry);
  if (snapshots.length === 0) return zeroSnapshotCounts();
  const copies = backupCopiesOf(await backupEntries(backup, name, options.versions));
  const decisions = decideLakeSnapshots(options.policy, snapshots, copies, options.now);
  return (await applySnapshotDecisions(lake, name, decisions, options.dryRun === true)).counts;
}

/** One line for a backup's outcome: what the release did. */
export function describeRelease(counts: SnapshotCounts): string {
  const deleted = Object.values(counts.deleted).reduce((a, b) => a + b, 0);
  const kept = Object.values(counts.kept).reduce((a, b) => a + b, 0);
  return `lake snapshots: ${deleted} deleted, ${kept} kept`;
}
