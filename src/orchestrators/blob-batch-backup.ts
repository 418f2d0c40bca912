/**
 * Batch backup orchestration (docs/architecture.md, "Batched backups"): the small versions of one batch message.
 *
 *   copy activities, one per chunk of BATCH_CHUNK_VERSIONS, in parallel (each copies and verifies its versions with
 *   bounded concurrency and returns one outcome per version)
 *   → the versions it could not do, handed to the single-blob backup (one v1 request each on the backup queue)
 *
 * The history holds the batch, one result per chunk and at most one hand-off call: it grows with the batch, never
 * with the lake. The output counts the outcomes and names the first hand-offs; each handed-off version has its own
 * blob backup instance, which retries it and, if it still cannot be done, fails on its own.
 */
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import * as df from "durable-functions";

import { type BackupRequest, requestsOf } from "../domain/backup-request";
import {
  type BatchCopyInput,
  batchCopyResultSchema,
  blobBatchInputSchema,
  type BlobBatchOutput,
  blobBatchOutputSchema,
  chunksOf,
  MAX_LISTED_HANDOFFS,
  requestBackupsResultSchema,
  type VersionOutcome,
} from "../domain/blob-batch-backup";
import { describeError } from "../domain/errors";
import { registerOrchestrator } from "../durable/register-orchestrator";
import { Activities, Orchestrators } from "../function-names";

/** Transient failures of a whole activity (the worker died, the settings could not be read): five attempts. */
function transientRetry(): df.RetryOptions {
  const retry = new df.RetryOptions(2_000, 5);
  retry.backoffCoefficient = 2;
  retry.maxRetryIntervalInMilliseconds = 60_000;
  return retry;
}

export const blobBatchBackupOrchestrator: OrchestrationHandler = function* (context: OrchestrationContext) {
  const { batch } = blobBatchInputSchema.parse(context.df.getInput());
  const started = context.df.currentUtcDateTime;
  const copiedAt = started.toISOString();
  const { v: _message, versions, ...head } = batch;
  const chunks = chunksOf(versions);
  context.df.setCustomStatus({ phase: "copy", versions: versions.length, activities: chunks.length });

  const inputs: BatchCopyInput[] = chunks.map((chunk) => ({ ...head, versions: chunk, requestId: context.df.newGuid(context.df.instanceId), copiedAt }));
  let outcomes: VersionOutcome[];
  try {
    const results = (yield context.df.Task.all(
      inputs.map((input) => context.df.callActivityWithRetry(Activities.copyBlobBatch, transientRetry(), input)),
    )) as unknown[];
    outcomes = results.flatMap((r) => batchCopyResultSchema.parse(r).outcomes);
    if (outcomes.length !== versions.length) throw new Error(`the copy activities returned ${outcomes.length} outcomes for ${versions.length} versions`);
  } catch (err) {
    // A chunk that failed as a whole: every version goes the single-blob way (what was copied is then found in the
    // backup and skipped there).
    const reason = `the batch copy failed after retries: ${describeError(err)}`;
    outcomes = versions.map(() => ({ status: "HandedOff", reason }));
  }

  const requests = requestsOf(batch);
  const handOffs: { request: BackupRequest; reason: string }[] = [];
  let copied = 0;
  let skipped = 0;
  let bytes = 0;
  outcomes.forEach((outcome, i) => {
    const request = requests[i];
    if (request === undefined) return;
    if (outcome.status === "Copied") {
      copied += 1;
      bytes += outcome.bytes;
    } else if (outcome.status === "Skipped") skipped += 1;
    else handOffs.push({ request, reason: outcome.reason });
  });

  if (handOffs.length > 0) {
    context.df.setCustomStatus({ phase: "handOff", versions: versions.length, handedOff: handOffs.length });
    requestBackupsResultSchema.parse(
      yield context.df.callActivityWithRetry(Activities.requestBlobBackups, transientRetry(), { requests: handOffs.map((h) => h.request) }),
    );
  }

  const output: BlobBatchOutput = blobBatchOutputSchema.parse({
    versions: versions.length,
    copied,
    skipped,
    handedOff: handOffs.length,
    bytes,
    handOffs: handOffs.slice(0, MAX_LISTED_HANDOFFS).map((h) => ({ blob: h.request.blob, reason: h.reason.slice(0, 500) })),
    durationMs: context.df.currentUtcDateTime.getTime() - started.getTime(),
  });
  context.df.setCustomStatus({ phase: "done" });
  if (!context.df.isReplaying) {
    context.log(`backup batch of ${versions.length} in ${JSON.stringify(batch.container)}: ${copied} copied, ${skipped} skipped, ${handOffs.length} handed off`);
  }
  return output;
};

registerOrchestrator(Orchestrators.blobBatchBackup, blobBatchBackupOrchestrator);
