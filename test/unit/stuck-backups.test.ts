/**
 * Reconciliation's look at stuck backups: the orchestrator's branch (driven through the real replay engine), the pure
 * rules that decide what counts as failed, stuck or an overdue lease, and the lease id a backup derives from its
 * instance id.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { backupLeaseId } from "../../src/domain/backup-lease-id";
import type { BackupBatch, BackupRequest } from "../../src/domain/backup-request";
import { blobBackupInstanceId } from "../../src/domain/blob-backup";
import { blobBatchInstanceId } from "../../src/domain/blob-batch-backup";
import { type ReconciliationPlan, type ReconciliationReport, type StagePartInput, zeroReconcileCounts } from "../../src/domain/reconciliation";
import {
  emptyStuckReport,
  type FindStuckInput,
  type InstanceSummary,
  inSync,
  leaseOverdue,
  stuckBackupOf,
  type StuckBackupsReport,
} from "../../src/domain/stuck-backups";
import { Activities, Orchestrators } from "../../src/function-names";
import type { ContainerReconciliationInput } from "../../src/orchestrators/container-reconciliation";
import { reconciliation } from "../../src/orchestrators/reconciliation";
import { runOrchestration } from "../support/orchestrator-driver";

const START = "2026-01-05T02:00:00.000Z";

const request = (container: string, blob: string, snapshot?: string): BackupRequest => ({
  v: 1,
  account: "datalake1",
  container,
  blob,
  etag: '"0x1"',
  ...(snapshot !== undefined && { snapshot }),
  lastModified: START,
  contentLength: 3,
  reason: "producer",
  requestedAt: START,
});

const plan: ReconciliationPlan = {
  account: "datalake1",
  backupAccount: "backup1",
  snapshots: "auto",
  parallelism: 2,
  containers: [{ container: "alpha", backupContainer: "alpha-backup" }],
  refused: [],
  excluded: [],
  notFound: [],
};

const stuckReport: StuckBackupsReport = {
  ...emptyStuckReport(),
  failed: 1,
  stuck: 1,
  leasesHeld: 1,
  requested: 2,
  terminated: 1,
  leasesReleased: 1,
  samples: [
    {
      instanceId: "blob-backup-1",
      container: "alpha",
      blob: "a.csv",
      runtimeStatus: "Running",
      why: "stuck",
      createdTime: START,
      lastUpdatedTime: START,
      leaseHeld: true,
      action: "terminatedAndRequested",
    },
  ],
};

function child(input: ContainerReconciliationInput) {
  const counts = { blobs: 2, inSync: 2, missing: 0, outdated: 0 };
  return {
    result: {
      container: input.container,
      backupContainer: input.backupContainer,
      status: "completed",
      counts: { ...zeroReconcileCounts(), ...counts },
      orphanSamples: [],
      windows: 1,
      startedAt: START,
      completedAt: START,
    },
    afterMs: 30_000,
  };
}

describe("reconciliation's stuck-backup step (orchestrator)", { timeout: 30_000 }, () => {
  const run = (dryRun: boolean, found: StuckBackupsReport, containers?: string[]) =>
    runOrchestration(reconciliation, {
      input: { dryRun, startedBy: "timer", prefix: "2026/", ...(containers !== undefined && { containers }) },
      instanceId: "reconciliation",
      startAt: START,
      activities: {
        [Activities.planReconciliation]: () => ({ result: plan }),
        [Activities.findStuckBackups]: () => ({ result: found }),
        [Activities.writeReconciliationReport]: () => ({ result: { reportBlob: "backup-reports/r.json" } }),
        [Activities.stageReconciliationReportPart]: (input: StagePartInput) => ({ result: { reportName: input.reportName ?? "r" } }),
      },
      subOrchestrations: { [Orchestrators.containerReconciliation]: child },
    });

  it("asks after the containers, at the orchestration's time, for the run's containers (the settings' when none were asked for) and prefix; repairs unless a dry run", async () => {
    for (const [dryRun, containers] of [[false, undefined], [true, undefined], [false, ["alpha"]]] as const) {
      const result = await run(dryRun, emptyStuckReport(), containers === undefined ? undefined : [...containers]);
      assert.equal(result.status, "Completed", result.error);
      const step = result.scheduled.find((s) => s.kind === "activity" && s.name === Activities.findStuckBackups);
      const expected: FindStuckInput = { now: "2026-01-05T02:00:30.000Z", repair: !dryRun, ...(containers !== undefined && { containers: [...containers] }), prefix: "2026/" };
      assert.deepEqual(step?.kind === "activity" && step.input, expected);
      const trail = result.trail.filter((t) => !t.startsWith("sub "));
      const written = dryRun ? [] : [Activities.writeReconciliationReport];
      const staged = dryRun ? [] : [Activities.stageReconciliationReportPart];
      assert.deepEqual(trail, [Activities.planReconciliation, ...staged, Activities.findStuckBackups, ...written]);
      const report = result.output as ReconciliationReport;
      assert.equal(report.inSync, true, "nothing missing and nothing stuck");
    }
  });

  it("puts what it found into the report and the status: not in sync, although every container is", async () => {
    const result = await run(false, stuckReport);
    assert.equal(result.status, "Completed", result.error);
    const report = result.output as ReconciliationReport;
    assert.deepEqual(report.backups, stuckReport);
    assert.equal(report.totals.missing + report.totals.outdated, 0);
    assert.equal(report.inSync, false);
    assert.deepEqual(result.customStatus, { phase: "done", containersDone: 1, failedBackups: 1, stuckBackups: 1, leasesHeld: 1 });
    const written = result.scheduled.find((s) => s.kind === "activity" && s.name === Activities.writeReconciliationReport);
    assert.deepEqual(written?.kind === "activity" && (written.input as { report: ReconciliationReport }).report.backups, stuckReport);
  });
});

describe("what counts as a failed or stuck backup", () => {
  const now = new Date("2026-01-05T03:00:00.000Z");
  const selection = { containers: new Set(["alpha"]), runningSince: new Date("2026-01-05T02:00:00.000Z") };
  const instance = (runtimeStatus: string, createdTime: string, input: unknown = { request: request("alpha", "a.csv") }, instanceId = "blob-backup-x"): InstanceSummary => ({
    instanceId,
    runtimeStatus,
    createdTime,
    lastUpdatedTime: createdTime,
    input,
  });

  it("failed and terminated backups; running or pending ones created at or before the copy timeout; nothing else", () => {
    assert.equal(stuckBackupOf(instance("Failed", "2026-01-05T02:59:00Z"), selection)?.why, "failed");
    assert.equal(stuckBackupOf(instance("Terminated", "2026-01-05T02:59:00Z"), selection)?.why, "failed");
    assert.equal(stuckBackupOf(instance("Running", "2026-01-05T02:00:00Z"), selection)?.why, "stuck");
    assert.equal(stuckBackupOf(instance("Pending", "2026-01-05T01:00:00Z"), selection)?.why, "stuck");
    assert.equal(stuckBackupOf(instance("Running", "2026-01-05T02:00:01Z"), selection), undefined, "younger than the copy timeout");
    assert.equal(stuckBackupOf(instance("Completed", "2026-01-05T01:00:00Z"), selection), undefined);
  });

  it("only blob backups of the run's containers and prefix, with a valid request", () => {
    assert.equal(stuckBackupOf(instance("Failed", START, undefined, "scan-alpha"), selection), undefined);
    assert.equal(stuckBackupOf(instance("Failed", START, { request: request("beta", "a.csv") }), selection), undefined);
    assert.equal(stuckBackupOf(instance("Failed", START, { request: { nonsense: true } }), selection), undefined);
    assert.equal(stuckBackupOf(instance("Failed", START), { ...selection, prefix: "b" }), undefined);
    assert.deepEqual(stuckBackupOf(instance("Failed", START), { ...selection, prefix: "a" })?.target, { kind: "blob", request: request("alpha", "a.csv") });
  });

  it("batch backups too: a failed or stuck batch of the run's containers with any version under the prefix, found with its whole batch", () => {
    const batch: BackupBatch = {
      v: 2,
      account: "datalake1",
      container: "alpha",
      reason: "producer",
      requestedAt: START,
      versions: [
        { blob: "a/1.csv", etag: '"0x1"', lastModified: START, contentLength: 3 },
        { blob: "b/2.csv", etag: '"0x2"', lastModified: START, contentLength: 3 },
      ],
    };
    const id = blobBatchInstanceId(batch);
    const batchInstance = (runtimeStatus: string, createdTime = START, input: unknown = { batch }) => instance(runtimeStatus, createdTime, input, id);
    assert.deepEqual(stuckBackupOf(batchInstance("Terminated"), selection), { why: "failed", target: { kind: "batch", batch } });
    assert.equal(stuckBackupOf(batchInstance("Running", "2026-01-05T01:59:00Z"), selection)?.why, "stuck");
    assert.equal(stuckBackupOf(batchInstance("Running", "2026-01-05T02:00:01Z"), selection), undefined, "younger than the copy timeout");
    assert.equal(stuckBackupOf(batchInstance("Failed"), { ...selection, prefix: "b/" })?.why, "failed", "its second version is under the prefix");
    assert.equal(stuckBackupOf(batchInstance("Failed"), { ...selection, prefix: "c/" }), undefined);
    assert.equal(stuckBackupOf(batchInstance("Failed"), { ...selection, containers: new Set(["beta"]) }), undefined);
    assert.equal(stuckBackupOf(batchInstance("Failed", START, { batch: { ...batch, versions: [] } }), selection), undefined, "an input that is not a batch");
    assert.equal(stuckBackupOf(batchInstance("Failed", START, { request: request("alpha", "a.csv") }), selection), undefined, "a request under a batch's id");
  });

  it("a failed backup's lease counts once a lease duration has passed since it last changed; a stuck one's always", () => {
    assert.equal(leaseOverdue("failed", "2026-01-05T02:59:50Z", now, 15), false);
    assert.equal(leaseOverdue("failed", "2026-01-05T02:59:45Z", now, 15), true);
    assert.equal(leaseOverdue("stuck", "2026-01-05T02:59:59Z", now, 60), true);
  });

  it("in sync: every container completed, nothing missing or outdated, nothing failed, stuck or leased", () => {
    const ok = [{ status: "completed" }];
    const none = { missing: 0, outdated: 0 };
    assert.equal(inSync(ok, none, emptyStuckReport()), true);
    assert.equal(inSync(ok, none, { ...emptyStuckReport(), leasesHeld: 1 }), false);
    assert.equal(inSync(ok, { missing: 1, outdated: 0 }, emptyStuckReport()), false);
    assert.equal(inSync([{ status: "failed" }], none, emptyStuckReport()), false);
  });
});

describe("the lease id of a blob backup", () => {
  it("is a GUID derived from the instance id alone, the same on every replay and restart, different per version", () => {
    const a = blobBackupInstanceId(request("alpha", "a.csv"));
    const b = blobBackupInstanceId({ ...request("alpha", "a.csv"), etag: '"0x2"' });
    assert.match(backupLeaseId(a), /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(backupLeaseId(a), backupLeaseId(a));
    assert.notEqual(backupLeaseId(a), backupLeaseId(b));
  });
});
