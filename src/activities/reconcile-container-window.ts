/**
 * Reconciliation's window activity: a few source pages of one container, processed like the container scan (new and
 * changed blobs snapshotted), merge-joined with the backup listing; one backup request per latest version that the
 * backup lacks or holds outdated. Returns counts and cursors only, so history grows with windows, not blobs.
 *
 * Idempotent: a re-run lists again; blobs snapshotted by the failed attempt now look unchanged and are not snapshotted
 * twice, and a request sent twice names the same version, which the backup deduplicates by instance id.
 *
 * Settings decide, not the input: the container must pass the container policy, its backup container must be the one
 * BACKUP_CONTAINER_TEMPLATE gives, and the snapshot mode one SNAPSHOTS allows; otherwise the window is `refused`.
 */
import type { QueueClient } from "@azure/storage-queue";

import type { BlobAccount } from "../config/clients";
import { DEFAULT_BATCH_MAX_BLOB_BYTES } from "../config/settings";
import { backupRequestFor } from "../domain/backup-request";
import { backupTargetOf, type ContainerPolicy } from "../domain/container-policy";
import type { LakeSnapshotPolicy } from "../domain/lake-snapshots";
import { MAX_ORPHAN_SAMPLES, type ReconcileCounts, windowInputSchema, type WindowResult, zeroReconcileCounts } from "../domain/reconciliation";
import { type SnapshotMode, snapshotModeProblem } from "../domain/snapshot-mode";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { containerClient } from "../storage/addressed-clients";
import { createBackupQueueSender } from "../storage/backup-queue";
import { recordDeletions } from "../storage/deletion-record";
import { type SnapshotFn, snapshotsOf } from "../storage/process-source-page";
import { type ReconciledBlob, reconcileWindow } from "../storage/reconcile-window";

export interface ReconcileContainerWindowDeps {
  readonly source: BlobAccount;
  readonly backup: BlobAccount;
  readonly backupQueue: QueueClient;
  readonly snapshotConcurrency: number;
  /** BATCH_MAX_BLOB_BYTES: smaller versions are requested in batch messages (default when absent). */
  readonly batchMaxBlobBytes?: number;
  /** CONTAINERS, EXCLUDE_CONTAINERS, BACKUP_CONTAINER_TEMPLATE, REPORTS_CONTAINER. */
  readonly policy: ContainerPolicy;
  /** SNAPSHOTS. */
  readonly snapshots: SnapshotMode;
  /**
   * LAKE_SNAPSHOTS. With `none` a backed-up blob keeps no lake snapshot, so snapshotting every blob without one would
   * snapshot the whole lake each run: reconciliation then repairs with ETag-pinned requests (the join decides).
   */
  readonly lakeSnapshots?: LakeSnapshotPolicy;
  /** Fault injection in tests; the real conditional snapshot otherwise. */
  readonly snapshot?: SnapshotFn;
  readonly now?: () => Date;
}

function tally(blobs: readonly ReconciledBlob[]): ReconcileCounts {
  const counts = zeroReconcileCounts();
  counts.blobs = blobs.length;
  for (const blob of blobs) {
    if (blob.outcome === "skipped") counts.skipped[blob.skipReason ?? "noLiveBlob"] += 1;
    if (blob.outcome === "new" || blob.outcome === "changed") counts[blob.outcome] += 1;
    if (blob.snapshotted) counts.snapshots += 1;
    if (blob.backup !== undefined) counts[blob.backup] += 1;
  }
  return counts;
}

export function createReconcileContainerWindowActivity(deps: ReconcileContainerWindowDeps): (input: unknown) => Promise<WindowResult> {
  const sender = createBackupQueueSender(deps.backupQueue, {
    concurrency: deps.snapshotConcurrency,
    batchMaxBlobBytes: deps.batchMaxBlobBytes ?? DEFAULT_BATCH_MAX_BLOB_BYTES,
  });
  const now = deps.now ?? (() => new Date());
  return async (raw) => {
    const input = windowInputSchema.parse(raw);
    const { options, cursor } = input;
    const target = backupTargetOf(deps.policy, input.container);
    if (!target.ok) return { kind: "refused", reason: target.reason };
    if (target.backupContainer !== input.backupContainer) {
      return {
        kind: "refused",
        reason: `the run names backup container ${JSON.stringify(input.backupContainer)}, BACKUP_CONTAINER_TEMPLATE gives ${JSON.stringify(target.backupContainer)}`,
      };
    }
    const modeProblem = snapshotModeProblem(deps.snapshots, options.snapshots);
    if (modeProblem !== undefined) return { kind: "refused", reason: modeProblem };
    const range = options.range;
    if (range !== undefined && !range.prefix.startsWith(options.prefix ?? "")) {
      return { kind: "refused", reason: `the range ${JSON.stringify(range.prefix)} is outside the run's prefix ${JSON.stringify(options.prefix)}` };
    }
    const prefix = range?.prefix ?? options.prefix;
    const backupContainer = containerClient(deps.backup.service, input.backupContainer);
    const requestedAt = now().toISOString();
    const deletions = { recorded: 0, refused: 0 };
    const result = await reconcileWindow(
      containerClient(deps.source.service, input.container),
      backupContainer,
      {
        ...(prefix !== undefined && prefix !== "" && { prefix }),
        ...(range?.level === true && { level: true }),
        ...(options.pageSize !== undefined && { pageSize: options.pageSize }),
        ...(options.backupPages !== undefined && { backupPages: options.backupPages }),
        snapshots: deps.lakeSnapshots?.mode === "none" ? "off" : options.snapshots,
        snapshotsRefused: input.snapshotsRefused,
        dryRun: options.dryRun,
        concurrency: deps.snapshotConcurrency,
        sourcePages: options.sourcePages,
        source: cursor.source ?? {},
        backup: cursor.backup,
        // Recorded page by page as the join finds them, so orphans are never collected.
        ...(!options.dryRun && {
          onNewOrphans: async (orphans) => {
            const done = await recordDeletions(backupContainer, orphans, requestedAt, deps.snapshotConcurrency);
            deletions.recorded += done.recorded;
            deletions.refused += done.refused;
          },
        }),
      },
      snapshotsOf(deps, input.container),
    );
    if (result.kind !== "window") return result;

    const counts = tally(result.blobs);
    const requests = options.dryRun
      ? []
      : result.blobs
          .filter((b) => b.backup === "missing" || b.backup === "outdated")
          .map((b) => backupRequestFor(deps.source.accountName, input.container, { ...b, firstVersion: b.backup === "missing" }, "reconcile", requestedAt));
    const sent = await sender.send(requests);
    counts.requests = sent.sent;
    counts.skipped.invalidRequest += sent.invalid;
    counts.deletionsRecorded = deletions.recorded;
    counts.deletionsRefused = deletions.refused;
    counts.orphans = result.orphans;
    counts.sourceListRequests = result.sourceListRequests;
    counts.backupListRequests = result.backupListRequests;
    counts.snapshotRequests = result.snapshotRequests;
    return {
      kind: "window",
      counts,
      orphanSamples: result.orphanSamples.slice(0, MAX_ORPHAN_SAMPLES),
      cursor: { ...(result.source !== undefined && { source: result.source }), backup: result.backup },
      done: result.done,
      ...(result.snapshotsRefusedReason !== undefined && { snapshotsRefusedReason: result.snapshotsRefusedReason }),
      directoriesCovered: result.directoriesCovered,
    };
  };
}

registerActivity(Activities.reconcileContainerWindow, ({ clients, settings }) =>
  createReconcileContainerWindowActivity({
    source: clients.source,
    backup: clients.backup,
    backupQueue: clients.backupQueue,
    snapshotConcurrency: settings.snapshotConcurrency,
    batchMaxBlobBytes: settings.batchMaxBlobBytes,
    policy: settings,
    snapshots: settings.snapshots,
    lakeSnapshots: settings.lakeSnapshots,
  }));
