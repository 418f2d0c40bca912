/**
 * The backup request: one blob version to copy into the backup account. Producer (scan, reconciliation) and consumer
 * (the queue-triggered backup) both go through this module, so they cannot drift apart.
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
});

export type BackupRequest = z.infer<typeof backupRequestSchema>;

/** The facts of a listed blob version that a request carries. */
export interface ListedVersion {
  readonly name: string;
  readonly etag: string;
  readonly snapshot?: string;
  readonly lastModified: string;
  readonly contentLength: number;
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
  };
}

export type ParsedBackupRequest = { readonly ok: true; readonly request: BackupRequest } | { readonly ok: false; readonly reason: string };

/**
 * Validates a message body as the queue trigger hands it over: already base64-decoded, and already parsed when it was
 * JSON (the Functions host does both). A string is parsed here.
 */
export function parseBackupRequest(body: unknown): ParsedBackupRequest {
  let value = body;
  if (typeof body === "string") {
    try {
      value = JSON.parse(body) as unknown;
    } catch {
      return { ok: false, reason: "the message is not JSON" };
    }
  }
  const parsed = backupRequestSchema.safeParse(value);
  if (parsed.success) return { ok: true, request: parsed.data };
  const reason = parsed.error.issues
    .map((issue) => (issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message))
    .join("; ");
  return { ok: false, reason: `invalid backup request: ${reason}` };
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
