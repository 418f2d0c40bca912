/**
 * Backup requests on the queue. Producer (scan, reconciliation) and consumer (the queue trigger) both go through this
 * module, so they cannot drift apart. Two message shapes:
 *
 * - `v: 1`, one blob version: what large versions travel as (one blob backup orchestration each: lease, ADF, staged
 *   blocks), and what the batch backup hands a version back as when it could not be done in the batch.
 * - `v: 2`, a batch: many small versions of one container, packed by encoded size so a message stays well under the
 *   queue's 64 KiB. One batch backup orchestration copies them (docs/architecture.md, "Batched backups").
 */
import { z } from "zod";

import { blobNameSchema } from "./name-schemas";
import { isValidAccountName, isValidContainerName } from "./names";

/** Azure snapshot ids are UTC timestamps with up to seven fractional digits, e.g. 2024-05-01T12:34:56.1234567Z. */
export const SNAPSHOT_ID = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,7})?Z$/;

/** Queue messages are limited to 64 KiB; base64 adds a third. */
export const MAX_ENCODED_MESSAGE_BYTES = 64 * 1024;

export const backupRequestSchema = z.strictObject({
  v: z.literal(1),
  account: z.string().refine(isValidAccountName, "must be a storage account name"),
  container: z.string().refine(isValidContainerName, "must be a container name"),
  blob: blobNameSchema,
  etag: z.string().min(1).max(256),
  snapshot: z.string().regex(SNAPSHOT_ID, "must be a snapshot id such as 2024-05-01T12:34:56.1234567Z").optional(),
  lastModified: z.iso.datetime({ offset: true }),
  contentLength: z.number().int().nonnegative(),
  reason: z.enum(["producer", "reconcile"]),
  requestedAt: z.iso.datetime({ offset: true }),
  /**
   * The requester saw no earlier version of this blob: no older lake snapshot, and no backup blob where it read the
   * backup listing. Only a hint for cost (the copy first tries a create-only write, and there is no older lake
   * snapshot to release); the conditional-write protocol still decides, so a wrong hint costs one request.
   */
  firstVersion: z.literal(true).optional(),
  /**
   * The oldest lake snapshot of this blob, other than `snapshot`, in the requester's listing (absent: not looked at).
   * Also only a hint for cost: under LAKE_SNAPSHOTS=keep-days:N, when it is younger than N days the release after the
   * backup has nothing to delete and makes no listings (`releaseMayDelete`); the retention run decides from its own
   * listings either way.
   */
  oldestLakeSnapshot: z.string().regex(SNAPSHOT_ID, "must be a snapshot id such as 2024-05-01T12:34:56.1234567Z").optional(),
});

export type BackupRequest = z.infer<typeof backupRequestSchema>;

/** One version inside a batch: the per-version fields of a v1 request. */
export const batchVersionSchema = z.strictObject({
  blob: blobNameSchema,
  etag: backupRequestSchema.shape.etag,
  snapshot: backupRequestSchema.shape.snapshot,
  lastModified: backupRequestSchema.shape.lastModified,
  contentLength: backupRequestSchema.shape.contentLength,
  firstVersion: backupRequestSchema.shape.firstVersion,
  oldestLakeSnapshot: backupRequestSchema.shape.oldestLakeSnapshot,
});
export type BatchVersion = z.infer<typeof batchVersionSchema>;

/** A batch never carries more versions than this, whatever their names' lengths (bounds an orchestration's input). */
export const MAX_BATCH_VERSIONS = 200;

export const backupBatchSchema = z.strictObject({
  v: z.literal(2),
  account: backupRequestSchema.shape.account,
  container: backupRequestSchema.shape.container,
  reason: backupRequestSchema.shape.reason,
  requestedAt: backupRequestSchema.shape.requestedAt,
  versions: z.array(batchVersionSchema).min(1).max(MAX_BATCH_VERSIONS),
});
export type BackupBatch = z.infer<typeof backupBatchSchema>;

/** The v1 request of each version of a batch (what the single-blob path and the shared copy code take). */
export function requestsOf(batch: BackupBatch): BackupRequest[] {
  return batch.versions.map((v) => ({
    v: 1,
    account: batch.account,
    container: batch.container,
    blob: v.blob,
    etag: v.etag,
    ...(v.snapshot !== undefined && { snapshot: v.snapshot }),
    lastModified: v.lastModified,
    contentLength: v.contentLength,
    reason: batch.reason,
    requestedAt: batch.requestedAt,
    ...(v.firstVersion === true && { firstVersion: true }),
    ...(v.oldestLakeSnapshot !== undefined && { oldestLakeSnapshot: v.oldestLakeSnapshot }),
  }));
}

/** The facts of a listed blob version that a request carries. */
export interface ListedVersion {
  readonly name: string;
  readonly etag: string;
  readonly snapshot?: string;
  readonly lastModified: string;
  readonly contentLength: number;
  /** No earlier version of the blob was seen (see `firstVersion` of a request). */
  readonly firstVersion?: boolean;
  /** See `oldestLakeSnapshot` of a request. */
  readonly oldestLakeSnapshot?: string;
}

/** The request for one listed version: its snapshot when there is one, else the live blob pinned by its ETag. */
export function backupRequestFor(
  account: string,
  container: string,
  version: ListedVersion,
  reason: BackupRequest["reason"],
  requestedAt: string,
): BackupRequest {
  return {
    v: 1,
    account,
    container,
    blob: version.name,
    etag: version.etag,
    ...(version.snapshot !== undefined && { snapshot: version.snapshot }),
    lastModified: version.lastModified,
    contentLength: version.contentLength,
    reason,
    requestedAt,
    ...(version.firstVersion === true && { firstVersion: true }),
    ...(version.oldestLakeSnapshot !== undefined && { oldestLakeSnapshot: version.oldestLakeSnapshot }),
  };
}

export type ParsedBackupRequest = { readonly ok: true; readonly request: BackupRequest } | { readonly ok: false; readonly reason: string };

export type BackupMessage = BackupRequest | BackupBatch;
export type ParsedBackupMessage = { readonly ok: true; readonly message: BackupMessage } | { readonly ok: false; readonly reason: string };

function issuesOf(error: z.ZodError): string {
  return error.issues.map((issue) => (issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message)).join("; ");
}

function jsonOf(body: unknown): { ok: true; value: unknown } | { ok: false } {
  if (typeof body !== "string") return { ok: true, value: body };
  try {
    return { ok: true, value: JSON.parse(body) as unknown };
  } catch {
    return { ok: false };
  }
}

/**
 * Validates a message body as the queue trigger hands it over: already base64-decoded, and already parsed when it was
 * JSON (the Functions host does both). A string is parsed here. `v` picks the shape: 1 a single request, 2 a batch.
 */
export function parseBackupMessage(body: unknown): ParsedBackupMessage {
  const json = jsonOf(body);
  if (!json.ok) return { ok: false, reason: "the message is not JSON" };
  const version = typeof json.value === "object" && json.value !== null ? (json.value as { v?: unknown }).v : undefined;
  if (version === 2) {
    const parsed = backupBatchSchema.safeParse(json.value);
    return parsed.success ? { ok: true, message: parsed.data } : { ok: false, reason: `invalid backup batch: ${issuesOf(parsed.error)}` };
  }
  const parsed = backupRequestSchema.safeParse(json.value);
  return parsed.success ? { ok: true, message: parsed.data } : { ok: false, reason: `invalid backup request: ${issuesOf(parsed.error)}` };
}

/** Validates a single (v1) request; a batch is refused. */
export function parseBackupRequest(body: unknown): ParsedBackupRequest {
  const json = jsonOf(body);
  if (!json.ok) return { ok: false, reason: "the message is not JSON" };
  const parsed = backupRequestSchema.safeParse(json.value);
  return parsed.success ? { ok: true, request: parsed.data } : { ok: false, reason: `invalid backup request: ${issuesOf(parsed.error)}` };
}

/** Encodes a request as the queue trigger expects it (base64 of the JSON text), refusing what could not be sent. */
export function encodeBackupRequest(request: BackupRequest): string {
  const checked = backupRequestSchema.parse(request);
  const encoded = Buffer.from(JSON.stringify(checked), "utf8").toString("base64");
  if (encoded.length > MAX_ENCODED_MESSAGE_BYTES) {
    throw new Error(`backup request for ${request.container}/${request.blob} exceeds the 64 KiB queue message limit`);
  }
  return encoded;
}

/**
 * A batch's JSON stays under this, so its base64 (4/3 of it) stays under 48 KiB — well inside the 64 KiB message
 * limit, with room for the host's envelope and for a poison entry that quotes the message whole.
 */
export const MAX_BATCH_JSON_BYTES = 36 * 1024;

const jsonBytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value), "utf8");

/**
 * The queue messages for `requests`: versions smaller than `batchMaxBlobBytes` packed into batches per (account,
 * container, reason, requestedAt), each batch under MAX_BATCH_JSON_BYTES and MAX_BATCH_VERSIONS; larger versions one
 * v1 message each. Every message is validated (a request that fails its schema is reported in `invalid`, never sent).
 * `batchMaxBlobBytes` 0 sends every request on its own.
 */
export function encodeBackupMessages(requests: readonly BackupRequest[], batchMaxBlobBytes: number): { messages: string[]; invalid: number } {
  const messages: string[] = [];
  let invalid = 0;
  const groups = new Map<string, { head: Omit<BackupBatch, "versions">; versions: BatchVersion[]; bytes: number }>();
  const flush = (key: string): void => {
    const group = groups.get(key);
    if (group === undefined || group.versions.length === 0) return;
    messages.push(encodeChecked(backupBatchSchema.parse({ ...group.head, versions: group.versions })));
    groups.delete(key);
  };
  for (const request of requests) {
    const checked = backupRequestSchema.safeParse(request);
    if (!checked.success) {
      invalid += 1;
      continue;
    }
    const r = checked.data;
    if (r.contentLength >= batchMaxBlobBytes) {
      messages.push(encodeChecked(r));
      continue;
    }
    const head = { v: 2 as const, account: r.account, container: r.container, reason: r.reason, requestedAt: r.requestedAt };
    const version: BatchVersion = {
      blob: r.blob,
      etag: r.etag,
      ...(r.snapshot !== undefined && { snapshot: r.snapshot }),
      lastModified: r.lastModified,
      contentLength: r.contentLength,
      ...(r.firstVersion === true && { firstVersion: true }),
      ...(r.oldestLakeSnapshot !== undefined && { oldestLakeSnapshot: r.oldestLakeSnapshot }),
    };
    const key = JSON.stringify(head);
    const size = jsonBytes(version) + 1;
    const open = groups.get(key);
    if (open !== undefined && (open.bytes + size > MAX_BATCH_JSON_BYTES || open.versions.length >= MAX_BATCH_VERSIONS)) flush(key);
    const group = groups.get(key) ?? { head, versions: [], bytes: jsonBytes({ ...head, versions: [] }) };
    group.versions.push(version);
    group.bytes += size;
    groups.set(key, group);
  }
  for (const key of [...groups.keys()]) flush(key);
  return { messages, invalid };
}

/**
 * A batch message as it was sent, to be sent again (reconciliation's repair of a failed or stuck batch): the queue
 * trigger derives the same instance id from it and restarts that instance.
 */
export function encodeBackupBatch(batch: BackupBatch): string {
  return encodeChecked(backupBatchSchema.parse(batch));
}

function encodeChecked(message: BackupMessage): string {
  const encoded = Buffer.from(JSON.stringify(message), "utf8").toString("base64");
  if (encoded.length > MAX_ENCODED_MESSAGE_BYTES) throw new Error(`a backup message for ${message.container} exceeds the 64 KiB queue message limit`);
  return encoded;
}
