/**
 * The blob backup orchestrator's failure and waiting branches, driven through the real durable-functions replay engine
 * with scripted activities (test/support/orchestrator-driver.ts): ADF throttling with Retry-After, a run past the copy
 * timeout, ADF Failed/Cancelled, a verification mismatch, and a lease held by someone else.
 *
 * The orchestration's input is only the request; the settings that steer it come back from the prepare activity as its
 * plan, so each test scripts the plan in the prepare answer. A backup that could not be done fails the instance.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import type { BackupRequest } from "../../src/domain/backup-request";
import type { BlobBackupInput, BlobBackupOutput, BlobBackupPlan, SourceVersion } from "../../src/domain/blob-backup";
import type { AcquireLeaseResult, GetAdfRunResult, StartAdfCopyResult, VerifyBackupResult } from "../../src/domain/blob-backup-activities";
import { Activities } from "../../src/function-names";
import { blobBackupOrchestrator, LEASE_ATTEMPTS } from "../../src/orchestrators/blob-backup";
import { type Answer, runOrchestration, type RunResult, type Scheduled } from "../support/orchestrator-driver";

const START = "2026-01-05T08:00:00.000Z";

const request: BackupRequest = {
  v: 1,
  account: "datalake1",
  container: "raw",
  blob: "in/part-1.parquet",
  etag: '"0x8DC0000000000A1"',
  snapshot: "2026-01-05T07:59:00.1234567Z",
  lastModified: "2026-01-05T07:58:59.000Z",
  contentLength: 1024,
  reason: "producer",
  requestedAt: "2026-01-05T07:59:01.000Z",
};

/** A snapshot never changes; lease mode pins only a live (ETag-pinned) version, so the lease tests use this one. */
const snapshotVersion: SourceVersion = {
  account: request.account,
  container: request.container,
  blob: request.blob,
  etag: request.etag,
  ...(request.snapshot !== undefined && { snapshot: request.snapshot }),
  lastModified: request.lastModified,
  contentLength: request.contentLength,
  metadata: {},
};
const { snapshot: _snapshot, ...liveVersion } = snapshotVersion;

/** What a test asks of the plan: the settings of the old input, as the prepare activity now reports them. */
interface PlanOptions {
  readonly copyPollSeconds?: number;
  readonly copyTimeoutMinutes?: number;
  /** Lease mode: the version is live and the plan carries a lease duration. */
  readonly blobLease?: boolean;
}

const backupInput: BlobBackupInput = { request };

function ready(options: PlanOptions): Answer {
  const plan: BlobBackupPlan = {
    engine: "adf",
    copyPollSeconds: options.copyPollSeconds ?? 10,
    copyTimeoutMinutes: options.copyTimeoutMinutes ?? 60,
    ...(options.blobLease === true && { leaseSeconds: 15 }),
  };
  return { result: { kind: "ready", version: options.blobLease === true ? liveVersion : snapshotVersion, plan } };
}

/** Status and reason: a failed backup fails the instance with its reason; Copied and Skipped are outputs. */
function outcomeOf(result: RunResult): { status: string; reason: string; runId?: string } {
  if (result.status === "Failed") return { status: "Failed", reason: result.error ?? "" };
  assert.equal(result.status, "Completed", result.error);
  const output = result.output as BlobBackupOutput;
  return { status: output.status, reason: output.reason, ...(output.runId !== undefined && { runId: output.runId }) };
}

const activityNames = (scheduled: readonly Scheduled[]) => scheduled.flatMap((s) => (s.kind === "activity" ? [s.name] : []));
const timers = (scheduled: readonly Scheduled[]) => scheduled.flatMap((s) => (s.kind === "timer" && !s.retry ? [s.delayMs / 1000] : []));
const count = (names: readonly string[], name: string) => names.filter((n) => n === name).length;

interface Answers {
  /** The n-th start (1-based). */
  readonly start?: (n: number) => StartAdfCopyResult;
  /** The n-th poll (1-based). */
  readonly poll?: (n: number) => GetAdfRunResult;
  readonly verify?: VerifyBackupResult;
  readonly acquire?: AcquireLeaseResult;
}

/** An ADF backup whose activities answer as given; the others succeed. */
function adfBackup(options: PlanOptions, answers: Answers) {
  const calls = new Map<string, number>();
  const nth = (name: string): number => {
    calls.set(name, (calls.get(name) ?? 0) + 1);
    return calls.get(name) ?? 0;
  };
  const started: StartAdfCopyResult = { kind: "started", runId: "run-1", reused: false };
  return runOrchestration(blobBackupOrchestrator, {
    input: backupInput,
    instanceId: "blob-backup-test",
    startAt: START,
    activities: {
      [Activities.prepareBlobBackup]: () => ready(options),
      [Activities.acquireBlobLease]: () => ({ result: answers.acquire ?? { kind: "acquired" } }),
      [Activities.renewBlobLease]: () => ({ result: { kind: "renewed" } }),
      [Activities.releaseBlobLease]: () => ({ result: { kind: "released" } }),
      [Activities.startAdfCopyRun]: () => ({ result: answers.start?.(nth(Activities.startAdfCopyRun)) ?? started }),
      [Activities.getAdfCopyRun]: () => ({ result: answers.poll?.(nth(Activities.getAdfCopyRun)) ?? { kind: "run", status: "Succeeded", message: "" } }),
      [Activities.cancelAdfCopyRun]: () => ({ result: { kind: "cancelled" } }),
      [Activities.commitAdfStagedCopy]: () => ({ result: { kind: "copied", bytes: snapshotVersion.contentLength } }),
      [Activities.verifyBlobBackup]: () => ({ result: answers.verify ?? { kind: "verified", bytes: snapshotVersion.contentLength, note: "length, version and Content-MD5" } }),
    },
  });
}

describe("blob backup orchestrator", { timeout: 30_000 }, () => {
  it("ADF poll throttled (429): waits Retry-After on a durable timer before polling again, then commits and verifies", async () => {
    const result = await adfBackup({ copyPollSeconds: 10 }, { poll: (n) => (n === 1 ? { kind: "throttled", retryAfterSeconds: 45, reason: "ADF pipelineRuns.get throttled (429)" } : { kind: "run", status: "Succeeded", message: "" }) });
    assert.deepEqual(outcomeOf(result), { status: "Copied", reason: "ADF run succeeded; verified: length, version and Content-MD5", runId: "run-1" });
    assert.deepEqual(timers(result.scheduled), [10, 45], "first poll after COPY_POLL_SECONDS, the next after Retry-After");
    assert.deepEqual(activityNames(result.scheduled), [
      Activities.prepareBlobBackup,
      Activities.startAdfCopyRun,
      Activities.getAdfCopyRun,
      Activities.getAdfCopyRun,
      Activities.commitAdfStagedCopy,
      Activities.verifyBlobBackup,
    ]);
  });

  it("ADF start throttled (429): waits Retry-After, then starts the run", async () => {
    const result = await adfBackup({}, {
      start: (n) => (n === 1 ? { kind: "throttled", retryAfterSeconds: 7, reason: "ADF createRun throttled (429)" } : { kind: "started", runId: "run-2", reused: false }),
    });
    assert.equal(outcomeOf(result).status, "Copied");
    assert.equal(timers(result.scheduled)[0], 7);
    assert.equal(count(activityNames(result.scheduled), Activities.startAdfCopyRun), 2);
  });

  it("a run still in progress at COPY_TIMEOUT_MINUTES is cancelled, and the backup fails saying so; the lease is released", async () => {
    const result = await adfBackup({ copyTimeoutMinutes: 1, copyPollSeconds: 25, blobLease: true }, { poll: () => ({ kind: "run", status: "InProgress", message: "" }) });
    const outcome = outcomeOf(result);
    assert.equal(outcome.status, "Failed");
    assert.match(outcome.reason, /timed out after 1 min; the run was cancelled/);
    const names = activityNames(result.scheduled);
    assert.equal(count(names, Activities.cancelAdfCopyRun), 1);
    assert.equal(count(names, Activities.commitAdfStagedCopy), 0);
    assert.equal(count(names, Activities.verifyBlobBackup), 0);
    assert.equal(names.at(-1), Activities.releaseBlobLease, "released last, after the cancel");
    const cancelledAt = result.scheduled.find((s) => s.kind === "activity" && s.name === Activities.cancelAdfCopyRun)?.at ?? "";
    assert.equal(Date.parse(cancelledAt) - Date.parse(START), 60_000, "cancelled at the deadline, before the poll due at 75 s");
  });

  for (const status of ["Failed", "Cancelled"] as const) {
    it(`ADF ${status} → the backup fails with ADF's message, nothing committed`, async () => {
      const result = await adfBackup({}, { poll: () => ({ kind: "run", status, message: "ErrorCode=UserErrorFailedToConnectToHttpServer" }) });
      const outcome = outcomeOf(result);
      assert.equal(outcome.status, "Failed");
      assert.match(outcome.reason, new RegExp(`ADF run ${status}: ErrorCode=UserErrorFailedToConnectToHttpServer`));
      assert.equal(count(activityNames(result.scheduled), Activities.commitAdfStagedCopy), 0);
    });
  }

  it("a verification mismatch fails the backup with the verifier's reason", async () => {
    const result = await adfBackup({}, { verify: { kind: "mismatch", reason: "Content-MD5 differs" } });
    const outcome = outcomeOf(result);
    assert.equal(outcome.status, "Failed");
    assert.match(outcome.reason, /verification failed: Content-MD5 differs/);
  });

  it("a lease held by someone else: backs off 5, 10, 20, 40 s, then fails without copying or releasing", async () => {
    const result = await adfBackup({ blobLease: true }, { acquire: { kind: "busy", reason: "LeaseAlreadyPresent" } });
    const outcome = outcomeOf(result);
    assert.equal(outcome.status, "Failed");
    assert.match(outcome.reason, new RegExp(`leased by someone else \\(${LEASE_ATTEMPTS} attempts\\): LeaseAlreadyPresent`));
    assert.deepEqual(timers(result.scheduled), [5, 10, 20, 40]);
    assert.deepEqual(activityNames(result.scheduled), [Activities.prepareBlobBackup, ...Array<string>(LEASE_ATTEMPTS).fill(Activities.acquireBlobLease)]);
  });
});
