/**
 * Blob backup orchestration (docs/architecture.md, "Blob backup"): one blob version from a backup request into the
 * backup account.
 *
 *   prepare (resolve the version and read the plan from the settings; stale / already backed up / superseded → Skipped)
 *   → lease mode, live versions only: acquire a finite lease (busy → back off and retry, then fail)
 *   → copy (engine `server`: one activity, which renews the lease itself while it copies — or, above the sync-copy
 *     limit, steps that stage block ranges from URL, run by BlobCopySteps sub-orchestrations, then one commit; engine
 *     `adf`: start, then AdfRunMonitor sub-orchestrations poll on fresh durable timers, renewing the lease when due,
 *     timeout → cancel; then commit the staged blob)
 *   → verify → release the lease (try/finally: on every exit path).
 *
 * A copied or skipped backup completes with `{ status, reason, bytes, engine, runId?, durationMs }`. A backup that
 * could not be done fails the instance with its reason (runtime status Failed, where operators and the queue trigger
 * look for it), after the lease was released. Every task is yielded exactly once: the Durable extension schedules
 * again every child of a Task.any that is yielded a second time. The loops whose length grows with the copy (steps,
 * polls) run in bounded sub-orchestrations, so this history stays small whatever the blob's size or the run's length.
 */
import type { OrchestrationContext, OrchestrationHandler, Task } from "durable-functions";

import { type BackupRequest } from "../domain/backup-request";
import {
  blobBackupInputSchema,
  blobBackupOutputSchema,
  type BlobBackupPlan,
  leaseRenewSeconds,
  type SourceVersion,
} from "../domain/blob-backup";
import {
  acquireLeaseResultSchema,
  cancelAdfRunResultSchema,
  commitBlocksResultSchema,
  copyResultSchema,
  type LeaseInput,
  prepareBackupResultSchema,
  releaseLeaseResultSchema,
  renewLeaseResultSchema,
  stageBlocksResultSchema,
  startAdfCopyResultSchema,
  verifyBackupResultSchema,
} from "../domain/blob-backup-activities";
import { type AdfRunMonitorInput, adfRunMonitorOutputSchema, MAX_THROTTLED_WAITS } from "../domain/blob-copy-monitors";
import { type BlockLayout } from "../domain/block-layout";
import { describeError } from "../domain/errors";
import { registerOrchestrator } from "../durable/register-orchestrator";
import { blobBackupRetry as transientRetry } from "../durable/retry-policies";
import { Activities, Orchestrators } from "../function-names";

/** A lease held by someone else: this many attempts, waiting 5 s, 10 s, 20 s, 40 s in between. */
export const LEASE_ATTEMPTS = 5;
const LEASE_FIRST_WAIT_S = 5;
/** Rounds of staging and commit when a commit finds staged blocks gone (another version's commit discarded them). */
export const MAX_STAGE_ROUNDS = 3;

interface Outcome {
  readonly status: "Copied" | "Skipped" | "Failed";
  readonly reason: string;
  readonly bytes: number;
  readonly runId?: string;
}

const addSeconds = (d: Date, s: number): Date => new Date(d.getTime() + s * 1000);

/** The failure of a backup that could not be done: its message is the reason operators read. */
export class BlobBackupFailed extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "BlobBackupFailed";
  }
}

export const blobBackupOrchestrator: OrchestrationHandler = function* (context: OrchestrationContext) {
  const { request } = blobBackupInputSchema.parse(context.df.getInput());
  const started = context.df.currentUtcDateTime;
  const { outcome, engine } = yield* backup(context, request);
  const what = `backup of ${JSON.stringify(`${request.container}/${request.blob}`)}`;
  if (outcome.status === "Failed") {
    // The custom status keeps what the failure message cannot (engine, run id) for the status API.
    context.df.setCustomStatus({ phase: "failed", ...(engine !== undefined && { engine }), ...(outcome.runId !== undefined && { runId: outcome.runId }) });
    if (!context.df.isReplaying) context.error(`${what} failed: ${outcome.reason}`);
    throw new BlobBackupFailed(outcome.reason);
  }
  const output = blobBackupOutputSchema.parse({
    status: outcome.status,
    reason: outcome.reason,
    bytes: outcome.bytes,
    ...(engine !== undefined && { engine }),
    ...(outcome.runId !== undefined && { runId: outcome.runId }),
    durationMs: context.df.currentUtcDateTime.getTime() - started.getTime(),
  });
  if (!context.df.isReplaying) context.log(`${what}: ${output.status} — ${JSON.stringify(output.reason)}`);
  return output;
};

function* backup(
  context: OrchestrationContext,
  request: BackupRequest,
): Generator<Task, { outcome: Outcome; engine?: BlobBackupPlan["engine"] }, unknown> {
  let phase = "prepare";
  let engine: BlobBackupPlan["engine"] | undefined;
  let lease: LeaseInput | undefined;
  try {
    context.df.setCustomStatus({ phase });
    const prepared = prepareBackupResultSchema.parse(
      yield context.df.callActivityWithRetry(Activities.prepareBlobBackup, transientRetry(), { request }),
    );
    if (prepared.kind === "skipped") return { outcome: { status: "Skipped", reason: prepared.reason, bytes: 0 } };
    if (prepared.kind === "failed") return { outcome: { status: "Failed", reason: prepared.reason, bytes: 0 } };
    const { version, plan } = prepared;
    engine = plan.engine;

    if (plan.leaseSeconds !== undefined) {
      phase = "lease";
      context.df.setCustomStatus({ phase });
      const wanted = { container: version.container, blob: version.blob, leaseId: context.df.newGuid(`${context.df.instanceId}:lease`) };
      const refused = yield* acquireLease(context, wanted);
      if (refused !== undefined) return { outcome: { status: "Failed", reason: refused, bytes: 0 }, engine };
      lease = wanted;
    }

    phase = "copy";
    context.df.setCustomStatus({ phase, engine });
    const requestId = context.df.newGuid(`${context.df.instanceId}:copy-request`);
    const copy = { version, copiedAt: context.df.currentUtcDateTime.toISOString(), requestId };
    const copied =
      plan.engine === "adf"
        ? yield* adfCopy(context, copy, plan, lease)
        : plan.blocks === undefined
          ? yield* serverCopy(context, copy, lease)
          : yield* steppedCopy(context, copy, plan.blocks, lease);
    if (copied.status !== "Copied") return { outcome: copied, engine };

    phase = "verify";
    context.df.setCustomStatus({ phase, engine, ...(copied.runId !== undefined && { runId: copied.runId }) });
    const verifyInput = { version, ...(plan.blocks !== undefined && { layout: plan.blocks }) };
    const verified = verifyBackupResultSchema.parse(yield context.df.callActivityWithRetry(Activities.verifyBlobBackup, transientRetry(), verifyInput));
    const runId = copied.runId === undefined ? {} : { runId: copied.runId };
    if (verified.kind === "verified") return { outcome: { status: "Copied", reason: `${copied.reason}; verified: ${verified.note}`, bytes: verified.bytes, ...runId }, engine };
    if (verified.kind === "superseded") return { outcome: { status: "Skipped", reason: verified.reason, bytes: 0, ...runId }, engine };
    return { outcome: { status: "Failed", reason: `verification failed: ${verified.reason}`, bytes: 0, ...runId }, engine };
  } catch (err) {
    return { outcome: { status: "Failed", reason: `${phase} failed after retries: ${describeError(err)}`, bytes: 0 }, ...(engine !== undefined && { engine }) };
  } finally {
    if (lease !== undefined) {
      // Runs on every exit path, including a failure above; the lease would otherwise only lapse after LEASE_SECONDS.
      releaseLeaseResultSchema.parse(yield context.df.callActivityWithRetry(Activities.releaseBlobLease, transientRetry(), lease));
    }
  }
}

/** Acquires the lease, backing off while someone else holds it. Returns a reason when it could not. */
function* acquireLease(context: OrchestrationContext, lease: LeaseInput): Generator<Task, string | undefined, unknown> {
  let last = "";
  for (let attempt = 1; attempt <= LEASE_ATTEMPTS; attempt++) {
    const result = acquireLeaseResultSchema.parse(yield context.df.callActivityWithRetry(Activities.acquireBlobLease, transientRetry(), lease));
    if (result.kind === "acquired") return undefined;
    if (result.kind === "missing") return result.reason;
    last = result.reason;
    if (attempt < LEASE_ATTEMPTS) {
      yield context.df.createTimer(addSeconds(context.df.currentUtcDateTime, LEASE_FIRST_WAIT_S * 2 ** (attempt - 1)));
    }
  }
  return `the source blob is leased by someone else (${LEASE_ATTEMPTS} attempts): ${last}`;
}

interface CopyRequest {
  readonly version: SourceVersion;
  readonly copiedAt: string;
  readonly requestId: string;
}

/** Engine `server`: one activity, which keeps the lease renewed while it copies. */
function* serverCopy(context: OrchestrationContext, copy: CopyRequest, lease: LeaseInput | undefined): Generator<Task, Outcome, unknown> {
  const result = copyResultSchema.parse(
    yield context.df.callActivityWithRetry(Activities.copyBlobServerSide, transientRetry(), {
      ...copy,
      ...(lease !== undefined && { leaseId: lease.leaseId }),
    }),
  );
  if (result.kind === "copied") {
    const note = result.leaseLost === undefined ? "" : ` (lease lost during the copy: ${result.leaseLost})`;
    return { status: "Copied", reason: `copied${note}`, bytes: result.bytes };
  }
  if (result.kind === "skipped") return { status: "Skipped", reason: result.reason, bytes: 0 };
  return { status: "Failed", reason: result.reason, bytes: 0 };
}

/**
 * Above the sync-copy limit (engine `server`; engine `adf` from the staged blob): block ranges staged in steps
 * (BlobCopySteps sub-orchestrations of bounded length, each step an activity well inside the function time limit),
 * then one commit. A commit that finds
 * blocks gone stages them again (at most MAX_STAGE_ROUNDS rounds).
 */
function* steppedCopy(
  context: OrchestrationContext,
  copy: CopyRequest,
  layout: BlockLayout,
  lease: LeaseInput | undefined,
  from: "source" | "adfStaging" = "source",
): Generator<Task, Outcome, unknown> {
  const stage = {
    version: copy.version,
    layout,
    ...(lease !== undefined && { leaseId: lease.leaseId }),
    ...(from === "adfStaging" && { from, requestId: copy.requestId }),
  };
  let leaseNote: string | undefined;
  let monitors = 0;
  let sent = 0;
  let found: number | undefined;
  for (let round = 1; round <= MAX_STAGE_ROUNDS; round++) {
    for (;;) {
      // Unique per execution (the request id is a newGuid): a restarted backup never reuses a finished child's id.
      const id = `${context.df.instanceId}:${copy.requestId}:steps:${monitors++}`;
      const staged = stageBlocksResultSchema.parse(yield context.df.callSubOrchestrator(Orchestrators.blobCopySteps, stage, id));
      if (staged.kind === "skipped") return { status: "Skipped", reason: staged.reason, bytes: 0 };
      if (staged.kind === "failed") return { status: "Failed", reason: staged.reason, bytes: 0 };
      leaseNote ??= staged.leaseLost;
      sent += staged.staged;
      found ??= staged.alreadyStaged;
      context.df.setCustomStatus({
        phase: "copy",
        engine: from === "source" ? "server" : "adf",
        blocks: { total: layout.count, staged: layout.count - staged.remaining, sent },
      });
      if (staged.remaining === 0) break;
    }
    const committed = commitBlocksResultSchema.parse(yield context.df.callActivityWithRetry(Activities.commitBackupBlocks, transientRetry(), { ...copy, layout, ...(from === "adfStaging" && { from }) }));
    const note = leaseNote === undefined ? "" : ` (lease lost during the copy: ${leaseNote})`;
    const how = `${layout.count} blocks of ${layout.blockBytes} bytes, ${sent} sent${found ? `, ${found} found staged` : ""}`;
    if (committed.kind === "copied") return { status: "Copied", reason: `copied in steps (${how})${note}`, bytes: committed.bytes };
    if (committed.kind === "skipped") return { status: "Skipped", reason: committed.reason, bytes: 0 };
    if (committed.kind === "failed") return { status: "Failed", reason: committed.reason, bytes: 0 };
  }
  return { status: "Failed", reason: `staged blocks were discarded before the commit ${MAX_STAGE_ROUNDS} times (other copies of the blob kept committing)`, bytes: 0 };
}

/** Engine `adf`: start the run, poll it on durable timers (renewing the lease when due), cancel it past the timeout. */
function* adfCopy(context: OrchestrationContext, copy: CopyRequest, plan: BlobBackupPlan, lease: LeaseInput | undefined): Generator<Task, Outcome, unknown> {
  const begin = context.df.currentUtcDateTime;
  const deadline = addSeconds(begin, plan.copyTimeoutMinutes * 60);
  const renewEvery = plan.leaseSeconds === undefined ? 0 : leaseRenewSeconds(plan.leaseSeconds);
  let nextRenew = addSeconds(begin, renewEvery);
  let leaseNote: string | undefined;

  /** Waits until `until` on fresh timers, renewing the lease whenever it is due on the way. */
  function* waitUntil(until: Date): Generator<Task, void, unknown> {
    for (;;) {
      const wake = lease !== undefined && nextRenew < until ? nextRenew : until;
      if (wake > context.df.currentUtcDateTime) yield context.df.createTimer(wake);
      if (lease !== undefined && context.df.currentUtcDateTime >= nextRenew) {
        const renewed = renewLeaseResultSchema.parse(yield context.df.callActivityWithRetry(Activities.renewBlobLease, transientRetry(), lease));
        if (renewed.kind === "lost") leaseNote ??= `lease lost during the copy: ${renewed.reason}`;
        nextRenew = addSeconds(context.df.currentUtcDateTime, renewEvery);
      }
      if (context.df.currentUtcDateTime >= until) return;
    }
  }

  let runId: string | undefined;
  for (let waits = 0; runId === undefined; waits++) {
    const started = startAdfCopyResultSchema.parse(yield context.df.callActivityWithRetry(Activities.startAdfCopyRun, transientRetry(), copy));
    if (started.kind === "failed") return { status: "Failed", reason: started.reason, bytes: 0 };
    if (started.kind === "stale") return { status: "Skipped", reason: started.reason, bytes: 0 };
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

  // The polls run in AdfRunMonitor sub-orchestrations of bounded length; this history gets two events per monitor.
  let state: Pick<AdfRunMonitorInput, "nextPoll" | "nextRenew" | "throttledWaits"> = {
    nextPoll: addSeconds(context.df.currentUtcDateTime, plan.copyPollSeconds).toISOString(),
    nextRenew: nextRenew.toISOString(),
    throttledWaits: 0,
  };
  for (let monitor = 0; ; monitor++) {
    const input: AdfRunMonitorInput = {
      runId,
      ...(lease !== undefined && { lease, renewEverySeconds: renewEvery }),
      pollSeconds: plan.copyPollSeconds,
      deadline: deadline.toISOString(),
      ...state,
    };
    const polled = adfRunMonitorOutputSchema.parse(yield context.df.callSubOrchestrator(Orchestrators.adfRunMonitor, input, `${context.df.instanceId}:${copy.requestId}:adf:${monitor}`));
    if (polled.leaseLost !== undefined) leaseNote ??= `lease lost during the copy: ${polled.leaseLost}`;
    switch (polled.kind) {
      case "continue":
        state = { nextPoll: polled.nextPoll, nextRenew: polled.nextRenew, throttledWaits: polled.throttledWaits };
        continue;
      case "timedOut": {
        const cancelled = cancelAdfRunResultSchema.parse(yield context.df.callActivityWithRetry(Activities.cancelAdfCopyRun, transientRetry(), { runId }));
        const how = cancelled.kind === "cancelled" ? "the run was cancelled" : `cancelling the run failed: ${cancelled.reason}`;
        return withRun({ status: "Failed", reason: `timed out after ${plan.copyTimeoutMinutes} min; ${how}${note()}`, bytes: 0 });
      }
      case "failed":
        return withRun({ status: "Failed", reason: polled.reason, bytes: 0 });
      case "finished":
        if (polled.status === "Succeeded" && plan.blocks !== undefined) {
          // A large staged blob moves into place in steps too (the same activities, reading the staging blob).
          const moved = yield* steppedCopy(context, copy, plan.blocks, lease, "adfStaging");
          return withRun({ ...moved, reason: moved.status === "Copied" ? `ADF run succeeded; ${moved.reason}${note()}` : moved.reason });
        }
        if (polled.status === "Succeeded") {
          // The run wrote a staging blob; committing it is the conditional write that keeps the newest version.
          const committed = copyResultSchema.parse(yield context.df.callActivityWithRetry(Activities.commitAdfStagedCopy, transientRetry(), copy));
          if (committed.kind === "copied") return withRun({ status: "Copied", reason: `ADF run succeeded${note()}`, bytes: committed.bytes });
          if (committed.kind === "skipped") return withRun({ status: "Skipped", reason: committed.reason, bytes: 0 });
          return withRun({ status: "Failed", reason: `ADF run succeeded, but ${committed.reason}${note()}`, bytes: 0 });
        }
        return withRun({ status: "Failed", reason: `ADF run ${polled.status}: ${polled.message || "(no message)"}${note()}`, bytes: 0 });
    }
  }
}

registerOrchestrator(Orchestrators.blobBackup, blobBackupOrchestrator);
