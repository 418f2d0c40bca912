/**
 * The batch backup's copy activity: up to BATCH_CHUNK_VERSIONS small versions of one container copied and verified with
 * bounded concurrency (BATCH_COPY_CONCURRENCY; src/storage/batch-copy.ts), one outcome per version. The backup
 * container and history mode come from the settings, as in the single-blob backup. Idempotent: a retry finds what it
 * already copied by its request ids and reports it copied, and skips what another copy wrote.
 */

import type { BlobAccount } from "../config/clients";
import { batchCopyInputSchema, type BatchCopyResult, batchCopyResultSchema } from "../domain/blob-batch-backup";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { backupDestinationOf, type BackupDestinationSettings } from "../storage/backup-target";
import { type BatchCopyDeps, copyBatch } from "../storage/batch-copy";

export function createCopyBlobBatchActivity(deps: Omit<BatchCopyDeps, "settings"> & { readonly settings: BatchCopyDeps["settings"] & BackupDestinationSettings; readonly backup: BlobAccount }) {
  return async (raw: unknown): Promise<BatchCopyResult> => {
    const input = batchCopyInputSchema.parse(raw);
    const target = backupDestinationOf(deps.settings, input.container);
    return batchCopyResultSchema.parse({ outcomes: await copyBatch(deps, target, input) });
  };
}

registerActivity(Activities.copyBlobBatch, ({ clients, settings }) => createCopyBlobBatchActivity({ source: clients.source, backup: clients.backup, settings }));
