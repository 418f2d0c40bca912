/**
 * Blob backup orchestration (DESIGN.md, "Blob backup orchestration"): one blob version from a backup request into the
 * backup account.
 *
 *   prepare (resolve the version; stale / already backed up / superseded → Skipped)
 *   → lease mode: acquire a finite lease (busy → back off and retry, then Failed), renewed on a durable-timer cadence
 *   → copy (engine `server`: one activity raced with renew timers; engine `adf`: start + poll + timeout → cancel, then
 *     commit the run's staging blob with the same conditional copy)
 *   → verify → release the lease (try/finally: on every exit path).
 *
 * Every outcome is an output `{ status, reason, bytes, engine, runId?, durationMs }`; failures the retries could not
 * fix end as `Failed` with the cause, so the instance itself completes (see the queue trigger for re-delivery).
 */
import type { OrchestrationContext, OrchestrationHandler, Task } from "durable-functions";
import * as df from "durable-functions";

import {
  type BlobBackupInput,
  blobBackupInputSchema,
  type BlobBackupOutput,
  blobBackupOutputSchema,
  type SourceVersion,
} from "../domain/blob-backup";
import {
  acquireLeaseResultSchema,
  cancelAdfRunResultSchema,
  copyResultSchema,
  getAdfRunResultSchema,
  type LeaseInput,
  prepareBackupResultSchema,
  releaseLeaseResultSchema,
  renewLeaseResultSchema,
  startAdfCopyResultSchema,
  verifyBackupResultSchema,
} from "../domain/blob-backup-activities";
import { describeError, ensureError } from "../domain/errors";
import { Activities, Orchestrators } from "../function-names";

/** Transient failures (5xx, network): five attempts, 2 s doubling to at most a minute. */
function transientRetry(): df.RetryOptions {
  const retry = new df.RetryOptions(2_000, 5);
  retry.backoffCoefficient = 2;
  retry.maxRetryIntervalInMilliseconds = 60_000;
  return retry;
}

/** A lease held by someone else: this many attempts, waiting 5 s, 10 s, 20 s, 40 s in between. */
export const LEASE_ATTEMPTS = 5;
const LEASE_FIRST_WAIT_S = 5;
/** ARM throttling: at most this many waits on Retry-After before the backup fails. */
const MAX_THROTTLED_WAITS = 10;
/** The lower bound of the duplicate-run query allows this much clock skew between us and ARM. */
const RUN_QUERY_SKEW_MS = 10 * 60_000;

type Outcome = Omit<BlobBackupOutput, "engine" | "durationMs">;

const addSeconds = (d: Date, s: number): Date => new Date(d.getTime() + s * 1000);

export const blobBackupOrchestrator: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = blobBackupInputSchema.parse(context.df.getInput());
  const started = context.df.currentUtcDateTime;
  const outcome: Outcome = yield* backup(context, input);
  const output = blobBackupOutputSchema.parse({
    ...outcome,
    engine: input.options.engine,
    durationMs: context.df.currentUtcDateTime.getTime() - started.getTime(),
  });
  if (!context.df.isReplaying) context.log(`backup ${JSON.stringify(`${input.request.container}/${input.request.blob}`)}: ${output.status} — ${JSON.stringify(output.reason)}`);
  return output;
};

function* backup(context: OrchestrationContext, input: BlobBackupInput): Generator<Task, Outcome, unknown> {
  const { request, options } = input;
  let phase = "prepare";
  let leaseId: string | undefined;
  try {
    context.df.setCustomStatus({ phase });
    const prepared = prepareBackupResultSchema.parse(
      yield context.df.callActivityWithRetry(Activities.prepareBlobBackup, transientRetry(), {
        request,
        backupContainer: options.backupContainer,
      }),
    );
    if (prepared.kind === "skipped") return { status: "Skipped", reason: prepared.reason, bytes: 0 };
    const version = prepared.version;

    if (options.blobLease) {
      phase = "lease";
      context.df.setCustomStatus({ phase });
      const id = context.df.newGuid(`${context.df.instanceId}:lease`);
      const lease = { container: version.container, blob: version.blob, leaseId: id };
      const acquired = yield* acquireLease(context, lease, options.leaseSeconds);
      if (acquired !== undefined) return { status: "Failed", reason: acquired, bytes: 0 };
      leaseId = id;
    }
    const lease = leaseId === undefined ? undefined : { container: version.container, blob: version.blob, leaseId };
    const renewEverySeconds = Math.max(5, Math.floor(options.leaseSeconds / 3));

    phase = "copy";
    context.df.setCustomStatus({ phase, engine: options.engine });
    const copied =
      options.engine === "server"
        ? yield* serverCopy(context, input, version, lease, renewEverySeconds)
        : yield* adfCopy(context, input, version, lease, renewEverySeconds);
    if (copied.status !== "Copied") return copied;

    phase = "verify";
    context.df.setCustomStatus({ phase, ...(copied.runId !== undefined && { runId: copied.runId }) });
    const verified = verifyBackupResultSchema.parse(
      yield context.df.callActivityWithRetry(Activities.verifyBlobBackup, transientRetry(), { version, backupContainer: options.backupContainer }),
    );
    const runId = copied.runId === undefined ? {} : { runId: copied.runId };
    if (verified.kind === "verified") return { status: "Copied", reason: `${copied.reason}; verified: ${verified.note}`, bytes: verified.bytes, ...runId };
    if (verified.kind === "superseded") return { status: "Skipped", reason: verified.reason, bytes: 0, ...runId };
    return { status: "Failed", reason: `verification failed: ${verified.reason}`, bytes: 0, ...runId };
  } catch (err) {
    return { status: "Failed", reason: `${phase} failed after retries: ${describeError(err)}`, bytes: 0 };
  } finally {
    if (leaseId !== undefined) {
      // Runs on every exit path, including a failure above; the lease would otherwise only lapse after leaseSeconds.
      releaseLeaseResultSchema.parse(
        yield context.df.callActivityWithRetry(Activities.releaseBlobLease, transientRetry(), {
          container: request.container,
          blob: request.blob,
          leaseId,
        } satisfies LeaseInput),
      );
    }
  }
}

/** Acquires the lease, backing off while someone else holds it. Returns a reason when it could not. */
function* acquireLease(context: OrchestrationContext, lease: LeaseInput, leaseSeconds: number): Generator<Task, string | undefined, unknown> {
  let last = "";
  for (let attempt = 1; attempt <= LEASE_ATTEMPTS; attempt++) {
    const result = acquireLeaseResultSchema.parse(
      yield context.df.callActivityWithRetry(Activities.acquireBlobLease, transientRetry(), { ...lease, leaseSeconds }),
    );
    if (result.kind === "acquired") return undefined;
    if (result.kind === "missing") return result.reason;
    last = result.reason;
    if (attempt < LEASE_ATTEMPTS) {
      yield context.df.createTimer(addSeconds(context.df.currentUtcDateTime, LEASE_FIRST_WAIT_S * 2 ** (attempt - 1)));
    }
  }
  return `the source blob is leased by someone else (${LEASE_ATTEMPTS} attempts): ${last}`;
}

/** Renews the lease; a lost lease is reported in the outcome but does not stop the copy (it is conditional anyway). */
function* renewLease(context: OrchestrationContext, lease: LeaseInput): Generator<Task, string | undefined, unknown> {
  const renewed = renewLeaseResultSchema.parse(yield context.df.callActivityWithRetry(Activities.renewBlobLease, transientRetry(), lease));
  return renewed.kind === "lost" ? `lease lost during the copy: ${renewed.reason}` : undefined;
}

function* serverCopy(
  context: OrchestrationContext,
  input: BlobBackupInput,
  version: SourceVersion,
  lease: LeaseInput | undefined,
  renewEverySeconds: number,
): Generator<Task, Outcome, unknown> {
  const copyTask = context.df.callActivityWithRetry(Activities.copyBlobServerSide, transientRetry(), {
    version,
    backupContainer: input.options.backupContainer,
    backupHistory: input.options.backupHistory,
    copiedAt: context.df.currentUtcDateTime.toISOString(),
  });
  let leaseNote: string | undefined;
  if (lease !== undefined) {
    // Monitor: race the copy with a renew timer until the copy finishes.
    for (;;) {
      const timer = context.df.createTimer(addSeconds(context.df.currentUtcDateTime, renewEverySeconds));
      const winner: unknown = yield context.df.Task.any([copyTask, timer]);
      if (winner === copyTask) {
        timer.cancel();
        break;
      }
      leaseNote ??= yield* renewLease(context, lease);
    }
    if (copyTask.isFaulted) throw ensureError(copyTask.result);
  }
  const result = copyResultSchema.parse(lease === undefined ? yield copyTask : copyTask.result);
  const note = leaseNote === undefined ? "" : ` (${leaseNote})`;
  if (result.kind === "copied") return { status: "Copied", reason: `copied${note}`, bytes: result.bytes };
  if (result.kind === "skipped") return { status: "Skipped", reason: result.reason, bytes: 0 };
  return { status: "Failed", reason: `${result.reason}${note}`, bytes: 0 };
}

function* adfCopy(
  context: OrchestrationContext,
  input: BlobBackupInput,
  version: SourceVersion,
  lease: LeaseInput | undefined,
  renewEverySeconds: number,
): Generator<Task, Outcome, unknown> {
  const { options } = input;
  const begin = context.df.currentUtcDateTime;
  const requestId = context.df.newGuid(`${context.df.instanceId}:adf-request`);
  const deadline = addSeconds(begin, options.copyTimeoutMinutes * 60);
  let nextRenew = addSeconds(begin, renewEverySeconds);
  let leaseNote: string | undefined;

  /** Waits until `until`, renewing the lease whenever it is due on the way. */
  function* waitUntil(until: Date): Generator<Task, void, unknown> {
    for (;;) {
      const wake = lease !== undefined && nextRenew < until ? nextRenew : until;
      if (wake > context.df.currentUtcDateTime) yield context.df.createTimer(wake);
      if (lease !== undefined && context.df.currentUtcDateTime >= nextRenew) {
        leaseNote ??= yield* renewLease(context, lease);
        nextRenew = addSeconds(context.df.currentUtcDateTime, renewEverySeconds);
      }
      if (context.df.currentUtcDateTime >= until) return;
    }
  }

  let runId: string | undefined;
  for (let waits = 0; runId === undefined; waits++) {
    const started = startAdfCopyResultSchema.parse(
      yield context.df.callActivityWithRetry(Activities.startAdfCopyRun, transientRetry(), {
        version,
        copiedAt: begin.toISOString(),
        requestId,
        since: new Date(begin.getTime() - RUN_QUERY_SKEW_MS).toISOString(),
        sasMinutes: options.copyTimeoutMinutes + 60,
      }),
    );
    if (started.kind === "failed") return { status: "Failed", reason: started.reason, bytes: 0 };
    if (started.kind === "throttled") {
      if (waits >= MAX_THROTTLED_WAITS) return { status: "Failed", reason: `${started.reason} ${MAX_THROTTLED_WAITS} times`, bytes: 0 };
      yield* waitUntil(addSeconds(context.df.currentUtcDateTime, Math.max(1, started.retryAfterSeconds)));
      continue;
    }
    runId = started.runId;
  }
  context.df.setCustomStatus({ phase: "copy", engine: "adf", runId });
  const withRun = (o: Omit<Outcome, "runId">): Outcome => ({ ...o, runId: runId ?? "" });
  const note = (): string => (leaseNote === undefined ? "" : ` (${leaseNote})`);

  let throttledWaits = 0;
  let nextPoll = addSeconds(context.df.currentUtcDateTime, options.copyPollSeconds);
  for (;;) {
    yield* waitUntil(nextPoll < deadline ? nextPoll : deadline);
    if (context.df.currentUtcDateTime >= deadline) {
      const cancelled = cancelAdfRunResultSchema.parse(
        yield context.df.callActivityWithRetry(Activities.cancelAdfCopyRun, transientRetry(), { runId }),
      );
      const how = cancelled.kind === "cancelled" ? "the run was cancelled" : `cancelling the run failed: ${cancelled.reason}`;
      return withRun({ status: "Failed", reason: `timed out after ${options.copyTimeoutMinutes} min; ${how}${note()}`, bytes: 0 });
    }
    const polled = getAdfRunResultSchema.parse(yield context.df.callActivityWithRetry(Activities.getAdfCopyRun, transientRetry(), { runId }));
    if (polled.kind === "failed") return withRun({ status: "Failed", reason: polled.reason, bytes: 0 });
    if (polled.kind === "throttled") {
      if (++throttledWaits > MAX_THROTTLED_WAITS) return withRun({ status: "Failed", reason: `${polled.reason} ${MAX_THROTTLED_WAITS} times`, bytes: 0 });
      nextPoll = addSeconds(context.df.currentUtcDateTime, Math.max(options.copyPollSeconds, polled.retryAfterSeconds));
      continue;
    }
    switch (polled.status) {
      case "Succeeded": {
        // The run wrote a staging blob; committing it is the conditional write that keeps the newest version.
        const committed = copyResultSchema.parse(
          yield context.df.callActivityWithRetry(Activities.commitAdfStagedCopy, transientRetry(), {
            version,
            backupContainer: options.backupContainer,
            backupHistory: options.backupHistory,
            copiedAt: begin.toISOString(),
            requestId,
          }),
        );
        if (committed.kind === "copied") return withRun({ status: "Copied", reason: `ADF run succeeded${note()}`, bytes: committed.bytes });
        if (committed.kind === "skipped") return withRun({ status: "Skipped", reason: committed.reason, bytes: 0 });
        return withRun({ status: "Failed", reason: `ADF run succeeded, but ${committed.reason}${note()}`, bytes: 0 });
      }
      case "Failed":
      case "Cancelled":
        return withRun({ status: "Failed", reason: `ADF run ${polled.status}: ${polled.message || "(no message)"}${note()}`, bytes: 0 });
      case "Queued":
      case "InProgress":
      case "Canceling":
        nextPoll = addSeconds(context.df.currentUtcDateTime, options.copyPollSeconds);
    }
  }
}

df.app.orchestration(Orchestrators.blobBackup, blobBackupOrchestrator);
