/**
 * The conditional-write protocol that keeps a backup blob on the newest version (DESIGN.md, "Backup requests"):
 * read the backup blob's ETag and recorded version, refuse to go backwards, keep the current content as a snapshot,
 * then write only if the backup blob still has the ETag we read (or still does not exist). A writer that loses the race
 * gets 412 and starts over from a fresh read, so two copies of different versions can never leave the older one.
 */
import type { BlobRequestConditions, BlockBlobClient } from "@azure/storage-blob";

import { compareWithHeld, heldVersion, type SourceVersion } from "../domain/blob-backup";
import { isNotFound, isPreconditionFailed } from "./rest-errors";

export type TargetDecision =
  | { readonly kind: "write"; readonly conditions: BlobRequestConditions }
  | { readonly kind: "skipped"; readonly reason: string }
  /** The backup blob changed between our read and our snapshot: read again. */
  | { readonly kind: "raced" };

export async function prepareTarget(
  target: BlockBlobClient,
  version: SourceVersion,
  history: "snapshot" | "versioning",
): Promise<TargetDecision> {
  let properties;
  try {
    properties = await target.getProperties();
  } catch (err) {
    if (isNotFound(err)) return { kind: "write", conditions: { ifNoneMatch: "*" } };
    throw err;
  }
  const etag = properties.etag;
  if (etag === undefined) throw new Error("the backup blob has no ETag");
  const held = heldVersion(properties.metadata);
  const order = compareWithHeld(version, held);
  if (order === "same") return { kind: "skipped", reason: "the backup already holds this version" };
  if (order === "older") {
    return { kind: "skipped", reason: `superseded: the backup already holds a newer version (last modified ${held.lastModified ?? "?"})` };
  }
  if (history === "snapshot") {
    try {
      // Snapshots are read-only and carry the metadata, so the previous version stays restorable as it was.
      await target.createSnapshot({ conditions: { ifMatch: etag } });
    } catch (err) {
      if (isPreconditionFailed(err)) return { kind: "raced" };
      throw err;
    }
  }
  return { kind: "write", conditions: { ifMatch: etag } };
}

/** Attempts at the read–snapshot–write cycle before a busy blob is reported as a transient failure. */
export const MAX_TARGET_ATTEMPTS = 5;
