/**
 * A blob above the sync-copy limit: one step of a copy in steps (from the source, or from the blob an ADF run
 * staged). Stages the version's blocks that are not staged yet (Put Block From URL per source range; which are staged
 * is read from the backup blob's uncommitted block list, so a step after a failure or a host restart sends only what
 * is missing), and stops starting blocks after `stepSeconds`, well inside the activity's time limit. The
 * orchestration calls it until nothing remains, then commits (src/activities/commit-backup-blocks.ts). In lease mode
 * it keeps the lease renewed while it runs, as the one-call copy does.
 */
import type { BlobAccount } from "../config/clients";
import type { Settings } from "../config/settings";
import { STAGING_CONTAINER } from "../copy/adf-pipeline";
import { stageMissingBlocks } from "../copy/block-copy";
import { copyError, copyOptionsOf, DEFAULT_SERVER_COPY_OPTIONS, type ServerCopyOptions } from "../copy/server-copy";
import { leaseRenewSeconds } from "../domain/blob-backup";
import { stageBlocksInputSchema, type StageBlocksResult, stageBlocksResultSchema } from "../domain/blob-backup-activities";
import { blockIds } from "../domain/block-layout";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { blobIn, blockBlobClient, containerClient } from "../storage/addressed-clients";
import { backupDestinationOf, type BackupDestinationSettings } from "../storage/backup-target";
import { whileLeaseRenewed } from "../storage/lease-renewal";
import { isNotFound } from "../storage/rest-errors";
import { sourceReadUrl } from "../storage/source-sas";

export interface StageBackupBlocksDeps {
  readonly source: BlobAccount;
  readonly backup: BlobAccount;
  readonly settings: BackupDestinationSettings & Pick<Settings, "leaseSeconds">;
}

export function createStageBackupBlocksActivity(deps: StageBackupBlocksDeps, options: ServerCopyOptions = DEFAULT_SERVER_COPY_OPTIONS) {
  return async (raw: unknown): Promise<StageBlocksResult> => {
    const input = stageBlocksInputSchema.parse(raw);
    const { version, layout } = input;
    const target = backupDestinationOf(deps.settings, version.container);
    const live = blobIn(deps.source.service, version.container, version.blob);

    /** The read URL of what this copy reads, or why there is nothing to read. */
    const readFrom = async (): Promise<{ url: string } | { skipped: string } | { failed: string }> => {
      const expiresOn = new Date(Date.now() + options.sasMinutes * 60_000);
      if (input.from === "source") return { url: await sourceReadUrl(deps.source, version.container, version.blob, version.snapshot, expiresOn) };
      // The blob an ADF run staged for this request: its length must be the version's (the commit re-checks the source).
      const name = input.requestId ?? "";
      const staged = await blobIn(deps.backup.service, STAGING_CONTAINER, name).getProperties().then((p) => p, (err: unknown) => {
        if (isNotFound(err)) return undefined;
        throw err;
      });
      if (staged === undefined) return { failed: `the run left no staging blob ${STAGING_CONTAINER}/${name}` };
      if (staged.contentLength !== version.contentLength) return { failed: `the run staged ${staged.contentLength ?? "?"} bytes, the source has ${version.contentLength}` };
      return { url: await sourceReadUrl(deps.backup, STAGING_CONTAINER, name, undefined, expiresOn) };
    };

    const step = async (): Promise<StageBlocksResult> => {
      const stopAt = Date.now() + options.stepSeconds * 1000;
      if (input.from === "source" && version.snapshot === undefined) {
        // A live source that changed since it was resolved: no point reading more of it (the commit re-checks too).
        const etag = await live.getProperties().then((p) => p.etag, (err: unknown) => {
          if (isNotFound(err)) return undefined;
          throw err;
        });
        if (etag === undefined) return { kind: "skipped", reason: "the source blob no longer exists" };
        if (etag !== version.etag) return { kind: "skipped", reason: "stale: the source blob changed during the copy (a newer request exists)" };
      }
      const container = containerClient(deps.backup.service, target.container);
      await container.createIfNotExists();
      const from = await readFrom();
      if ("skipped" in from) return { kind: "skipped", reason: from.skipped };
      if ("failed" in from) return { kind: "failed", reason: from.failed };
      const { url } = from;
      try {
        const progress = await stageMissingBlocks(blockBlobClient(container, version.blob), url, version.contentLength, layout, blockIds(version, layout), {
          parallelism: options.parallelism,
          stopAt,
        });
        return { kind: "staged", ...progress };
      } catch (err) {
        const outcome = copyError(err, target, version);
        if (outcome === "retry" || outcome.kind === "copied") throw err;
        return outcome;
      }
    };

    if (input.leaseId === undefined) return stageBlocksResultSchema.parse(await step());
    const { result, lost } = await whileLeaseRenewed(live.getBlobLeaseClient(input.leaseId), leaseRenewSeconds(deps.settings.leaseSeconds) * 1000, step);
    return stageBlocksResultSchema.parse(result.kind === "staged" && lost !== undefined ? { ...result, leaseLost: lost } : result);
  };
}

registerActivity(Activities.stageBackupBlocks, ({ clients, settings }) => createStageBackupBlocksActivity({ ...clients, settings }, copyOptionsOf(settings)));
