/**
 * One retention window of a container: one lake page (with snapshots, names complete) merge-joined with the backup
 * listing with history (snapshots, and versions under versioning) over the same names, then, per name, the lake
 * snapshots LAKE_SNAPSHOTS no longer needs and the backup entries past their retention are deleted (nothing in a dry
 * run). Backup names after the lake's last name are handled by the last window (they are all orphans).
 *
 * Cost: the two listings (plus a small re-list of each page's last name, and one re-read of the backup page a window
 * ended in) and one delete per removed entry. Memory: one lake page and the backup entries of its name range.
 */
import type { BlobItem, ContainerClient } from "@azure/storage-blob";

import { compareBlobNames } from "../domain/backup-join";
import { type BackupHistoryEntry, decideBackupVersions, type RetentionRules, type VersionDecision } from "../domain/backup-retention";
import { groupByName, type NameGroup } from "../domain/change-detection";
import { decideLakeSnapshots, type LakeSnapshotPolicy } from "../domain/lake-snapshots";
import { mapBounded } from "../domain/map-bounded";
import { isValidBlobName } from "../domain/names";
import { addRetentionCounts, MAX_RETENTION_SAMPLES, type RetentionCounts, type RetentionCursor, zeroRetentionCounts } from "../domain/retention";
import { blobClient } from "./addressed-clients";
import { deleteEntry } from "./delete-entry";
import { applySnapshotDecisions, backupCopiesOf } from "./lake-snapshots";
import { listCompletePage, toListedEntry } from "./list-source-page";

export interface RetentionWindowOptions {
  readonly policy: LakeSnapshotPolicy;
  readonly rules: RetentionRules;
  /** BACKUP_HISTORY=versioning: the backup listing includes versions. */
  readonly versions: boolean;
  readonly dryRun: boolean;
  readonly now: Date;
  readonly pageSize: number;
  /** Names worked on in parallel. */
  readonly concurrency: number;
}

export type RetentionWindowOutcome =
  | { readonly kind: "containerNotFound" }
  | { readonly kind: "window"; readonly counts: RetentionCounts; readonly deletedSamples: string[]; readonly cursor?: RetentionCursor };

interface BackupRange {
  readonly byName: Map<string, BlobItem[]>;
  readonly cursor: RetentionCursor["backup"];
  /** The backup listing is complete. */
  readonly done: boolean;
  readonly listRequests: number;
}

/**
 * Reads the backup listing from `cursor` through `windowEnd` (undefined: to the end). A page that reaches past the
 * window is read again by the next window from the same token; `after` drops the names this window consumed.
 */
async function readBackupRange(backup: ContainerClient, cursor: RetentionCursor["backup"], windowEnd: string | undefined, options: RetentionWindowOptions): Promise<BackupRange> {
  const byName = new Map<string, BlobItem[]>();
  let token = cursor.token;
  let skipName = cursor.skipName;
  let after = cursor.after;
  let listRequests = 0;
  for (;;) {
    const page = await listCompletePage(
      backup,
      { ...(token !== undefined && { continuationToken: token }), ...(skipName !== undefined && { skipName }), pageSize: options.pageSize },
      { versions: options.versions },
    );
    // No backup container: nothing is backed up yet, so every lake snapshot is kept.
    if (page.kind === "containerNotFound") return { byName, cursor: {}, done: true, listRequests: listRequests + 1 };
    listRequests += page.listRequests;
    let beyond = false;
    for (const item of page.items) {
      if (after !== undefined && compareBlobNames(item.name, after) <= 0) continue;
      if (windowEnd !== undefined && compareBlobNames(item.name, windowEnd) > 0) {
        beyond = true;
        continue;
      }
      const entries = byName.get(item.name) ?? [];
      entries.push(item);
      byName.set(item.name, entries);
    }
    const consumed = [...byName.keys()].pop();
    if (consumed !== undefined && (after === undefined || compareBlobNames(consumed, after) > 0)) after = consumed;
    if (beyond) {
      // Every name up to the window's end is complete: the page holds a later one. The next window re-reads this page.
      const end = windowEnd !== undefined && (after === undefined || compareBlobNames(windowEnd, after) > 0) ? windowEnd : after;
      return {
        byName,
        cursor: { ...(token !== undefined && { token }), ...(skipName !== undefined && { skipName }), ...(end !== undefined && { after: end }) },
        done: false,
        listRequests,
      };
    }
    if (page.continuationToken === undefined) return { byName, cursor: {}, done: true, listRequests };
    token = page.continuationToken;
    skipName = page.skipName;
  }
}

function historyEntry(item: BlobItem): BackupHistoryEntry {
  const e = toListedEntry(item);
  const hasSnapshot = item.snapshot !== undefined && item.snapshot !== "";
  const isCurrent = !hasSnapshot && (item.versionId === undefined || item.isCurrentVersion === true);
  return {
    ...(hasSnapshot && { snapshot: item.snapshot }),
    ...(item.versionId !== undefined && { versionId: item.versionId }),
    isCurrent,
    lastModified: e.lastModified,
    contentLength: e.contentLength,
    ...(e.contentMd5 !== undefined && { contentMd5: e.contentMd5 }),
    ...(item.metadata !== undefined && { metadata: item.metadata }),
  };
}

/** Deletes the backup entries that go: history first, the current blob last (it cannot go while snapshots remain). */
async function applyVersionDecisions(
  backup: ContainerClient,
  name: string,
  decisions: readonly VersionDecision[],
  counts: RetentionCounts,
  dryRun: boolean,
): Promise<boolean> {
  const ordered = [...decisions].sort((a, b) => Number(a.entry.isCurrent) - Number(b.entry.isCurrent));
  let deletedAny = false;
  let refusedAny = false;
  for (const d of ordered) {
    if (d.action === "keep") {
      counts.versions.kept[d.reason] += 1;
      continue;
    }
    if (!dryRun) {
      const client = blobClient(backup, name);
      if (d.entry.isCurrent) {
        // A current blob whose history could not all go would fail with SnapshotsPresent: it is kept with them.
        if (refusedAny) {
          counts.versions.kept.refused += 1;
          continue;
        }
        counts.deleteRequests += 1;
        let outcome = await deleteEntry(client, {});
        // Under versioning, deleting the current blob turns it into a previous version: delete that one too.
        if (outcome === "deleted" && d.entry.versionId !== undefined) {
          counts.deleteRequests += 1;
          outcome = await deleteEntry(client, { versionId: d.entry.versionId });
        }
        if (outcome === "refused") {
          counts.versions.kept.refused += 1;
          continue;
        }
      } else {
        counts.deleteRequests += 1;
        const ref = d.entry.snapshot !== undefined ? { snapshot: d.entry.snapshot } : { ...(d.entry.versionId !== undefined && { versionId: d.entry.versionId }) };
        if ((await deleteEntry(client, ref)) === "refused") {
          refusedAny = true;
          counts.versions.kept.refused += 1;
          continue;
        }
      }
    }
    deletedAny = true;
    counts.versions.deleted[d.reason] += 1;
    counts.versions.deletedBytes += d.entry.contentLength;
  }
  return deletedAny;
}

async function retainName(
  lake: ContainerClient,
  backup: ContainerClient,
  name: string,
  group: NameGroup | undefined,
  backupItems: readonly BlobItem[],
  options: RetentionWindowOptions,
): Promise<{ counts: RetentionCounts; deleted: boolean }> {
  const counts = zeroRetentionCounts();
  let deleted = false;
  // A name the app cannot address safely (names.ts) was never snapshotted or backed up by it: left alone.
  if (!isValidBlobName(name)) return { counts, deleted };
  if (group !== undefined) {
    counts.blobs = 1;
    if (group.snapshots.length > 0) {
      const decisions = decideLakeSnapshots(options.policy, group.snapshots, backupCopiesOf(backupItems), options.now);
      const applied = await applySnapshotDecisions(lake, name, decisions, options.dryRun);
      counts.snapshots = applied.counts;
      counts.deleteRequests += applied.deleteRequests;
      deleted ||= decisions.some((d) => d.action === "delete");
    }
  }
  if (backupItems.length > 0) {
    const live = group?.base !== undefined;
    const decision = decideBackupVersions(backupItems.map(historyEntry), live, options.rules, options.now);
    if (decision.orphan !== undefined) counts.orphans[decision.orphan] += 1;
    deleted = (await applyVersionDecisions(backup, name, decision.decisions, counts, options.dryRun)) || deleted;
  }
  return { counts, deleted };
}

export async function retentionWindow(
  lake: ContainerClient,
  backup: ContainerClient,
  cursor: RetentionCursor,
  options: RetentionWindowOptions,
): Promise<RetentionWindowOutcome> {
  const page = await listCompletePage(lake, { ...cursor.lake, pageSize: options.pageSize });
  if (page.kind === "containerNotFound") return { kind: "containerNotFound" };
  const groups = groupByName(page.items.map(toListedEntry));
  const lakeDone = page.continuationToken === undefined;
  const windowEnd = lakeDone ? undefined : groups[groups.length - 1]?.name;
  // A page without names and more to come: nothing to join yet.
  const range =
    !lakeDone && windowEnd === undefined
      ? { byName: new Map<string, BlobItem[]>(), cursor: cursor.backup, done: false, listRequests: 0 }
      : await readBackupRange(backup, cursor.backup, windowEnd, options);

  const byGroup = new Map(groups.map((g) => [g.name, g]));
  const names = [...new Set([...byGroup.keys(), ...range.byName.keys()])].sort(compareBlobNames);
  const results = await mapBounded(names, options.concurrency, (name) =>
    retainName(lake, backup, name, byGroup.get(name), range.byName.get(name) ?? [], options));

  let counts = zeroRetentionCounts();
  const deletedSamples: string[] = [];
  results.forEach((r, i) => {
    counts = addRetentionCounts(counts, r.counts);
    const name = names[i];
    if (r.deleted && name !== undefined && deletedSamples.length < MAX_RETENTION_SAMPLES) deletedSamples.push(name);
  });
  counts.lakeListRequests += page.listRequests;
  counts.backupListRequests += range.listRequests;
  const next: RetentionCursor | undefined = lakeDone
    ? undefined
    : {
        lake: { ...(page.continuationToken !== undefined && { continuationToken: page.continuationToken }), ...(page.skipName !== undefined && { skipName: page.skipName }) },
        backup: range.cursor,
      };
  return { kind: "window", counts, deletedSamples, ...(next !== undefined && { cursor: next }) };
}
