/**
 * Checks that the backup blob (in the container the settings name) holds exactly the resolved version
 * (src/storage/verify-backup.ts); once it does, releases the lake snapshots LAKE_SNAPSHOTS no longer needs
 * (`releaseLakeSnapshots`, src/storage/lake-snapshots.ts, which checks every snapshot's version against the backup
 * listing itself). A release that fails is reported in the verification note and left to the retention run: the
 * backup itself is done.
 */

import type { BlobAccount } from "../config/clients";
import type { Settings } from "../config/settings";
import { verifyBackupInputSchema, type VerifyBackupResult } from "../domain/blob-backup-activities";
import { describeError } from "../domain/errors";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { containerClient } from "../storage/addressed-clients";
import { backupDestinationOf, type BackupDestinationSettings } from "../storage/backup-target";
import { describeRelease, releaseLakeSnapshots } from "../storage/lake-snapshots";
import { verifyBackup } from "../storage/verify-backup";

export interface VerifyBlobBackupDeps {
  readonly backup: BlobAccount;
  /** The lake: when given, snapshots are released after a verified backup. */
  readonly source?: BlobAccount;
  readonly settings: BackupDestinationSettings & Partial<Pick<Settings, "lakeSnapshots">>;
  readonly now?: () => Date;
}

export function createVerifyBlobBackupActivity(deps: VerifyBlobBackupDeps) {
  const now = deps.now ?? (() => new Date());
  return async (raw: unknown): Promise<VerifyBackupResult> => {
    const input = verifyBackupInputSchema.parse(raw);
    const destination = backupDestinationOf(deps.settings, input.version.container);
    const verified = await verifyBackup(deps.backup, destination.container, input.version, input.layout);
    // Only snapshot-based backups: an ETag-pinned backup (no snapshots in this lake) has nothing to release.
    if (verified.kind !== "verified" || deps.source === undefined || input.version.snapshot === undefined) return verified;
    try {
      const released = await releaseLakeSnapshots(
        containerClient(deps.source.service, input.version.container),
        containerClient(deps.backup.service, destination.container),
        input.version.blob,
        { policy: deps.settings.lakeSnapshots ?? { mode: "newest" }, versions: destination.history === "versioning", now: now() },
      );
      return { ...verified, note: `${verified.note}; ${describeRelease(released)}` };
    } catch (err) {
      return { ...verified, note: `${verified.note}; lake snapshots not released (the retention run will): ${describeError(err)}` };
    }
  };
}

registerActivity(Activities.verifyBlobBackup, ({ clients, settings }) =>
  createVerifyBlobBackupActivity({ backup: clients.backup, source: clients.source, settings }));
