/**
 * Deleting one listed entry — a snapshot, a blob version or a base blob — the way retention counts it: gone (deleted
 * now, or already gone: a retried activity finds its own earlier delete), or refused by an immutability policy or a
 * legal hold, which is an expected outcome (the entry is counted as kept), not an error. Other failures throw, so the
 * activity's durable retry applies.
 */
import type { BlobClient } from "@azure/storage-blob";

import { errorCodeOf, statusOf } from "./rest-errors";

/**
 * What the Blob service answers a write or delete on an immutable blob (Blob service error codes: 409
 * BlobImmutableDueToPolicy, 409 BlobImmutableDueToLegalHold).
 */
const IMMUTABILITY_CODES = new Set(["BlobImmutableDueToPolicy", "BlobImmutableDueToLegalHold"]);

export function isImmutabilityRefusal(err: unknown): boolean {
  const code = errorCodeOf(err);
  return statusOf(err) === 409 && code !== undefined && IMMUTABILITY_CODES.has(code);
}

export interface EntryRef {
  readonly snapshot?: string;
  readonly versionId?: string;
}

export type DeleteOutcome = "deleted" | "refused";

export async function deleteEntry(blob: BlobClient, entry: EntryRef): Promise<DeleteOutcome> {
  const target = entry.snapshot !== undefined ? blob.withSnapshot(entry.snapshot) : entry.versionId !== undefined ? blob.withVersion(entry.versionId) : blob;
  try {
    await target.delete();
    return "deleted";
  } catch (err) {
    if (statusOf(err) === 404) return "deleted";
    if (isImmutabilityRefusal(err)) return "refused";
    throw err;
  }
}
