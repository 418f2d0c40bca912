/**
 * Copy engine `adf`: starts the pipeline run for one request, at most once. First looks for a run that already carries
 * this request id (a start whose response was lost), then `createRun`; the run writes a staging blob that
 * CommitAdfStagedCopy moves into place. ARM refusals become tagged outcomes (src/copy/adf-pipeline.ts); 5xx and network errors throw.
 */
import type { DataFactoryManagementClient } from "@azure/arm-datafactory";

import type { BlobAccount } from "../config/clients";
import type { AdfSettings } from "../config/settings";
import { armOutcome, findRunByRequestId, pipelineParameters, STAGING_CONTAINER } from "../copy/adf-pipeline";
import { backupMetadata } from "../domain/blob-backup";
import { startAdfCopyInputSchema,type StartAdfCopyResult } from "../domain/blob-backup-activities";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { containerClient } from "../storage/addressed-clients";
import { sourceReadUrl } from "../storage/source-sas";

export interface AdfDeps {
  readonly source: BlobAccount;
  readonly backup: BlobAccount;
  readonly adf: DataFactoryManagementClient | undefined;
  readonly adfSettings: AdfSettings | undefined;
}

export function requireAdf(deps: Pick<AdfDeps, "adf" | "adfSettings">): { client: DataFactoryManagementClient; settings: AdfSettings } {
  if (deps.adf === undefined || deps.adfSettings === undefined) {
    throw new Error("COPY_ENGINE=adf needs ADF_SUBSCRIPTION_ID, ADF_RESOURCE_GROUP, ADF_FACTORY and ADF_PIPELINE");
  }
  return { client: deps.adf, settings: deps.adfSettings };
}

export function createStartAdfCopyRunActivity(deps: AdfDeps) {
  return async (raw: unknown): Promise<StartAdfCopyResult> => {
    const input = startAdfCopyInputSchema.parse(raw);
    const { client, settings } = requireAdf(deps);
    const { version } = input;
    try {
      const existing = await findRunByRequestId(client, settings, input.requestId, new Date(input.since));
      if (existing?.runId !== undefined) return { kind: "started", runId: existing.runId, reused: true };
    } catch (err) {
      return armOutcome(err, "queryPipelineRuns");
    }

    await containerClient(deps.backup.service, STAGING_CONTAINER).createIfNotExists();
    const snapshotUrl =
      version.snapshot === undefined
        ? undefined
        : await sourceReadUrl(deps.source, version.container, version.blob, version.snapshot, new Date(Date.now() + input.sasMinutes * 60_000));
    const parameters = pipelineParameters(version, deps.backup.accountName, backupMetadata(version, "adf", input.copiedAt), input.requestId, snapshotUrl);
    try {
      const response = await client.pipelines.createRun(settings.resourceGroup, settings.factory, settings.pipeline, { parameters });
      // A 200 with an empty body deserialises to {}: that is no run.
      if (!response.runId) throw new Error("ADF createRun answered without a runId");
      return { kind: "started", runId: response.runId, reused: false };
    } catch (err) {
      return armOutcome(err, "createRun");
    }
  };
}

registerActivity(Activities.startAdfCopyRun, ({ clients, settings }) =>
  createStartAdfCopyRunActivity({ source: clients.source, backup: clients.backup, adf: clients.adf, adfSettings: settings.adf }));
