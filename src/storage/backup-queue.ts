/**
 * Sends backup requests to the backup queue. The queue is created on first use (once per sender), so a fresh
 * deployment needs no manual step; every message goes through `encodeBackupRequest`, the schema the consumer parses.
 */
import type { QueueClient } from "@azure/storage-queue";

import { type BackupRequest, encodeBackupRequest } from "../domain/backup-request";
import { mapBounded } from "../domain/map-bounded";

export interface BackupQueueSender {
  send(requests: readonly BackupRequest[]): Promise<number>;
}

export function createBackupQueueSender(queue: QueueClient, concurrency: number): BackupQueueSender {
  let created: Promise<unknown> | undefined;
  const ensureQueue = (): Promise<unknown> => {
    created ??= queue.createIfNotExists().catch((err: unknown) => {
      created = undefined;
      throw err;
    });
    return created;
  };
  return {
    async send(requests) {
      if (requests.length === 0) return 0;
      // Encode all first: an invalid request fails the batch before anything is sent.
      const messages = requests.map(encodeBackupRequest);
      await ensureQueue();
      await mapBounded(messages, concurrency, (m) => queue.sendMessage(m));
      return messages.length;
    },
  };
}
