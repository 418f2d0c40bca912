/**
 * Queue trigger on BACKUP_QUEUE: a single request (v1) → one blob backup orchestration; a batch of small versions (v2)
 * → one batch backup orchestration. Thin: validate, start, log.
 *
 * - Invalid message: written to `<queue>-poison` as base64 JSON `{ reason, message, id, dequeueCount, rejectedAt }`
 *   (src/domain/poison-message.ts: always fits a queue message) and the function returns normally, so the host deletes
 *   the original. A malformed message never gets the host's five blind retries, and the poison queue tells the
 *   operator why it is there. Invalid also means: another account than the configured lake, or a container the
 *   settings do not back up (src/domain/container-policy.ts).
 * - Valid message: starts (or restarts, or leaves alone) the orchestration whose instance id is derived from the blob
 *   and its version, or from the batch's versions (src/durable/instances.ts): a duplicate delivery does nothing, a
 *   re-sent request retries a failed backup. The input is the message alone: the settings decide the rest inside the
 *   activities.
 * - Errors talking to the task hub throw: the host retries the message and poisons it after maxDequeueCount.
 */
import { app, type InvocationContext } from "@azure/functions";
import type { QueueClient } from "@azure/storage-queue";
import * as df from "durable-functions";

import { queueService } from "../config/clients";
import { DEFAULT_BACKUP_QUEUE, type Settings } from "../config/settings";
import { parseBackupMessage, type ParsedBackupMessage } from "../domain/backup-request";
import { blobBackupInstanceId } from "../domain/blob-backup";
import { blobBatchInstanceId } from "../domain/blob-batch-backup";
import { backupTargetOf } from "../domain/container-policy";
import { poisonMessage } from "../domain/poison-message";
import { startBlobBackup, startBlobBatchBackup } from "../durable/instances";
import { Triggers } from "../function-names";
import { runtime } from "../runtime";

let poisonQueue: QueueClient | undefined;

function poisonQueueOf(settings: Settings): QueueClient {
  poisonQueue ??= queueService(settings.functionStorage).getQueueClient(`${settings.backupQueue}-poison`);
  return poisonQueue;
}

/** A valid message for the configured lake and a container the settings back up; the reason otherwise. */
function acceptedMessage(message: unknown, settings: Settings, lakeAccount: string): ParsedBackupMessage {
  const parsed = parseBackupMessage(message);
  if (!parsed.ok) return parsed;
  const { account, container } = parsed.message;
  if (account !== lakeAccount) return { ok: false, reason: `account ${JSON.stringify(account)} is not the configured lake account (SourceStorage)` };
  const target = backupTargetOf(settings, container);
  if (!target.ok) return { ok: false, reason: target.reason };
  return parsed;
}

async function queueStartBlobBackup(message: unknown, context: InvocationContext): Promise<void> {
  const { settings, clients } = runtime();
  const parsed = acceptedMessage(message, settings, clients.source.accountName);
  if (!parsed.ok) {
    const poison = poisonQueueOf(settings);
    await poison.createIfNotExists();
    const encoded = poisonMessage({
      reason: parsed.reason,
      message,
      id: context.triggerMetadata?.id ?? null,
      dequeueCount: context.triggerMetadata?.dequeueCount ?? null,
      rejectedAt: new Date().toISOString(),
    });
    await poison.sendMessage(encoded);
    context.warn(`invalid backup request moved to ${poison.name}: ${JSON.stringify(parsed.reason.slice(0, 500))}`);
    return;
  }
  const client = df.getClient(context);
  if (parsed.message.v === 2) {
    const batch = parsed.message;
    const instanceId = blobBatchInstanceId(batch);
    const what = `batch of ${batch.versions.length} in ${JSON.stringify(batch.container)}`;
    const start = await startBlobBatchBackup(client, instanceId, { batch });
    if (start.action === "duplicate") context.log(`duplicate ${what} (instance ${instanceId} ${start.runtimeStatus})`);
    else context.log(`${start.action} backup ${what} as ${instanceId}`);
    return;
  }
  const request = parsed.message;
  const instanceId = blobBackupInstanceId(request);
  const what = JSON.stringify(`${request.container}/${request.blob}`);
  const start = await startBlobBackup(client, instanceId, { request });
  if (start.action === "duplicate") context.log(`duplicate backup request for ${what} (instance ${instanceId} ${start.runtimeStatus})`);
  else context.log(`${start.action} backup of ${what} as ${instanceId}`);
}

app.storageQueue(Triggers.queueStartBlobBackup, {
  // Read when the functions are indexed, with the documented default: a `%BACKUP_QUEUE%` binding expression would keep
  // the host from indexing the app when the setting is absent.
  queueName: process.env.BACKUP_QUEUE?.trim() || DEFAULT_BACKUP_QUEUE,
  connection: "AzureWebJobsStorage",
  extraInputs: [df.input.durableClient()],
  handler: queueStartBlobBackup,
});
