/**
 * One reconciliation window of a container: a few source pages processed exactly as the container scan processes them
 * (classified, new and changed blobs snapshotted), then merge-joined with the backup listing over the same names.
 * Cost: the two listings (plus, per window, one re-read of the backup page the window ended in); no request per blob.
 * Memory: the window's source blobs and one backup page.
 */
import type { ContainerClient } from "@azure/storage-blob";

import { type BackupCursor, type BackupState, backupState } from "../domain/backup-join";
import type { HeldVersion } from "../domain/blob-backup";
import type { OrphanEntry } from "./deletion-record";
import { joinBackupWindow } from "./join-backup-window";
import { type ProcessPageInput, processSourcePage, type SnapshotOfPage, type SourceBlobVersion } from "./process-source-page";

export interface SourceCursor {
  readonly continuationToken?: string;
  readonly skipName?: string;
}

export interface ReconcileWindowInput extends Omit<ProcessPageInput, "continuationToken" | "skipName"> {
  readonly source: SourceCursor;
  readonly backup: BackupCursor;
  /** Source pages per window: more pages, fewer re-reads of a backup page. */
  readonly sourcePages: number;
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
      readonly orphans: readonly string[];
      /** Orphans whose deletion is not recorded on the backup blob yet (src/storage/deletion-record.ts). */
      readonly newOrphans: readonly OrphanEntry[];
      /** Absent when the source listing is complete. */
      readonly source?: SourceCursor;
      readonly backup: BackupCursor;
      readonly done: boolean;
      readonly sourceListRequests: number;
      readonly backupListRequests: number;
      readonly snapshotRequests: number;
      readonly snapshotsRefusedReason?: string;
    };

export async function reconcileWindow(
  source: ContainerClient,
  backup: ContainerClient,
  input: ReconcileWindowInput,
  snapshot: SnapshotOfPage,
): Promise<ReconcileWindowResult> {
  const blobs: SourceBlobVersion[] = [];
  let cursor: SourceCursor = input.source;
  let sourceListRequests = 0;
  let snapshotRequests = 0;
  let refusedReason: string | undefined;
  let sourceDone = false;
  for (let page = 0; page < input.sourcePages && !sourceDone; page += 1) {
    const result = await processSourcePage(
      source,
      {
        ...input,
        ...(cursor.continuationToken !== undefined && { continuationToken: cursor.continuationToken }),
        ...(cursor.skipName !== undefined && { skipName: cursor.skipName }),
        snapshotsRefused: input.snapshotsRefused === true || refusedReason !== undefined,
      },
      snapshot,
    );
    if (result.kind !== "page") return result;
    blobs.push(...result.blobs);
    sourceListRequests += result.listRequests;
    snapshotRequests += result.snapshotRequests;
    refusedReason ??= result.snapshotsRefusedReason;
    cursor = {
      ...(result.continuationToken !== undefined && { continuationToken: result.continuationToken }),
      ...(result.skipName !== undefined && { skipName: result.skipName }),
    };
    sourceDone = result.continuationToken === undefined;
  }

  const windowEnd = sourceDone ? undefined : blobs[blobs.length - 1]?.name;
  // A window with no names and more to come has nothing to join yet; the backup cursor stays where it is.
  const backupWindow =
    !sourceDone && windowEnd === undefined
      ? { held: new Map<string, HeldVersion>(), orphans: [], newOrphans: [], cursor: input.backup, listRequests: 0 }
      : await joinBackupWindow(backup, input.prefix, input.backup, new Set(blobs.map((b) => b.name)), windowEnd, input.pageSize ?? 5000);

  return {
    kind: "window",
    blobs: blobs.map((b) => (b.outcome === "skipped" ? b : { ...b, backup: backupState(b.etag, backupWindow.held.get(b.name)) })),
    orphans: backupWindow.orphans,
    newOrphans: backupWindow.newOrphans,
    ...(!sourceDone && { source: cursor }),
    backup: backupWindow.cursor,
    done: sourceDone,
    sourceListRequests,
    backupListRequests: backupWindow.listRequests,
    snapshotRequests,
    ...(refusedReason !== undefined && { snapshotsRefusedReason: refusedReason }),
  };
}
