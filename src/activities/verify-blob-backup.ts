/** Checks that the backup blob holds exactly the resolved version (src/storage/verify-backup.ts). */
import * as df from "durable-functions";

import type { BlobAccount } from "../config/clients";
import { verifyBackupInputSchema, type VerifyBackupResult } from "../domain/blob-backup-activities";
import { Activities } from "../function-names";
import { runtime } from "../runtime";
import { verifyBackup } from "../storage/verify-backup";

export function createVerifyBlobBackupActivity(deps: { readonly backup: BlobAccount }) {
  return async (raw: unknown): Promise<VerifyBackupResult> => {
    const input = verifyBackupInputSchema.parse(raw);
    return verifyBackup(deps.backup, input.backupContainer, input.version);
  };
}

df.app.activity(Activities.verifyBlobBackup, {
  handler: (input: unknown) => createVerifyBlobBackupActivity(runtime().clients)(input),
});
