/**
 * The conditional-write protocol that keeps a backup blob on the newest version (docs/architecture.md, "Blob backup"):
 * read the backup blob's ETag and recorded version, refuse to go backwards, keep the current content as a snapshot,
 * then write only if the backup blob still has the ETag we read (or still does not exist). A writer that loses the race
 * gets 412 and starts over from a fresh read, so two copies of different versions can never leave the older one.
 */
import type { BlobRequestConditions, BlockBlobClient } from "@azure/storage-blob";

import type { BackupHistory, Settings } from "../config/settings";
import { compareWithHeld, heldVersion, type SourceVersion } from "../domain/blob-backup";
import { backupTargetOf, type ContainerPolicy } from "../domain/container-policy";
import { isNotFound, isPreconditionFailed } from "./rest-errors";

/** Where a version's backup goes and how its history is kept: decided by the settings, never by an input. */
export interface BackupTarget {
  readonly container: string;
  readonly history: BackupHistory;
}

export type BackupDestinationSettings = ContainerPolicy & Pick<Settings, "backupHistory">;

/**
 * The backup container of a source container under the container policy (CONTAINERS, EXCLUDE_CONTAINERS, reserved
 * names, the template), and the history mode. The queue trigger and the starters refuse a container the policy
 * refuses before any backup starts; an activity reached anyway (a forged orchestration input) throws, so nothing is
 * written outside the policy.
 */
export function backupDestinationOf(settings: BackupDestinationSettings, sourceContainer: string): BackupTarget {
  const decision = backupTargetOf(settings, sourceContainer);
  if (!decision.ok) throw new Error(`refused by the container policy: ${decision.reason}`);
  return { container: decision.backupContainer, history: settings.backupHistory };
}

export type BackupTargetDecision =
  | { readonly kind: "write"; readonly conditions: BlobRequestConditions }
  | { readonly kind: "skipped"; readonly reason: string }
  /** The backup blob already holds this version, written by this very copy request (a retry after a lost response). */
  | { readonly kind: "ours" }
  /** The backup blob changed between our read and our snapshot: read again. */
  | { readonly kind: "raced" };

export async function prepareTarget(
  target: BlockBlobClient,
  version: SourceVersion,
  history: BackupHistory,
  requestId: string,
): Promise<BackupTargetDecision> {
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
  if (order === "same") return held.requestId === requestId ? { kind: "ours" } : { kind: "skipped", reason: "the backup already holds this version" };
  if (order === "older") {
    return { kind: "skipped", reason: `superseded: the backup already holds a newer version (last modified ${held.lastModified ?? "?"})` };
  }
  // With versioning the overwrite itself keeps the previous version. A current blob without a version id was written
  // while versioning was off (or it still is): keep it as a snapshot, so no history depends on an assumption.
  if (history === "snapshot" || properties.versionId === undefined) {
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
