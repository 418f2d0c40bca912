/**
 * Helpers for container-scan tests and the scan benchmark: seed blobs with bounded concurrency, list what a container
 * holds, drain the backup queue, and add an HTTP pipeline policy to a storage client (fault injection, request counts).
 */
import type { PipelinePolicy } from "@azure/core-rest-pipeline";
import type { BlobServiceClient, ContainerClient } from "@azure/storage-blob";
import type { QueueClient } from "@azure/storage-queue";

import { type BackupRequest, parseBackupMessage, requestsOf } from "../../src/domain/backup-request";
import { canonicalEtag } from "../../src/domain/etag";
import { mapBounded } from "../../src/domain/map-bounded";

/** Uploads `names` (content = the name, or `content(name)`) with at most `concurrency` uploads in flight. */
export async function seedBlobs(
  container: ContainerClient,
  names: readonly string[],
  options: { concurrency?: number; content?: (name: string) => string; metadata?: Record<string, string> } = {},
): Promise<void> {
  await mapBounded(names, options.concurrency ?? 32, async (name) => {
    const body = options.content?.(name) ?? name;
    await container.getBlockBlobClient(name).upload(body, Buffer.byteLength(body), {
      ...(options.metadata !== undefined && { metadata: options.metadata }),
    });
  });
}

export interface ListedSnapshot {
  readonly name: string;
  readonly snapshot: string;
  readonly etag: string;
}

/** Every snapshot in the container (a listing without page size, so Azurite's page-boundary quirk cannot bite below 5,000). */
export async function listSnapshots(container: ContainerClient): Promise<ListedSnapshot[]> {
  const out: ListedSnapshot[] = [];
  for await (const item of container.listBlobsFlat({ includeSnapshots: true })) {
    if (item.snapshot !== undefined && item.snapshot !== "") out.push({ name: item.name, snapshot: item.snapshot, etag: canonicalEtag(item.properties.etag ?? "") });
  }
  return out;
}

/** Receives and deletes every visible message of the queue; each must be a valid backup request. */
export async function drainRequests(queue: QueueClient): Promise<BackupRequest[]> {
  const out: BackupRequest[] = [];
  if (!(await queue.exists())) return out;
  for (;;) {
    const { receivedMessageItems } = await queue.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 60 });
    if (receivedMessageItems.length === 0) return out;
    for (const m of receivedMessageItems) {
      // A batch (v2) stands for its versions' requests.
      const parsed = parseBackupMessage(Buffer.from(m.messageText, "base64").toString("utf8"));
      if (!parsed.ok) throw new Error(parsed.reason);
      out.push(...(parsed.message.v === 2 ? requestsOf(parsed.message) : [parsed.message]));
      await queue.deleteMessage(m.messageId, m.popReceipt);
    }
  }
}

interface WithCorePipeline {
  readonly storageClientContext: { readonly pipeline: { addPolicy(policy: PipelinePolicy, options?: { afterPhase?: "Retry" }): void } };
}

/**
 * Adds a policy to the client's HTTP pipeline. The storage SDKs share one core pipeline between a service client and
 * the container/blob clients derived from it, so the policy sees all their requests. (The pipeline is not public API;
 * this is test and benchmark support only.)
 */
export function addPipelinePolicy(client: BlobServiceClient | QueueClient, policy: PipelinePolicy): void {
  (client as unknown as WithCorePipeline).storageClientContext.pipeline.addPolicy(policy, { afterPhase: "Retry" });
}

/** A character beyond the BMP: UTF-16 sorts it before U+E000, UTF-8 after. */
export const ASTRAL = "\u{1F600}";
/** The first private-use character. */
export const PRIVATE = "\uE000";
/**
 * Names whose order or nesting puts them at the edges of listing ranges: a name that is also a directory, empty
 * segments, names sorting just after a directory's prefix, names that need escaping in a URL, NFC and NFD forms,
 * astral and private-use characters (the last code points of the order a range's upper bound has to reach).
 */
export const RANGE_EDGE_NAMES: readonly string[] = [
  "a",
  "a/",
  "a/b",
  "a//c",
  "a/b/c",
  "a0",
  "a.b",
  "A",
  "_top",
  "dir/.hidden",
  "b c/d e.txt",
  "b c/f",
  "50%/x#1",
  "50%.csv",
  "x#1",
  "why?/q?.json",
  "why?.json",
  "日本/データ.csv",
  "café.txt",
  "cafe\u0301.txt",
  ASTRAL,
  `${ASTRAL}/x`,
  `${ASTRAL}x`,
  PRIVATE,
  `${PRIVATE}/y`,
  `z${ASTRAL}`,
  `z${PRIVATE}`,
  "zz/last",
];
