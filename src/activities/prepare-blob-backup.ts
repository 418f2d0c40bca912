/**
 * Resolves a backup request to the exact source version (its snapshot, or the live blob pinned by ETag), creates the
 * backup container when missing, and finishes early when there is nothing to do: a stale live request, a vanished
 * source, or a backup that already holds this or a newer version.
 */

import type { BlobAccount } from "../config/clients";
import { compareWithHeld, heldVersion } from "../domain/blob-backup";
import { prepareBackupInputSchema, type PrepareBackupResult, prepareBackupResultSchema } from "../domain/blob-backup-activities";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { blobClient, containerClient } from "../storage/addressed-clients";
import { isNotFound } from "../storage/rest-errors";
import { resolveSourceVersion } from "../storage/source-version";

export function createPrepareBlobBackupActivity(deps: { readonly source: BlobAccount; readonly backup: BlobAccount }) {
  return async (raw: unknown): Promise<PrepareBackupResult> => {
    const input = prepareBackupInputSchema.parse(raw);
    const resolved = await resolveSourceVersion(deps.source, input.request);
    if (resolved.kind === "skipped") return prepareBackupResultSchema.parse(resolved);
    const container = containerClient(deps.backup.service, input.backupContainer);
    await container.createIfNotExists();
    try {
      const held = heldVersion((await blobClient(container, input.request.blob).getProperties()).metadata);
      const order = compareWithHeld(resolved.version, held);
      if (order === "same") return { kind: "skipped", reason: "the backup already holds this version" };
      if (order === "older") {
        return { kind: "skipped", reason: `superseded: the backup already holds a newer version (last modified ${held.lastModified ?? "?"})` };
      }
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    return prepareBackupResultSchema.parse(resolved);
  };
}

registerActivity(Activities.prepareBlobBackup, ({ clients }) => createPrepareBlobBackupActivity(clients));
