/**
 * Queue trigger on BACKUP_QUEUE: one backup request → one blob backup orchestration. Thin: validate, start, log.
 *
 * - Invalid message: written to `<queue>-poison` as base64 JSON `{ reason, message, id, dequeueCount, rejectedAt }`
 *   (src/domain/poison-message.ts: always fits a queue message) and the function returns normally, so the host deletes
 *   the original. A malformed message never gets the host's five blind retries, and the poison queue tells the
 *   operator why it is there. Invalid also means: another account than the configured lake, or a container the
 *   settings do not back up (src/domain/container-policy.ts).
 * - Valid message: starts (or restarts, or leaves alone) the orchestration whose instance id is derived from the blob
 *   and its version (src/durable/instances.ts, startBlobBackup): a duplicate delivery does nothing, a re-sent request
 *   retries a failed backup. The input is the request alone: the settings decide the rest inside the activities.
 * - Errors talking to the task hub throw: the host retries the message and poisons it after maxDequeueCount.
 */
import { app, type InvocationContext } from "@azure/functions";
import type { QueueClient } from "@azure/storage-queue";
import * as df from "durable-functions";

import { queueService } from "../config/clients";
import { DEFAULT_BACKUP_QUEUE, type Settings } from "../config/settings";
import { parseBackupRequest, type ParsedBackupRequest } from "../domain/backup-request";
import { blobBackupInstanceId } from "../domain/blob-backup";
import { backupTargetOf } from "../domain/container-policy";
import { poisonMessage } from "../domain/poison-message";
import { startBlobBackup } from "../durable/instances";
import { Triggers } from "../function-names";
import { runtime } from "../runtime";

let poisonQueue: QueueClient | undefined;

function poisonQueueOf(settings: Settings): QueueClient {
  poisonQueue ??= queueService(settings.functionStorage).getQueueClient(`${settings.backupQueue}-poison`);
  return poisonQueue;
}

/** A valid request for the configured lake and a container the settings back up; the reason otherwise. */
function acceptedRequest(message: unknown, settings: Settings, lakeAccount: string): ParsedBackupRequest {
  const parsed = parseBackupRequest(message);
  if (!parsed.ok) return parsed;
  const { account, container } = parsed.request;
  if (account !== lakeAccount) return { ok: false, reason: `account ${JSON.stringify(account)} is not the configured lake account (SourceStorage)` };
  const target = backupTargetOf(settings, container);
  if (!target.ok) return { ok: false, reason: target.reason };
  return parsed;
}

async function queueStartBlobBackup(message: unknown, context: InvocationContext): Promise<void> {
  const { settings, clients } = runtime();
  const parsed = acceptedRequest(message, settings, clients.source.accountName);
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
  const { request } = parsed;
  const instanceId = blobBackupInstanceId(request);
  const what = JSON.stringify(`${request.container}/${request.blob}`);
  const start = await startBlobBackup(df.getClient(context), instanceId, { request });
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
