/**
 * The container scan's page activity: lists ONE page of the source container, or of one name range of it (from the
 * continuation token it is given), snapshots its new and changed blobs, and enqueues one backup request per new version. Returns counts only,
 * so the orchestration's history grows with pages, not blobs.
 *
 * Idempotent: a re-run lists the page again; blobs it already snapshotted now look unchanged, so no second snapshot is
 * taken. Their requests are sent again when the snapshot is not older than the scan's start (an earlier attempt may
 * have died between snapshot and enqueue); such a duplicate is harmless, because the backup's instance id is derived
 * from blob and version.
 *
 * Settings decide, not the input: the container must pass CONTAINERS / EXCLUDE_CONTAINERS and the reserved names, the
 * backup container comes from BACKUP_CONTAINER_TEMPLATE, and the input's snapshot mode must be one SNAPSHOTS allows;
 * otherwise the page is `refused` and nothing is listed, snapshotted or requested.
 */
import type { QueueClient } from "@azure/storage-queue";

import type { BlobAccount } from "../config/clients";
import { DEFAULT_BATCH_MAX_BLOB_BYTES } from "../config/settings";
import { backupState, compareBlobNames } from "../domain/backup-join";
import { type BackupRequest, backupRequestFor } from "../domain/backup-request";
import { backupTargetOf, type ContainerPolicy } from "../domain/container-policy";
import { scanPageInputSchema, type ScanPageResult } from "../domain/container-scan";
import type { LakeSnapshotPolicy } from "../domain/lake-snapshots";
import { mapBounded } from "../domain/map-bounded";
import { zeroSkipCounts } from "../domain/skip-counts";
import { type SnapshotMode, snapshotModeProblem } from "../domain/snapshot-mode";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { containerClient } from "../storage/addressed-clients";
import { createBackupQueueSender } from "../storage/backup-queue";
import { DEFAULT_BACKUP_PAGES, joinBackupWindow } from "../storage/join-backup-window";
import { processSourcePage, type SnapshotFn, snapshotListed, snapshotsOf, type SourceBlobVersion } from "../storage/process-source-page";

export interface ScanSourcePageDeps {
  readonly source: BlobAccount;
  /** Read in ETag-pinned mode only (merge-join with the backup listing). */
  readonly backup?: BlobAccount;
  readonly backupQueue: QueueClient;
  readonly snapshotConcurrency: number;
  /** BATCH_MAX_BLOB_BYTES: smaller versions are requested in batch messages (default when absent). */
  readonly batchMaxBlobBytes?: number;
  /** CONTAINERS, EXCLUDE_CONTAINERS, BACKUP_CONTAINER_TEMPLATE, REPORTS_CONTAINER. */
  readonly policy: ContainerPolicy;
  /** SNAPSHOTS. */
  readonly snapshots: SnapshotMode;
  /**
   * LAKE_SNAPSHOTS. With `none` a backed-up blob keeps no snapshot, so the lake cannot tell an unchanged blob from a
   * new one: the page is joined with the backup listing first, and only versions the backup lacks are snapshotted.
   */
  readonly lakeSnapshots?: LakeSnapshotPolicy;
  /** Fault injection in tests; the real conditional snapshot otherwise. */
  readonly snapshot?: SnapshotFn;
  readonly now?: () => Date;
}

export function createScanSourcePageActivity(deps: ScanSourcePageDeps): (input: unknown) => Promise<ScanPageResult> {
  const sender = createBackupQueueSender(deps.backupQueue, {
    concurrency: deps.snapshotConcurrency,
    batchMaxBlobBytes: deps.batchMaxBlobBytes ?? DEFAULT_BATCH_MAX_BLOB_BYTES,
  });
  const now = deps.now ?? (() => new Date());
  return async (raw) => {
    const input = scanPageInputSchema.parse(raw);
    const target = backupTargetOf(deps.policy, input.container);
    if (!target.ok) return { kind: "refused", reason: target.reason };
    const modeProblem = snapshotModeProblem(deps.snapshots, input.snapshots);
    if (modeProblem !== undefined) return { kind: "refused", reason: modeProblem };
    const range = input.range;
    if (range !== undefined && !range.prefix.startsWith(input.prefix ?? "")) {
      return { kind: "refused", reason: `the range ${JSON.stringify(range.prefix)} is outside the scan's prefix ${JSON.stringify(input.prefix)}` };
    }
    // A range lists (and joins) its own names only: its prefix, and for the root's range a hierarchical level.
    const prefix = range?.prefix ?? input.prefix;
    const level = range?.level === true;
    const container = containerClient(deps.source.service, input.container);
    const snapshotsWanted = input.snapshots !== "off" && input.snapshotsRefused !== true;
    // LAKE_SNAPSHOTS=none: classify first (no snapshot), join with the backup, then snapshot what it lacks.
    const backupDecides = snapshotsWanted && deps.lakeSnapshots?.mode === "none" && deps.backup !== undefined;
    const snap = snapshotsOf(deps, input.container);
    const result = await processSourcePage(
      container,
      {
        ...(prefix !== undefined && { prefix }),
        ...(level && { level }),
        ...(input.continuationToken !== undefined && { continuationToken: input.continuationToken }),
        ...(input.skipName !== undefined && { skipName: input.skipName }),
        ...(input.pageSize !== undefined && { pageSize: input.pageSize }),
        snapshots: input.snapshots,
        snapshotsRefused: input.snapshotsRefused,
        dryRun: input.dryRun || backupDecides,
        concurrency: deps.snapshotConcurrency,
        scanStartedAt: input.scanStartedAt,
      },
      snap,
    );
    if (result.kind === "containerNotFound") return { kind: "containerNotFound", account: deps.source.accountName };
    if (result.kind === "snapshotsRefused") return { ...result, account: deps.source.accountName };

    // Without snapshots every blob looks new; the backup listing tells which live versions are already backed up.
    // The scan needs no orphans, so its join ends at the page's last name, also on the last page.
    const etagPinned = input.snapshots === "off" || input.snapshotsRefused || result.snapshotsRefusedReason !== undefined;
    const join =
      (etagPinned || backupDecides) && deps.backup !== undefined && result.blobs.length > 0
        ? await joinBackupWindow(containerClient(deps.backup.service, target.backupContainer), {
            ...(prefix !== undefined && { prefix }),
            ...(level && { level }),
            cursor: input.backupCursor ?? {},
            sourceNames: new Set(result.blobs.map((b) => b.name)),
            windowEnd: result.blobs[result.blobs.length - 1]?.name,
            pageSize: input.pageSize ?? 5000,
            maxPages: input.backupPages ?? DEFAULT_BACKUP_PAGES,
          })
        : undefined;
    const backedUp = (name: string, etag: string): boolean => backupState(etag, join?.held.get(name)) === "inSync";
    // A join that ran out of pages (a long run of backup names the lake no longer has) covers the page's names up to
    // where it got: those are handled now, and the same page is listed again from there by the next call.
    const through = join !== undefined && !join.caughtUp ? join.through : undefined;
    const partial = join !== undefined && !join.caughtUp;
    const pageBlobs = partial ? result.blobs.filter((b) => through !== undefined && compareBlobNames(b.name, through) <= 0) : result.blobs;
    const resumeSkip = through !== undefined && (input.skipName === undefined || compareBlobNames(through, input.skipName) > 0) ? through : input.skipName;
    const next = partial
      ? { continuationToken: input.continuationToken, skipName: resumeSkip }
      : { continuationToken: result.continuationToken, skipName: result.skipName };

    const skipped = zeroSkipCounts();
    const counts = { blobsSeen: pageBlobs.length, new: 0, changed: 0, unchanged: 0, snapshots: 0, requestsResent: 0, alreadyBackedUp: 0 };
    let blobs: readonly SourceBlobVersion[] = pageBlobs;
    let snapshotRequests = result.snapshotRequests;
    let refusedReason = result.snapshotsRefusedReason;
    if (backupDecides) {
      // A blob without a lake snapshot whose live ETag the backup records is unchanged; the others are snapshotted now.
      blobs = await mapBounded(pageBlobs, deps.snapshotConcurrency, async (blob): Promise<SourceBlobVersion> => {
        if (!blob.requestBackup || blob.snapshot !== undefined) return blob;
        if (backedUp(blob.name, blob.etag)) return { ...blob, outcome: "unchanged", requestBackup: false };
        if (input.dryRun || refusedReason !== undefined) return blob;
        snapshotRequests += 1;
        const taken = await snapshotListed(container, blob, snap);
        if (taken.kind === "taken") return { ...blob, snapshot: taken.id, snapshotted: true };
        if (taken.kind === "skipped") return { ...blob, outcome: "skipped", skipReason: taken.reason, requestBackup: false };
        refusedReason ??= taken.reason;
        return input.snapshots === "on" ? { ...blob, requestBackup: false } : blob;
      });
      if (refusedReason !== undefined && input.snapshots === "on") return { kind: "snapshotsRefused", reason: refusedReason, account: deps.source.accountName };
    }
    const requestedAt = now().toISOString();
    const requests: BackupRequest[] = [];
    for (const blob of blobs) {
      if (blob.outcome === "skipped") skipped[blob.skipReason ?? "noLiveBlob"] += 1;
      else counts[blob.outcome] += 1;
      if (blob.snapshotted) counts.snapshots += 1;
      if (blob.outcome === "unchanged" && blob.requestBackup) counts.requestsResent += 1;
      if (blob.requestBackup && join !== undefined && blob.snapshot === undefined && backedUp(blob.name, blob.etag)) {
        counts.alreadyBackedUp += 1;
        continue;
      }
      if (blob.requestBackup && !input.dryRun) {
        // Where the backup listing was read, it tells whether the blob has a backup; otherwise no older lake snapshot does.
        const firstVersion = join !== undefined ? !join.held.has(blob.name) : blob.outcome === "new";
        requests.push(backupRequestFor(deps.source.accountName, input.container, { ...blob, firstVersion }, "producer", requestedAt));
      }
    }
    const sent = await sender.send(requests);
    skipped.invalidRequest += sent.invalid;
    return {
      kind: "page",
      ...(next.continuationToken !== undefined && { continuationToken: next.continuationToken }),
      ...(next.skipName !== undefined && { skipName: next.skipName }),
      // The same page again (its first page has no token): the orchestration must not take it for the last page.
      ...(partial && { more: true }),
      counts: {
        ...counts,
        skipped,
        requests: sent.sent,
        listRequests: result.listRequests,
        snapshotRequests,
        backupListRequests: join?.listRequests ?? 0,
      },
      ...(join !== undefined && { backupCursor: join.cursor }),
      ...(refusedReason !== undefined && { snapshotsRefusedReason: refusedReason }),
    };
  };
}

registerActivity(Activities.scanSourcePage, ({ clients, settings }) =>
  createScanSourcePageActivity({
    source: clients.source,
    backup: clients.backup,
    backupQueue: clients.backupQueue,
    snapshotConcurrency: settings.snapshotConcurrency,
    batchMaxBlobBytes: settings.batchMaxBlobBytes,
    policy: settings,
    snapshots: settings.snapshots,
    lakeSnapshots: settings.lakeSnapshots,
  }));
