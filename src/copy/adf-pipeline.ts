/**
 * Copy engine `adf`, the ARM side: the parameters of the shipped pipeline (adf/pipeline/BlobBackupCopy.json), the
 * duplicate-run guard, and how ARM errors map to outcomes.
 *
 * `createRun` is not idempotent and ADF has no idempotency key. Every run carries our request id as a parameter, and a
 * start first writes a marker blob for that id (STAGING_CONTAINER/<requestId>.run, conditional on its absence) and
 * records the run id on it once ARM answered. A start that finds no marker knows no run exists and creates one without
 * asking ARM; one that finds a run id reuses it; only one that finds a marker without a run id (an earlier attempt's
 * createRun response was lost) queries ARM, and only for runs updated since that marker was written. So the guard
 * costs two small blob writes per backup instead of a query that pages through every concurrent run. The ADF client
 * is built without SDK retries (src/config/clients.ts): a retried `createRun` after a lost response would start a
 * second run; Durable retries go through the marker instead.
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
  requestId: "requestId",
} as const;

/**
 * The run's parameters: it copies the version into the staging blob `STAGING_CONTAINER/<requestId>`. The backup's
 * metadata is not among them: the commit of the staged blob writes it (src/activities/commit-adf-staged-copy.ts).
 */
export function pipelineParameters(version: SourceVersion, backupAccount: string, requestId: string, snapshotUrl: string | undefined): Record<string, unknown> {
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
    [P.requestId]: requestId,
  };
}

/** The marker blob of a request's run start, beside its staging blob. */
export function runMarkerName(requestId: string): string {
  return `${requestId}.run`;
}

/** Metadata key on the marker that holds the run id once createRun answered. */
export const RUN_ID_METADATA = "adf_run_id";

/** Lower bound of the lookup allows this much clock skew between the storage account and ARM. */
const RUN_QUERY_SKEW_MS = 10 * 60_000;

/**
 * The run an earlier attempt started for this request id, if any: only after a createRun whose answer was lost. The
 * window starts when that attempt wrote its marker, so the query sees the runs updated since then, not every run.
 */
export async function findRunByRequestId(
  client: DataFactoryManagementClient,
  adf: AdfSettings,
  requestId: string,
  markerWrittenAt: Date,
): Promise<PipelineRun | undefined> {
  let continuationToken: string | undefined;
  do {
    const page = await client.pipelineRuns.queryByFactory(adf.resourceGroup, adf.factory, {
      lastUpdatedAfter: new Date(markerWrittenAt.getTime() - RUN_QUERY_SKEW_MS),
      lastUpdatedBefore: new Date(Date.now() + RUN_QUERY_SKEW_MS),
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
