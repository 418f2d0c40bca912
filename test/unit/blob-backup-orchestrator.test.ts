/**
 * The blob backup orchestrator's branches, driven through the real durable-functions replay engine with scripted
 * activities (test/support/orchestrator-driver.ts), its sub-orchestrations (AdfRunMonitor, BlobCopySteps) run for real:
 * ADF throttling with Retry-After, a run past the copy timeout, ADF Failed/Cancelled, a verification mismatch, a lease
 * held by someone else, a lease lost mid-copy, BACKUP_HISTORY=versioning refused, the copy task yielded once, a
 * version refused by prepare, a long ADF run and a large copy in steps with bounded histories.
 *
 * The orchestration's input is only the request; the settings that steer it come back from the prepare activity as its
 * plan, so each test scripts the plan in the prepare answer. A backup that could not be done fails the instance.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import type { BackupRequest } from "../../src/domain/backup-request";
import type { BlobBackupInput, BlobBackupOutput, BlobBackupPlan, SourceVersion } from "../../src/domain/blob-backup";
import type {
  AcquireLeaseResult,
  CommitBlocksResult,
  CopyResult,
  GetAdfRunResult,
  PrepareBackupResult,
  RenewLeaseResult,
  StageBlocksInput,
  StageBlocksResult,
  StartAdfCopyResult,
  VerifyBackupResult,
} from "../../src/domain/blob-backup-activities";
import { ADF_POLLS_PER_MONITOR, COPY_STEPS_PER_MONITOR } from "../../src/domain/blob-copy-monitors";
import { Activities, Orchestrators } from "../../src/function-names";
import { adfRunMonitorOrchestrator } from "../../src/orchestrators/adf-run-monitor";
import { blobBackupOrchestrator, LEASE_ATTEMPTS } from "../../src/orchestrators/blob-backup";
import { blobCopyStepsOrchestrator } from "../../src/orchestrators/blob-copy-steps";
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
};
const { snapshot: _snapshot, ...liveVersion } = snapshotVersion;

/** What a test asks of the plan: the settings of the old input, as the prepare activity now reports them. */
interface PlanOptions {
  readonly copyPollSeconds?: number;
  readonly copyTimeoutMinutes?: number;
  /** Lease mode: the version is live and the plan carries a lease duration. */
  readonly blobLease?: boolean;
  readonly engine?: BlobBackupPlan["engine"];
  /** Engine `server`, a copy in steps of this many blocks (of 8 MiB). */
  readonly blocks?: number;
}

const backupInput: BlobBackupInput = { request };

function ready(options: PlanOptions): Answer {
  const plan: BlobBackupPlan = {
    engine: options.engine ?? "adf",
    ...(options.blocks !== undefined && { blocks: { blockBytes: 8 * 1024 * 1024, count: options.blocks } }),
    copyPollSeconds: options.copyPollSeconds ?? 10,
    copyTimeoutMinutes: options.copyTimeoutMinutes ?? 60,
    ...(options.blobLease === true && { leaseSeconds: 15 }),
  };
  const version = options.blobLease === true ? liveVersion : snapshotVersion;
  // A copy in steps covers the version exactly (the step and commit inputs are checked for that).
  const sized = options.blocks === undefined ? version : { ...version, contentLength: options.blocks * 8 * 1024 * 1024 };
  return { result: { kind: "ready", version: sized, plan } };
}

/** Status and reason: a failed backup fails the instance with its reason; Copied and Skipped are outputs. */
function outcomeOf(result: RunResult): { status: string; reason: string; runId?: string } {
  if (result.status === "Failed") return { status: "Failed", reason: result.error ?? "" };
  assert.equal(result.status, "Completed", result.error);
  const output = result.output as BlobBackupOutput;
  return { status: output.status, reason: output.reason, ...(output.runId !== undefined && { runId: output.runId }) };
}

/** What the orchestration and its sub-orchestrations scheduled, each child's actions in place of its call. */
function flat(result: RunResult): Scheduled[] {
  let next = 0;
  return result.scheduled.flatMap((s) => {
    if (s.kind !== "subOrchestration") return [s];
    const child = result.children[next++];
    assert.ok(child !== undefined, `the child ${s.instanceId} ran`);
    return [s, ...flat(child)];
  });
}
const activityNames = (result: RunResult) => flat(result).flatMap((s) => (s.kind === "activity" ? [s.name] : []));
const timers = (result: RunResult) => flat(result).flatMap((s) => (s.kind === "timer" && !s.retry ? [s.delayMs / 1000] : []));
const count = (names: readonly string[], name: string) => names.filter((n) => n === name).length;

interface Answers {
  /** The n-th start (1-based). */
  readonly start?: (n: number) => StartAdfCopyResult;
  /** The n-th poll (1-based). */
  readonly poll?: (n: number) => GetAdfRunResult;
  readonly verify?: VerifyBackupResult;
  readonly acquire?: AcquireLeaseResult;
  readonly prepare?: PrepareBackupResult;
  readonly renew?: (n: number) => RenewLeaseResult;
  /** Engine `server`, one call. */
  readonly copy?: Answer;
  /** Engine `server` in steps: the n-th step (1-based). */
  readonly stage?: (n: number, input: StageBlocksInput) => StageBlocksResult;
  /** The n-th commit of a copy in steps. */
  readonly commit?: (n: number) => CommitBlocksResult;
}

/** A backup whose activities answer as given; the others succeed. Its sub-orchestrations run for real. */
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
    childOrchestrators: { [Orchestrators.adfRunMonitor]: adfRunMonitorOrchestrator, [Orchestrators.blobCopySteps]: blobCopyStepsOrchestrator },
    activities: {
      [Activities.prepareBlobBackup]: () => (answers.prepare === undefined ? ready(options) : { result: answers.prepare }),
      [Activities.acquireBlobLease]: () => ({ result: answers.acquire ?? { kind: "acquired" } }),
      [Activities.renewBlobLease]: () => ({ result: answers.renew?.(nth(Activities.renewBlobLease)) ?? { kind: "renewed" } }),
      [Activities.copyBlobServerSide]: () => answers.copy ?? { result: { kind: "copied", bytes: snapshotVersion.contentLength } },
      [Activities.stageBackupBlocks]: (input: StageBlocksInput) => ({
        result: answers.stage?.(nth(Activities.stageBackupBlocks), input) ?? { kind: "staged", staged: input.layout.count, alreadyStaged: 0, remaining: 0 },
      }),
      [Activities.commitBackupBlocks]: () => ({ result: answers.commit?.(nth(Activities.commitBackupBlocks)) ?? { kind: "copied", bytes: snapshotVersion.contentLength } }),
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
    assert.deepEqual(timers(result), [10, 45], "first poll after COPY_POLL_SECONDS, the next after Retry-After");
    assert.deepEqual(activityNames(result), [
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
    assert.equal(timers(result)[0], 7);
    assert.equal(count(activityNames(result), Activities.startAdfCopyRun), 2);
  });

  it("a run still in progress at COPY_TIMEOUT_MINUTES is cancelled, and the backup fails saying so; the lease is released", async () => {
    const result = await adfBackup({ copyTimeoutMinutes: 1, copyPollSeconds: 25, blobLease: true }, { poll: () => ({ kind: "run", status: "InProgress", message: "" }) });
    const outcome = outcomeOf(result);
    assert.equal(outcome.status, "Failed");
    assert.match(outcome.reason, /timed out after 1 min; the run was cancelled/);
    const names = activityNames(result);
    assert.equal(count(names, Activities.cancelAdfCopyRun), 1);
    assert.equal(count(names, Activities.commitAdfStagedCopy), 0);
    assert.equal(count(names, Activities.verifyBlobBackup), 0);
    assert.equal(names.at(-1), Activities.releaseBlobLease, "released last, after the cancel");
    const cancelledAt = flat(result).find((s) => s.kind === "activity" && s.name === Activities.cancelAdfCopyRun)?.at ?? "";
    assert.equal(Date.parse(cancelledAt) - Date.parse(START), 60_000, "cancelled at the deadline, before the poll due at 75 s");
  });

  for (const status of ["Failed", "Cancelled"] as const) {
    it(`ADF ${status} → the backup fails with ADF's message, nothing committed`, async () => {
      const result = await adfBackup({}, { poll: () => ({ kind: "run", status, message: "ErrorCode=UserErrorFailedToConnectToHttpServer" }) });
      const outcome = outcomeOf(result);
      assert.equal(outcome.status, "Failed");
      assert.match(outcome.reason, new RegExp(`ADF run ${status}: ErrorCode=UserErrorFailedToConnectToHttpServer`));
      assert.equal(count(activityNames(result), Activities.commitAdfStagedCopy), 0);
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
    assert.deepEqual(timers(result), [5, 10, 20, 40]);
    assert.deepEqual(activityNames(result), [Activities.prepareBlobBackup, ...Array<string>(LEASE_ATTEMPTS).fill(Activities.acquireBlobLease)]);
  });

  it("a lease lost mid-copy (engine server): the copy still counts, its reason says the lease was lost, the lease is released once", async () => {
    const copied: CopyResult = { kind: "copied", bytes: 1024, leaseLost: "409 LeaseIdMismatchWithLeaseOperation on PUT …" };
    const result = await adfBackup({ engine: "server", blobLease: true }, { copy: { result: copied } });
    const outcome = outcomeOf(result);
    assert.equal(outcome.status, "Copied");
    assert.match(outcome.reason, /^copied \(lease lost during the copy: 409 LeaseIdMismatchWithLeaseOperation/);
    assert.deepEqual(activityNames(result), [
      Activities.prepareBlobBackup,
      Activities.acquireBlobLease,
      Activities.copyBlobServerSide,
      Activities.verifyBlobBackup,
      Activities.releaseBlobLease,
    ]);
  });

  it("a lease lost mid-copy (engine adf): the renewal's loss is reported with the copied backup", async () => {
    const result = await adfBackup(
      { blobLease: true, copyPollSeconds: 10 },
      {
        renew: (n) => (n === 1 ? { kind: "lost", reason: "409 LeaseNotPresentWithLeaseOperation" } : { kind: "renewed" }),
        poll: (n) => (n < 3 ? { kind: "run", status: "InProgress", message: "" } : { kind: "run", status: "Succeeded", message: "" }),
      },
    );
    const outcome = outcomeOf(result);
    assert.equal(outcome.status, "Copied");
    assert.match(outcome.reason, /ADF run succeeded \(lease lost during the copy: 409 LeaseNotPresentWithLeaseOperation\)/);
    assert.equal(activityNames(result).at(-1), Activities.releaseBlobLease);
  });

  it("BACKUP_HISTORY=versioning without versioning on the backup account: the copy's refusal fails the instance, the lease is released", async () => {
    const reason = "BACKUP_HISTORY=versioning, but the backup account returned no version id for the write";
    const result = await adfBackup({ engine: "server", blobLease: true }, { copy: { result: { kind: "failed", reason } } });
    const outcome = outcomeOf(result);
    assert.equal(outcome.status, "Failed");
    assert.equal(outcome.reason, reason);
    const names = activityNames(result);
    assert.equal(count(names, Activities.verifyBlobBackup), 0, "nothing to verify");
    assert.equal(names.at(-1), Activities.releaseBlobLease);
  });

  it("the server copy task is yielded exactly once, however long it runs: no timer races it (lease renewed by the activity)", async () => {
    const result = await adfBackup({ engine: "server", blobLease: true }, { copy: { result: { kind: "copied", bytes: 1024 }, afterMs: 9 * 60_000 } });
    assert.equal(outcomeOf(result).status, "Copied");
    assert.equal(count(activityNames(result), Activities.copyBlobServerSide), 1);
    assert.deepEqual(timers(result), [], "no renew timers: a timer raced against the copy would make it yielded again");
    assert.equal(count(activityNames(result), Activities.renewBlobLease), 0);
  });

  it("a version prepare refuses (metadata that cannot fit) fails the instance with prepare's reason, before any copy", async () => {
    const reason = "the source blob's metadata (9000 bytes of names and values) does not fit beside the backup's own record";
    const result = await adfBackup({}, { prepare: { kind: "failed", reason } });
    assert.deepEqual(outcomeOf(result), { status: "Failed", reason });
    assert.deepEqual(activityNames(result), [Activities.prepareBlobBackup]);
  });

  it("a long ADF run: polls run in AdfRunMonitor children of bounded history; the backup's own history stays small", async () => {
    const polls = 7 * ADF_POLLS_PER_MONITOR + 3;
    const result = await adfBackup(
      { copyPollSeconds: 1, copyTimeoutMinutes: 120, blobLease: true },
      { poll: (n) => (n < polls ? { kind: "run", status: "InProgress", message: "" } : { kind: "run", status: "Succeeded", message: "" }) },
    );
    assert.equal(outcomeOf(result).status, "Copied");
    assert.equal(count(activityNames(result), Activities.getAdfCopyRun), polls);
    assert.equal(result.children.length, 8, "one monitor per 50 polls");
    assert.ok(result.historyLength < 60, `the backup's history has ${result.historyLength} events`);
    const longest = Math.max(...result.children.map((c) => c.historyLength));
    assert.ok(longest < 10 * ADF_POLLS_PER_MONITOR, `a monitor's history has ${longest} events`);
    // A monitor's state carries on: the first poll of each monitor is one poll interval after the last of the previous.
    const pollTimes = flat(result).flatMap((x) => (x.kind === "activity" && x.name === Activities.getAdfCopyRun ? [Date.parse(x.at)] : []));
    assert.ok(pollTimes.every((t, i) => i === 0 || t - (pollTimes[i - 1] ?? 0) >= 1000), "no poll earlier than its interval");
  });

  it("a large copy in steps: BlobCopySteps children stage until nothing remains, then one commit, then verify", async () => {
    const blocks = 100;
    const perStep = 3;
    const result = await adfBackup(
      { engine: "server", blocks },
      {
        stage: (n) => {
          const before = Math.min(blocks, (n - 1) * perStep);
          const after = Math.min(blocks, n * perStep);
          return { kind: "staged", staged: after - before, alreadyStaged: before, remaining: blocks - after };
        },
      },
    );
    const outcome = outcomeOf(result);
    assert.equal(outcome.status, "Copied");
    assert.match(outcome.reason, /^copied in steps \(100 blocks of 8388608 bytes, 100 sent\); verified/);
    const names = activityNames(result);
    const steps = Math.ceil(blocks / perStep);
    assert.equal(count(names, Activities.stageBackupBlocks), steps);
    assert.equal(count(names, Activities.commitBackupBlocks), 1);
    assert.equal(names.indexOf(Activities.commitBackupBlocks), names.lastIndexOf(Activities.stageBackupBlocks) + 1, "committed after the last step");
    assert.equal(result.children.length, Math.ceil(steps / COPY_STEPS_PER_MONITOR));
    const guid = result.children[0]?.instanceId.split(":")[1] ?? "";
    assert.match(guid, /^[0-9a-f-]{36}$/, "child ids carry the execution's request id (a newGuid), so a restarted backup never reuses one");
    assert.deepEqual(result.children.map((c) => c.instanceId), result.children.map((_, n) => `blob-backup-test:${guid}:steps:${n}`));
    assert.ok(result.historyLength < 30, `the backup's history has ${result.historyLength} events`);
    const stage = flat(result).find((x) => x.kind === "activity" && x.name === Activities.stageBackupBlocks);
    const stageInput = (stage?.kind === "activity" ? stage.input : undefined) as StageBlocksInput;
    assert.deepEqual(stageInput.layout, { blockBytes: 8 * 1024 * 1024, count: blocks }, "the plan's layout travels to every step");
  });

  it("a copy in steps whose commit finds blocks gone stages again and commits once more", async () => {
    let restaged = false;
    const result = await adfBackup(
      { engine: "server", blocks: 4 },
      {
        stage: (n) => {
          if (n === 2) restaged = true;
          return n === 1 ? { kind: "staged", staged: 4, alreadyStaged: 0, remaining: 0 } : { kind: "staged", staged: 1, alreadyStaged: 3, remaining: 0 };
        },
        commit: (n) => (n === 1 ? { kind: "incomplete", reason: "some staged blocks are gone" } : { kind: "copied", bytes: 1024 }),
      },
    );
    assert.equal(outcomeOf(result).status, "Copied");
    assert.ok(restaged);
    assert.deepEqual(
      activityNames(result).filter((n) => n === Activities.stageBackupBlocks || n === Activities.commitBackupBlocks),
      [Activities.stageBackupBlocks, Activities.commitBackupBlocks, Activities.stageBackupBlocks, Activities.commitBackupBlocks],
    );
  });

  it("a copy in steps whose source changed mid-way ends Skipped (stale), without a commit", async () => {
    const result = await adfBackup(
      { engine: "server", blocks: 10 },
      { stage: (n) => (n === 1 ? { kind: "staged", staged: 3, alreadyStaged: 0, remaining: 7 } : { kind: "skipped", reason: "stale: the source blob changed during the copy" }) },
    );
    assert.deepEqual(outcomeOf(result), { status: "Skipped", reason: "stale: the source blob changed during the copy" });
    assert.equal(count(activityNames(result), Activities.commitBackupBlocks), 0);
  });

  it("engine adf, a large blob: after the run succeeded, its staged blob moves into place in steps, not in one commit", async () => {
    const stageInputs: StageBlocksInput[] = [];
    const result = await adfBackup(
      { blocks: 10 },
      {
        stage: (_n, input) => {
          stageInputs.push(input);
          return { kind: "staged", staged: 10, alreadyStaged: 0, remaining: 0 };
        },
      },
    );
    const outcome = outcomeOf(result);
    assert.equal(outcome.status, "Copied");
    assert.match(outcome.reason, /^ADF run succeeded; copied in steps \(10 blocks of 8388608 bytes, 10 sent\); verified/);
    const names = activityNames(result);
    assert.equal(count(names, Activities.commitAdfStagedCopy), 0);
    assert.equal(count(names, Activities.commitBackupBlocks), 1);
    assert.deepEqual(
      stageInputs.map((i) => [i.from, i.requestId !== undefined]),
      [["adfStaging", true]],
      "the steps read the blob the run staged for this request",
    );
    const commit = flat(result).find((x) => x.kind === "activity" && x.name === Activities.commitBackupBlocks);
    assert.equal((commit?.kind === "activity" ? (commit.input as { from?: string }) : {}).from, "adfStaging");
  });
});
