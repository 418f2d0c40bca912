/**
 * Copy engine `adf`: starts the pipeline run for one request, at most once (the marker protocol of
 * src/copy/adf-pipeline.ts), after re-checking that a live (ETag-pinned) source is still the version to copy — in
 * lease mode this runs after the lease was taken. The run writes a staging blob that CommitAdfStagedCopy moves into
 * place. ARM refusals become tagged outcomes; 5xx and network errors throw.
 */
import type { BlockBlobClient } from "@azure/storage-blob";

import { type AdfDeps, requireAdf } from "../config/clients";
import type { Settings } from "../config/settings";
import { armOutcome, findRunByRequestId, pipelineParameters, RUN_ID_METADATA, runMarkerName, STAGING_CONTAINER } from "../copy/adf-pipeline";
import { startAdfCopyInputSchema, type StartAdfCopyResult } from "../domain/blob-backup-activities";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { blobIn, containerClient } from "../storage/addressed-clients";
import { errorCodeOf, isNotFound, isPreconditionFailed } from "../storage/rest-errors";
import { sourceReadUrl } from "../storage/source-sas";

/** The run a marker says was started, the time an attempt wrote a marker without a run id, or nothing (no marker). */
type MarkerState = { readonly runId: string } | { readonly writtenAt: Date } | undefined;

/** Writes the marker if absent; returns what an earlier attempt left when it was already there. */
async function claimMarker(marker: BlockBlobClient): Promise<MarkerState> {
  try {
    await marker.upload("", 0, { conditions: { ifNoneMatch: "*" } });
    return undefined;
  } catch (err) {
    if (!isPreconditionFailed(err) && errorCodeOf(err) !== "BlobAlreadyExists") throw err;
  }
  const p = await marker.getProperties();
  const runId = p.metadata?.[RUN_ID_METADATA];
  return runId ? { runId } : { writtenAt: p.createdOn ?? p.lastModified ?? new Date() };
}

export function createStartAdfCopyRunActivity(deps: AdfDeps & { readonly settings: Pick<Settings, "copyTimeoutMinutes"> }) {
  return async (raw: unknown): Promise<StartAdfCopyResult> => {
    const input = startAdfCopyInputSchema.parse(raw);
    const { client, settings } = requireAdf(deps);
    const { version } = input;
    const staging = containerClient(deps.backup.service, STAGING_CONTAINER);
    await staging.createIfNotExists();
    const marker = blobIn(deps.backup.service, STAGING_CONTAINER, runMarkerName(input.requestId)).getBlockBlobClient();
    const earlier = await claimMarker(marker);
    if (earlier !== undefined && "runId" in earlier) return { kind: "started", runId: earlier.runId, reused: true };
    if (earlier !== undefined) {
      try {
        const found = await findRunByRequestId(client, settings, input.requestId, earlier.writtenAt);
        if (found?.runId !== undefined) {
          await marker.setMetadata({ [RUN_ID_METADATA]: found.runId });
          return { kind: "started", runId: found.runId, reused: true };
        }
      } catch (err) {
        return armOutcome(err, "queryPipelineRuns");
      }
    }

    if (version.snapshot === undefined) {
      // The Blob connector reads the live blob without a condition: it must still be the version the request names.
      const live = blobIn(deps.source.service, version.container, version.blob);
      const etag = await live.getProperties().then(
        (p) => p.etag,
        (err: unknown) => {
          if (isNotFound(err)) return undefined;
          throw err;
        },
      );
      if (etag !== version.etag) {
        await marker.deleteIfExists();
        return { kind: "stale", reason: `stale: the live blob ${etag === undefined ? "was deleted" : "changed"} before the copy started (a newer request exists)` };
      }
    }
    const snapshotUrl =
      version.snapshot === undefined
        ? undefined
        : await sourceReadUrl(
            deps.source,
            version.container,
            version.blob,
            version.snapshot,
            // Valid while the run may still be reading it: the monitor cancels the run after COPY_TIMEOUT_MINUTES.
            new Date(Date.now() + (deps.settings.copyTimeoutMinutes + 60) * 60_000),
          );
    const parameters = pipelineParameters(version, deps.backup.accountName, input.requestId, snapshotUrl);
    let runId: string;
    try {
      const response = await client.pipelines.createRun(settings.resourceGroup, settings.factory, settings.pipeline, { parameters });
      // A 200 with an empty body deserialises to {}: that is no run.
      if (!response.runId) throw new Error("ADF createRun answered without a runId");
      runId = response.runId;
    } catch (err) {
      // A refusal or a throttle is ARM's answer that no run was created: the next attempt may create one without a
      // lookup. Anything else is rethrown by armOutcome and leaves the marker, so the next attempt looks first.
      const outcome = armOutcome(err, "createRun");
      await marker.deleteIfExists();
      return outcome;
    }
    await marker.setMetadata({ [RUN_ID_METADATA]: runId });
    return { kind: "started", runId, reused: false };
  };
}

registerActivity(Activities.startAdfCopyRun, ({ clients, settings }) =>
  createStartAdfCopyRunActivity({ source: clients.source, backup: clients.backup, adf: clients.adf, adfSettings: settings.adf, settings }));
