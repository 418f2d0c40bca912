/** Checks that the backup blob holds exactly the resolved version (src/storage/verify-backup.ts). */

import type { BlobAccount } from "../config/clients";
import { verifyBackupInputSchema, type VerifyBackupResult } from "../domain/blob-backup-activities";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { verifyBackup } from "../storage/verify-backup";

export function createVerifyBlobBackupActivity(deps: { readonly backup: BlobAccount }) {
  return async (raw: unknown): Promise<VerifyBackupResult> => {
    const input = verifyBackupInputSchema.parse(raw);
    return verifyBackup(deps.backup, input.backupContainer, input.version);
  };
}

registerActivity(Activities.verifyBlobBackup, ({ clients }) => createVerifyBlobBackupActivity(clients));
