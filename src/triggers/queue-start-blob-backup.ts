/**
 * Queue trigger on BACKUP_QUEUE: one backup request → one blob backup orchestration.
 *
 * - Invalid message: written to `<queue>-poison` as base64 JSON `{ reason, message, id, dequeueCount, rejectedAt }` and
 *   the function returns normally, so the host deletes the original. A malformed message never gets the host's five
 *   blind retries, and the poison queue tells the operator why it is there. Invalid also means: another account than
 *   the configured lake, or a container the settings do not back up (src/domain/container-policy.ts).
 * - Valid message: starts the orchestration with an instance id derived from the blob and its version
 *   (blobBackupInstanceId), so a duplicate delivery finds the instance and does nothing. An instance that ended badly
 *   (runtime status Failed/Terminated, or output status "Failed") is started again: a re-sent request, e.g. by
 *   reconciliation, is how a failed backup is retried. A completed instance is started again for a reconciliation
 *   request too: reconciliation found that the backup no longer holds that version (e.g. the backup blob was deleted).
 * - Errors talking to the task hub throw: the host retries the message and poisons it after maxDequeueCount.
 */
import { app, type InvocationContext } from "@azure/functions";
import type { QueueClient } from "@azure/storage-queue";
import * as df from "durable-functions";

import { queueService } from "../config/clients";
import { DEFAULT_BACKUP_QUEUE, type Settings } from "../config/settings";
import { parseBackupRequest, type ParsedBackupRequest } from "../domain/backup-request";
import { type BlobBackupInput, blobBackupInstanceId } from "../domain/blob-backup";
import { existingInstanceAction } from "../domain/blob-backup-instance";
import { backupTargetOf } from "../domain/container-policy";
import { describeError } from "../domain/errors";
import { backupContainerName } from "../domain/names";
import { poisonMessage } from "../domain/poison-message";
import { Orchestrators, Triggers } from "../function-names";
import { runtime } from "../runtime";

let poisonQueue: QueueClient | undefined;

function poisonQueueOf(settings: Settings): QueueClient {
  poisonQueue ??= queueService(settings.functionStorage).getQueueClient(`${settings.backupQueue}-poison`);
  return poisonQueue;
}

/** The orchestration input: the request plus the settings that steer its control flow. */
export function blobBackupInput(request: BlobBackupInput["request"], settings: Settings): BlobBackupInput {
  return {
    request,
    options: {
      engine: settings.copyEngine,
      backupContainer: backupContainerName(settings.backupContainerTemplate, request.container),
      backupHistory: settings.backupHistory,
      blobLease: settings.blobLease,
      leaseSeconds: settings.leaseSeconds,
      copyPollSeconds: settings.copyPollSeconds,
      copyTimeoutMinutes: settings.copyTimeoutMinutes,
    },
  };
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
  const request = parsed.request;
  const input = blobBackupInput(request, settings);
  const instanceId = blobBackupInstanceId(request);
  const client = df.getClient(context);

  let existing: df.DurableOrchestrationStatus | undefined;
  try {
    existing = await client.getStatus(instanceId);
  } catch (err) {
    // The client throws on 404 ("no data associated with the instanceId"): there is no such instance yet.
    if (!describeError(err).includes("404")) throw err;
  }
  const action = existingInstanceAction(existing, request.reason);
  if (action === "duplicate") {
    context.log(`duplicate backup request for ${JSON.stringify(`${request.container}/${request.blob}`)} (instance ${instanceId} ${existing?.runtimeStatus ?? ""})`);
    return;
  }
  try {
    await client.startNew(Orchestrators.blobBackup, { instanceId, input });
  } catch (err) {
    // Two copies of the message raced to start the same instance: the other one won, which is what we want.
    const again = await client.getStatus(instanceId).catch(() => undefined);
    if (existingInstanceAction(again) === "duplicate") return;
    throw err;
  }
  context.log(`${action === "restart" ? "restarted" : "started"} backup of ${JSON.stringify(`${request.container}/${request.blob}`)} as ${instanceId}`);
}

app.storageQueue(Triggers.queueStartBlobBackup, {
  // Read when the functions are indexed, with the documented default: a `%BACKUP_QUEUE%` binding expression would keep
  // the host from indexing the app when the setting is absent.
  queueName: process.env.BACKUP_QUEUE?.trim() || DEFAULT_BACKUP_QUEUE,
  connection: "AzureWebJobsStorage",
  extraInputs: [df.input.durableClient()],
  handler: queueStartBlobBackup,
});
