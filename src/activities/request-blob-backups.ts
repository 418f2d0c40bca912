/**
 * The batch backup hands the versions it could not do to the single-blob backup: one v1 request each on the backup
 * queue, so each gets its own orchestration (retries with durable back-off, the lease back-off, the large-blob path)
 * and, if it still fails, its own Failed instance where failed backups are looked for. Idempotent: a request sent
 * twice maps to the same instance id.
 */
import type { QueueClient } from "@azure/storage-queue";

import { requestBackupsInputSchema, requestBackupsResultSchema } from "../domain/blob-batch-backup";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { createBackupQueueSender } from "../storage/backup-queue";

export function createRequestBlobBackupsActivity(deps: { readonly backupQueue: QueueClient; readonly concurrency: number }) {
  // Every request on its own (batchMaxBlobBytes 0): these are exactly the versions a batch could not do.
  const sender = createBackupQueueSender(deps.backupQueue, { concurrency: deps.concurrency, batchMaxBlobBytes: 0 });
  return async (raw: unknown) => {
    const input = requestBackupsInputSchema.parse(raw);
    const sent = await sender.send(input.requests);
    if (sent.invalid > 0) throw new Error(`${sent.invalid} handed-off requests failed their schema`);
    return requestBackupsResultSchema.parse({ sent: sent.sent });
  };
}

registerActivity(Activities.requestBlobBackups, ({ clients, settings }) =>
  createRequestBlobBackupsActivity({ backupQueue: clients.backupQueue, concurrency: settings.snapshotConcurrency }));
