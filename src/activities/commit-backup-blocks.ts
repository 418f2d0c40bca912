/**
 * The end of a copy in steps (engine `server`, or engine `adf` from the blob its run staged): commits the staged blocks of the version, in order, into the backup
 * blob under the conditional-write protocol (history kept, never an older version over a newer one), with the backup's
 * metadata. A live (ETag-pinned) source is re-checked just before: Put Block From URL read it without a source
 * condition, so an unchanged ETag is what proves every range came from the version resolved. Blocks that are gone
 * (another version's commit discards the uncommitted blocks of a blob) → `incomplete`: the orchestration stages them
 * again and commits once more.
 */
import type { BlobAccount } from "../config/clients";
import { runMarkerName, STAGING_CONTAINER } from "../copy/adf-pipeline";
import { BlocksMissing, commitBlocks } from "../copy/block-copy";
import { conditionalWrite, SourceChanged } from "../copy/server-copy";
import { backupMetadata } from "../domain/blob-backup";
import { commitBlocksInputSchema, type CommitBlocksResult, commitBlocksResultSchema } from "../domain/blob-backup-activities";
import { blockIds } from "../domain/block-layout";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { blobIn } from "../storage/addressed-clients";
import { backupDestinationOf, type BackupDestinationSettings } from "../storage/backup-target";
import { isNotFound } from "../storage/rest-errors";
import { withSourceMetadata } from "../storage/source-version";

export function createCommitBackupBlocksActivity(deps: { readonly source: BlobAccount; readonly backup: BlobAccount; readonly settings: BackupDestinationSettings }) {
  return async (raw: unknown): Promise<CommitBlocksResult> => {
    const input = commitBlocksInputSchema.parse(raw);
    const { version, layout } = input;
    const target = backupDestinationOf(deps.settings, version.container);
    // Engine `adf`: the run's staging blob and marker go once the backup holds the version or the version is stale.
    const cleanUp = async (): Promise<void> => {
      if (input.from !== "adfStaging") return;
      await blobIn(deps.backup.service, STAGING_CONTAINER, input.requestId).deleteIfExists();
      await blobIn(deps.backup.service, STAGING_CONTAINER, runMarkerName(input.requestId)).deleteIfExists();
    };
    const withMetadata = await withSourceMetadata(deps.source, version);
    if (withMetadata.kind === "skipped") {
      await cleanUp();
      return withMetadata;
    }
    const metadata = backupMetadata(withMetadata.version, input.from === "source" ? "server" : "adf", input.copiedAt, input.requestId);
    const ids = blockIds(version, layout);
    try {
      const result = await conditionalWrite(deps.backup, target, input, {}, async (blob, conditions) => {
        if (version.snapshot === undefined) {
          const etag = await blobIn(deps.source.service, version.container, version.blob)
            .getProperties()
            .then((p) => p.etag, (err: unknown) => {
              if (isNotFound(err)) return undefined;
              throw err;
            });
          if (etag !== version.etag) throw new SourceChanged();
        }
        return commitBlocks(blob, ids, metadata, conditions, version.contentType);
      });
      if (result.kind !== "failed") await cleanUp();
      return commitBlocksResultSchema.parse(result);
    } catch (err) {
      if (err instanceof BlocksMissing) return { kind: "incomplete", reason: err.message };
      throw err;
    }
  };
}

registerActivity(Activities.commitBackupBlocks, ({ clients, settings }) => createCommitBackupBlocksActivity({ ...clients, settings }));
