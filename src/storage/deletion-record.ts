/**
 * Deleted lake blobs, as restore needs to know them: when reconciliation first finds a backup blob whose source blob
 * is gone (an orphan), it writes `backup_source_deleted_at` on that backup blob — once, conditional on the ETag it
 * listed, keeping every other metadata key. A restore `asOf` at or after that time leaves the blob out; one before it
 * brings the blob back. The time is when reconciliation saw the blob gone, so its precision is the reconciliation
 * cadence (RECONCILE_SCHEDULE): the blob was deleted at some point since the previous run.
 *
 * Cost: nothing for orphans already recorded (the listing carries the metadata); one request per newly seen orphan.
 */
import type { ContainerClient } from "@azure/storage-blob";

import { BackupMetadata } from "../domain/blob-backup";
import { mapBounded } from "../domain/map-bounded";
import { errorCodeOf, isNotFound, isPreconditionFailed, statusOf } from "./rest-errors";

/** A backup blob without a source blob, as listed. */
export interface OrphanEntry {
  readonly name: string;
  readonly etag: string;
  readonly metadata: Readonly<Record<string, string>>;
}

/** True when the listed metadata does not record a deletion yet (keys are compared in any case, as Azure does). */
export function needsDeletionRecord(metadata: Readonly<Record<string, string>> | undefined): boolean {
  return !Object.keys(metadata ?? {}).some((key) => key.toLowerCase() === BackupMetadata.deletedAt);
}

export interface DeletionRecords {
  readonly recorded: number;
  /** The backup account refused the write (e.g. 409 under an immutability policy): restore will not know the deletion. */
  readonly refused: number;
}

/**
 * Writes the deletion time on each orphan. A write that finds the blob changed (412: a new version was backed up, so
 * the source blob is back) or gone (404) is skipped; the next reconciliation decides again.
 */
export async function recordDeletions(
  backup: ContainerClient,
  orphans: readonly OrphanEntry[],
  seenAt: string,
  concurrency: number,
): Promise<DeletionRecords> {
  let recorded = 0;
  let refused = 0;
  await mapBounded(orphans, concurrency, async (orphan) => {
    try {
      await backup
        .getBlobClient(orphan.name)
        .setMetadata({ ...orphan.metadata, [BackupMetadata.deletedAt]: seenAt }, { conditions: { ifMatch: orphan.etag } });
      recorded += 1;
    } catch (err) {
      if (isPreconditionFailed(err) || isNotFound(err)) return;
      if (statusOf(err) === 409 || errorCodeOf(err) === "BlobImmutableDueToPolicy") {
        refused += 1;
        return;
      }
      throw err;
    }
  });
  return { recorded, refused };
}
