/**
 * Copy engine `adf`, after a Succeeded run: moves the blob the run staged (STAGING_CONTAINER/<requestId>) into the
 * backup blob with the conditional-write protocol (src/copy/server-copy.ts), writing the backup's metadata, then
 * deletes the staging blob and the run marker. So the ADF engine keeps the same guarantees as the server engine:
 * history, and never an older over a newer version. A live (ETag-pinned) source is re-checked first: the pipeline read
 * it without a condition, so an ETag that changed during the run means the staged bytes may be another version.
 */

import type { BlobAccount } from "../config/clients";
import { runMarkerName, STAGING_CONTAINER } from "../copy/adf-pipeline";
import { conditionalCopy, copyOptionsOf, DEFAULT_SERVER_COPY_OPTIONS, type ServerCopyOptions } from "../copy/server-copy";
import { backupMetadata, heldVersion } from "../domain/blob-backup";
import { commitStagedCopyInputSchema, type CopyResult } from "../domain/blob-backup-activities";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { blobIn } from "../storage/addressed-clients";
import { backupDestinationOf,type BackupDestinationSettings } from "../storage/backup-target";
import { isNotFound } from "../storage/rest-errors";
import { sourceReadUrl } from "../storage/source-sas";
import { withSourceMetadata } from "../storage/source-version";

const orUndefinedWhenMissing = (err: unknown): undefined => {
  if (isNotFound(err)) return undefined;
  throw err;
};

export interface CommitAdfStagedCopyDeps {
  readonly source: BlobAccount;
  readonly backup: BlobAccount;
  readonly settings: BackupDestinationSettings;
}

export function createCommitAdfStagedCopyActivity(deps: CommitAdfStagedCopyDeps, options: ServerCopyOptions = DEFAULT_SERVER_COPY_OPTIONS) {
  return async (raw: unknown): Promise<CopyResult> => {
    const input = commitStagedCopyInputSchema.parse(raw);
    const { version } = input;
    const target = backupDestinationOf(deps.settings, version.container);
    const staged = blobIn(deps.backup.service, STAGING_CONTAINER, input.requestId);
    const cleanUp = async (): Promise<void> => {
      await staged.deleteIfExists();
      await blobIn(deps.backup.service, STAGING_CONTAINER, runMarkerName(input.requestId)).deleteIfExists();
    };

    // An earlier attempt of this commit may have written the backup and lost its answer (its staging blob is gone).
    const held = await blobIn(deps.backup.service, target.container, version.blob)
      .getProperties()
      .then((p) => heldVersion(p.metadata), orUndefinedWhenMissing);
    if (held?.etag === version.etag && held.requestId === input.requestId) {
      await cleanUp();
      return { kind: "copied", bytes: version.contentLength };
    }
    // Also the re-check of a live source: its metadata is read only while it still has the version's ETag.
    const withMetadata = await withSourceMetadata(deps.source, version);
    if (withMetadata.kind === "skipped") {
      await cleanUp();
      return withMetadata;
    }
    const p = await staged.getProperties().catch(orUndefinedWhenMissing);
    if (p?.etag === undefined) return { kind: "failed", reason: `the run left no staging blob ${STAGING_CONTAINER}/${input.requestId}` };
    if (p.contentLength !== version.contentLength) {
      return { kind: "failed", reason: `the run staged ${p.contentLength ?? "?"} bytes, the source has ${version.contentLength}` };
    }
    const url = await sourceReadUrl(deps.backup, STAGING_CONTAINER, input.requestId, undefined, new Date(Date.now() + 60 * 60_000));
    const result = await conditionalCopy(deps.backup, target, input, backupMetadata(withMetadata.version, "adf", input.copiedAt, input.requestId), { url, etag: p.etag }, options);
    if (result.kind !== "failed") await cleanUp();
    return result;
  };
}

registerActivity(Activities.commitAdfStagedCopy, ({ clients, settings }) => createCommitAdfStagedCopyActivity({ ...clients, settings }, copyOptionsOf(settings)));
