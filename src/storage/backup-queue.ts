/**
 * Sends backup requests to the backup queue. The queue is created on first use (once per sender), so a fresh
 * deployment needs no manual step. Small versions travel in batch messages, large ones one message each
 * (`encodeBackupMessages`, the schemas the consumer parses); the messages go out in parallel, at most `concurrency` at
 * once, and `send` returns only when every one was accepted, so a scan that reports Completed has requested everything.
 */
import type { QueueClient } from "@azure/storage-queue";

import { type BackupBatch, type BackupRequest, encodeBackupBatch, encodeBackupMessages } from "../domain/backup-request";
import { mapBounded } from "../domain/map-bounded";

export interface SendResult {
  /** Requests enqueued (versions, not messages). */
  readonly sent: number;
  /** Requests that failed their schema: counted and skipped, never sent. */
  readonly invalid: number;
  /** Queue messages sent. */
  readonly messages: number;
}

export interface BackupQueueSender {
  send(requests: readonly BackupRequest[]): Promise<SendResult>;
  /** Sends a batch message again as it is (its instance id is derived from it: the same batch instance restarts). */
  sendBatch(batch: BackupBatch): Promise<void>;
}

export interface SenderOptions {
  readonly concurrency: number;
  /** Versions smaller than this are batched (BATCH_MAX_BLOB_BYTES); 0 sends every request on its own. */
  readonly batchMaxBlobBytes: number;
}

export function createBackupQueueSender(queue: QueueClient, options: SenderOptions): BackupQueueSender {
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
      const { messages, invalid } = encodeBackupMessages(requests, options.batchMaxBlobBytes);
      if (messages.length === 0) return { sent: 0, invalid, messages: 0 };
      await ensureQueue();
      await mapBounded(messages, options.concurrency, (m) => queue.sendMessage(m));
      return { sent: requests.length - invalid, invalid, messages: messages.length };
    },
    async sendBatch(batch) {
      const message = encodeBackupBatch(batch);
      await ensureQueue();
      await queue.sendMessage(message);
    },
  };
}
