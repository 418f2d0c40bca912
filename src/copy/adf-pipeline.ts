/**
 * Copy engine `adf`, the ARM side: the parameters of the shipped pipeline (adf/pipeline/BlobBackupCopy.json), the
 * duplicate-run guard, and how ARM errors map to outcomes.
 *
 * `createRun` is not idempotent and ADF has no idempotency key, so every run carries our request id as a parameter and a
 * start first looks for a run with that id. The ADF client is built without SDK retries (src/config/clients.ts): a
 * retried `createRun` after a lost response would start a second run; Durable retries go through the lookup instead.
 *
 * The ADF sink cannot write conditionally, so a run writes a staging blob (STAGING_CONTAINER/<requestId> in the backup
 * account) and the app commits it into the backup blob with the same conditional server-side copy as the `server`
 * engine: an older version can never overwrite a newer backup, whichever run finishes first.
 */
import type { DataFactoryManagementClient, PipelineRun } from "@azure/arm-datafactory";

import type { AdfSettings } from "../config/settings";
import type { SourceVersion } from "../domain/blob-backup";
import { describeError } from "../domain/errors";
import { STAGING_CONTAINER } from "../domain/names";
import { retryAfterSecondsOf, statusOf } from "../storage/rest-errors";

/** Container of the backup account where pipeline runs stage their copy; a lifecycle rule should expire leftovers. */
export { STAGING_CONTAINER };

/** Pipeline parameter names; the pipeline JSON in adf/ and the test fake use the same names. */
export const PipelineParameters = {
  sourceAccount: "sourceAccount",
  sourceContainer: "sourceContainer",
  sourcePath: "sourcePath",
  sourceSnapshot: "sourceSnapshot",
  sourceSnapshotUrl: "sourceSnapshotUrl",
  backupAccount: "backupAccount",
  backupContainer: "backupContainer",
  backupPath: "backupPath",
  metadata: "metadata",
  requestId: "requestId",
} as const;

/** The run's parameters: it copies the version into the staging blob `STAGING_CONTAINER/<requestId>`. */
export function pipelineParameters(
  version: SourceVersion,
  backupAccount: string,
  metadata: Readonly<Record<string, string>>,
  requestId: string,
  snapshotUrl: string | undefined,
): Record<string, unknown> {
  const P = PipelineParameters;
  return {
    [P.sourceAccount]: version.account,
    [P.sourceContainer]: version.container,
    [P.sourcePath]: version.blob,
    [P.sourceSnapshot]: version.snapshot ?? "",
    // The Blob connector cannot read a snapshot; the pipeline reads it through the HTTP connector from this SAS URL.
    [P.sourceSnapshotUrl]: snapshotUrl ?? "",
    [P.backupAccount]: backupAccount,
    [P.backupContainer]: STAGING_CONTAINER,
    [P.backupPath]: requestId,
    // The sink's metadata list, in the shape the Copy activity takes (storeSettings.metadata).
    [P.metadata]: Object.entries(metadata).map(([name, value]) => ({ name, value })),
    [P.requestId]: requestId,
  };
}

/** The run started for this request id since `since`, if any (a start whose response was lost). */
export async function findRunByRequestId(
  client: DataFactoryManagementClient,
  adf: AdfSettings,
  requestId: string,
  since: Date,
): Promise<PipelineRun | undefined> {
  let continuationToken: string | undefined;
  do {
    const page = await client.pipelineRuns.queryByFactory(adf.resourceGroup, adf.factory, {
      lastUpdatedAfter: since,
      lastUpdatedBefore: new Date(Date.now() + 24 * 3600_000),
      filters: [{ operand: "PipelineName", operator: "Equals", values: [adf.pipeline] }],
      ...(continuationToken !== undefined && { continuationToken }),
    });
    const found = page.value.find((run) => run.parameters?.[PipelineParameters.requestId] === requestId);
    if (found !== undefined) return found;
    continuationToken = page.continuationToken;
  } while (continuationToken !== undefined);
  return undefined;
}

export type ArmOutcome =
  | { readonly kind: "throttled"; readonly retryAfterSeconds: number; readonly reason: string }
  | { readonly kind: "failed"; readonly reason: string };

/** Throttling seconds when ARM sends 429 without Retry-After. */
export const DEFAULT_RETRY_AFTER_SECONDS = 30;

/**
 * Expected ARM refusals as outcomes: 429 → wait as told (durable timer); 400/401/403/404/409 → configuration or
 * permission problems that no retry fixes. Anything else (5xx, network) is rethrown for a durable retry.
 */
export function armOutcome(err: unknown, operation: string): ArmOutcome {
  const status = statusOf(err);
  if (status === 429) {
    return { kind: "throttled", retryAfterSeconds: retryAfterSecondsOf(err, DEFAULT_RETRY_AFTER_SECONDS), reason: `ADF ${operation} throttled (429)` };
  }
  if (status === 400 || status === 401 || status === 403 || status === 404 || status === 409) {
    const hint =
      status === 403 || status === 401
        ? " — grant the app's identity Data Factory Contributor (or the createrun/read/cancel actions) on the factory"
        : status === 404
          ? " — check ADF_SUBSCRIPTION_ID, ADF_RESOURCE_GROUP, ADF_FACTORY and ADF_PIPELINE"
          : "";
    return { kind: "failed", reason: `ADF ${operation} refused (HTTP ${status}): ${describeError(err)}${hint}` };
  }
  throw err;
}
