/**
 * Sends backup requests to the backup queue. The queue is created on first use (once per sender), so a fresh
 * deployment needs no manual step; every message goes through `encodeBackupRequest`, the schema the consumer parses.
 */
import type { QueueClient } from "@azure/storage-queue";

import { type BackupRequest, encodeBackupRequest } from "../domain/backup-request";
import { mapBounded } from "../domain/map-bounded";

export interface SendResult {
  /** Requests enqueued. */
  readonly sent: number;
  /** Requests that failed their schema (or would not fit a queue message): counted and skipped, never sent. */
  readonly invalid: number;
}

export interface BackupQueueSender {
  send(requests: readonly BackupRequest[]): Promise<SendResult>;
}

function encodeOrUndefined(request: BackupRequest): string | undefined {
  try {
    return encodeBackupRequest(request);
  } catch {
    return undefined;
  }
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
      // One request the consumer would refuse must not keep the rest of the page from being requested.
      const messages = requests.map(encodeOrUndefined).filter((m): m is string => m !== undefined);
      const invalid = requests.length - messages.length;
      if (messages.length === 0) return { sent: 0, invalid };
      await ensureQueue();
      await mapBounded(messages, concurrency, (m) => queue.sendMessage(m));
      return { sent: messages.length, invalid };
    },
  };
}
