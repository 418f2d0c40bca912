/** Checks that the backup blob (in the container the settings name) holds exactly the resolved version (src/storage/verify-backup.ts). */

import type { BlobAccount } from "../config/clients";
import { verifyBackupInputSchema, type VerifyBackupResult } from "../domain/blob-backup-activities";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { backupDestinationOf,type BackupDestinationSettings } from "../storage/backup-target";
import { verifyBackup } from "../storage/verify-backup";

export function createVerifyBlobBackupActivity(deps: { readonly backup: BlobAccount; readonly settings: BackupDestinationSettings }) {
  return async (raw: unknown): Promise<VerifyBackupResult> => {
    const input = verifyBackupInputSchema.parse(raw);
    return verifyBackup(deps.backup, backupDestinationOf(deps.settings, input.version.container).container, input.version, input.layout);
  };
}

registerActivity(Activities.verifyBlobBackup, ({ clients, settings }) => createVerifyBlobBackupActivity({ backup: clients.backup, settings }));
