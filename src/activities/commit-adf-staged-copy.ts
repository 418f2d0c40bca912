/**
 * Copy engine `adf`, after a Succeeded run: moves the blob the run staged (STAGING_CONTAINER/<requestId>) into the
 * backup blob with the conditional-write protocol (src/copy/server-copy.ts), then deletes the staging blob. So the
 * ADF engine keeps the same guarantees as the server engine: history snapshot, and never an older over a newer version.
 */

import type { BlobAccount } from "../config/clients";
import { STAGING_CONTAINER } from "../copy/adf-pipeline";
import { conditionalCopy, DEFAULT_SERVER_COPY_OPTIONS } from "../copy/server-copy";
import { BackupMetadata, backupMetadata } from "../domain/blob-backup";
import { commitStagedCopyInputSchema, type CopyResult } from "../domain/blob-backup-activities";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { blobIn } from "../storage/addressed-clients";
import { isNotFound } from "../storage/rest-errors";
import { sourceReadUrl } from "../storage/source-sas";

export function createCommitAdfStagedCopyActivity(deps: { readonly backup: BlobAccount }) {
  return async (raw: unknown): Promise<CopyResult> => {
    const input = commitStagedCopyInputSchema.parse(raw);
    const staged = blobIn(deps.backup.service, STAGING_CONTAINER, input.requestId);
    let etag: string | undefined;
    try {
      const p = await staged.getProperties();
      etag = p.etag;
      if (p.contentLength !== input.version.contentLength) {
        return { kind: "failed", reason: `the run staged ${p.contentLength ?? "?"} bytes, the source has ${input.version.contentLength}` };
      }
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    // The backup already holding this version at commit time means an earlier attempt of this commit did it (prepare
    // skipped the request otherwise, and the instance id is per version).
    const target = blobIn(deps.backup.service, input.backupContainer, input.version.blob);
    const held = await target.getProperties().then(
      (p) => p.metadata?.[BackupMetadata.etag],
      (err: unknown) => {
        if (isNotFound(err)) return undefined;
        throw err;
      },
    );
    if (held === input.version.etag) {
      await staged.deleteIfExists();
      return { kind: "copied", bytes: input.version.contentLength };
    }
    if (etag === undefined) return { kind: "failed", reason: `the run left no staging blob ${STAGING_CONTAINER}/${input.requestId}` };
    const url = await sourceReadUrl(deps.backup, STAGING_CONTAINER, input.requestId, undefined, new Date(Date.now() + 60 * 60_000));
    const result = await conditionalCopy(deps.backup, input, backupMetadata(input.version, "adf", input.copiedAt), { url, etag }, DEFAULT_SERVER_COPY_OPTIONS);
    if (result.kind !== "failed") await staged.deleteIfExists();
    return result;
  };
}

registerActivity(Activities.commitAdfStagedCopy, ({ clients }) => createCommitAdfStagedCopyActivity(clients));
