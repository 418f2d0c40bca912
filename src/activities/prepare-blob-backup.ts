/**
 * Resolves a backup request to the exact source version (its snapshot, or the live blob pinned by ETag), creates the
 * backup container when missing, and finishes early when there is nothing to do: a stale live request, a vanished
 * source, or a backup that already holds this or a newer version. Returns, with the version, the plan the
 * orchestration follows — read here from the settings, since orchestrators read none and inputs decide nothing.
 */

import type { BlobAccount } from "../config/clients";
import type { Settings } from "../config/settings";
import { copyOptionsOf, DEFAULT_SERVER_COPY_OPTIONS, type ServerCopyOptions } from "../copy/server-copy";
import { backupMetadataProblem, type BlobBackupPlan, compareWithHeld, heldVersion, type SourceVersionWithMetadata } from "../domain/blob-backup";
import { prepareBackupInputSchema, type PrepareBackupResult, prepareBackupResultSchema } from "../domain/blob-backup-activities";
import { blockLayout, MAX_BLOCK_BLOB_BYTES } from "../domain/block-layout";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { blobClient, containerClient } from "../storage/addressed-clients";
import { backupDestinationOf, type BackupDestinationSettings } from "../storage/backup-target";
import { isNotFound } from "../storage/rest-errors";
import { resolveSourceVersion } from "../storage/source-version";

export type PlanSettings = Pick<Settings, "copyEngine" | "blobLease" | "leaseSeconds" | "copyPollSeconds" | "copyTimeoutMinutes"> &
  Partial<Pick<Settings, "adfMinBlobBytes">> &
  BackupDestinationSettings;

/** The plan, or why the version cannot be backed up. */
export function planFor(
  settings: PlanSettings,
  version: SourceVersionWithMetadata,
  copy: Pick<ServerCopyOptions, "syncCopyMaxBytes" | "blockBytes"> = DEFAULT_SERVER_COPY_OPTIONS,
): BlobBackupPlan | { readonly problem: string } {
  const metadataProblem = backupMetadataProblem(version, settings.copyEngine);
  if (metadataProblem !== undefined) return { problem: metadataProblem };
  let blocks;
  if (version.contentLength > copy.syncCopyMaxBytes) {
    // Too large for one Copy Blob From URL, and perhaps for one activity: copied in steps of block ranges (engine `adf`:
    // from the blob its run staged).
    blocks = blockLayout(version.contentLength, copy.blockBytes);
    if (blocks === undefined) return { problem: `the blob has ${version.contentLength} bytes, more than a block blob can hold (${MAX_BLOCK_BLOB_BYTES})` };
  }
  return {
    // ADF where it pays: a run costs at least a minute of 4 DIUs whatever the size, so smaller blobs are copied
    // server-side (ADF_MIN_BLOB_BYTES).
    engine: settings.copyEngine === "adf" && version.contentLength < (settings.adfMinBlobBytes ?? 0) ? "server" : settings.copyEngine,
    // A snapshot never changes, so only a live (ETag-pinned) version is worth holding a lease on.
    ...(settings.blobLease && version.snapshot === undefined && { leaseSeconds: settings.leaseSeconds }),
    copyPollSeconds: settings.copyPollSeconds,
    copyTimeoutMinutes: settings.copyTimeoutMinutes,
    ...(blocks !== undefined && { blocks }),
  };
}

export function createPrepareBlobBackupActivity(
  deps: { readonly source: BlobAccount; readonly backup: BlobAccount; readonly settings: PlanSettings },
  copy: Pick<ServerCopyOptions, "syncCopyMaxBytes" | "blockBytes"> = DEFAULT_SERVER_COPY_OPTIONS,
) {
  return async (raw: unknown): Promise<PrepareBackupResult> => {
    const input = prepareBackupInputSchema.parse(raw);
    const resolved = await resolveSourceVersion(deps.source, input.request);
    if (resolved.kind === "skipped") return prepareBackupResultSchema.parse(resolved);
    const container = containerClient(deps.backup.service, backupDestinationOf(deps.settings, input.request.container).container);
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
    const plan = planFor(deps.settings, { ...resolved.version, metadata: resolved.metadata }, copy);
    if ("problem" in plan) return { kind: "failed", reason: plan.problem };
    // The version without the lake's metadata: this result is stored in the orchestration's history.
    return prepareBackupResultSchema.parse({ kind: "ready", version: resolved.version, plan });
  };
}

registerActivity(Activities.prepareBlobBackup, ({ clients, settings }) => createPrepareBlobBackupActivity({ ...clients, settings }, copyOptionsOf(settings)));
