/**
 * The restore orchestration's branches, by driving its generator with a stand-in context: the order of activities,
 * cursors carried between batches and through continueAsNew, the report written on every exit, failures.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import type { OrchestrationContext } from "durable-functions";

import { type BatchResult, type RestoreCounts, zeroRestoreCounts } from "../../src/domain/restore-contracts";
import { Activities } from "../../src/function-names";
import { type RestoreInput,restoreOrchestrator } from "../../src/orchestrators/restore";

interface Scheduled {
  readonly name: string;
  readonly input: Record<string, unknown>;
}

function harness(input: RestoreInput) {
  const state: { customStatus?: unknown; continuedWith?: unknown } = {};
  const context = {
    df: {
      instanceId: "restore-datalake1-sales-restore-20261130-120000",
      currentUtcDateTime: new Date("2026-11-30T12:00:00.000Z"),
      isReplaying: false,
      getInput: () => input,
      callActivityWithRetry: (name: string, _retry: unknown, activityInput: Record<string, unknown>): Scheduled => ({ name, input: activityInput }),
      setCustomStatus: (s: unknown) => (state.customStatus = s),
      continueAsNew: (i: unknown) => (state.continuedWith = i),
    },
  } as unknown as OrchestrationContext;
  const gen = restoreOrchestrator(context) as Generator<Scheduled, unknown, unknown>;
  return { gen, state };
}

const plan = {
  container: "sales",
  asOf: "2026-11-29T00:00:00.000Z",
  target: { account: "lake" as const, container: "sales-restore-20261130-120000" },
  overwrite: "never" as const,
  dryRun: false,
  inPlace: false,
};
const base: RestoreInput = { plan, backupContainer: "sales", history: "snapshot", accounts: { source: "datalake1", backup: "backup1", target: "datalake1" } };

function counts(over: Partial<RestoreCounts> = {}): RestoreCounts {
  return { ...zeroRestoreCounts(), ...over };
}

function batch(over: Partial<Extract<BatchResult, { kind: "batch" }>> = {}): BatchResult {
  return { kind: "batch", counts: counts({ considered: 2, planned: 2, restored: 2, bytes: 20 }), samples: [], failures: [], detailsStaged: true, ...over };
}

const next = (token: string) => ({ cursor: { continuationToken: token }, targetCursor: { after: `t-${token}` } });

function step(gen: Generator<Scheduled, unknown, unknown>, value?: unknown): Scheduled {
  const r = gen.next(value);
  assert.equal(r.done, false, "the orchestration schedules another activity");
  return r.value;
}

describe("restore orchestration", () => {
  it("prepares, restores page after page carrying both cursors, then writes the report and returns it", () => {
    const { gen, state } = harness(base);
    assert.equal(step(gen).name, Activities.prepareRestore);
    const first = step(gen, { kind: "ready", targetCreated: true });
    assert.equal(first.name, Activities.restoreBatch);
    assert.deepEqual(first.input.source, { kind: "listing", cursor: {}, targetCursor: {} });
    const second = step(gen, batch({ next: next("p2") }));
    assert.deepEqual(second.input.source, { kind: "listing", ...next("p2") });
    assert.deepEqual(second.input.details, { blob: "restore/2026/11/30/120000000-restore-datalake1-sales-restore-20261130-120000.blobs.jsonl", block: 1 });
    const report = step(gen, batch({ detailsStaged: true }));
    assert.equal(report.name, Activities.writeRestoreReport);
    assert.equal(report.input.detailsBlocks, 2);
    const done = gen.next({ reportBlob: "backup-reports/restore/x.json", detailsBlob: "backup-reports/restore/x.blobs.jsonl" });
    assert.equal(done.done, true);
    const output = done.value as { status: string; counts: RestoreCounts; batches: number; reportBlob: string };
    assert.equal(output.status, "completed");
    assert.equal(output.counts.restored, 4);
    assert.equal(output.counts.bytes, 40);
    assert.equal(output.batches, 2);
    assert.equal(output.reportBlob, "backup-reports/restore/x.json");
    assert.deepEqual((state.customStatus as { phase: string }).phase, "done");
  });

  it("continues as new after batchesPerExecution batches, carrying the cursors and the totals", () => {
    const { gen, state } = harness({ ...base, batchesPerExecution: 2 });
    step(gen);
    step(gen, { kind: "ready", targetCreated: true });
    step(gen, batch({ next: next("p2") }));
    const r = gen.next(batch({ next: next("p3"), detailsStaged: false }));
    assert.equal(r.done, true);
    const carried = state.continuedWith as RestoreInput;
    assert.deepEqual(carried.progress?.next, next("p3"));
    assert.equal(carried.progress?.counts.restored, 4);
    assert.equal(carried.progress?.blocks, 1, "a batch that staged no report block is not counted");
    assert.equal(carried.progress?.prepared, true);

    // The next execution does not prepare again and resumes at the carried cursor.
    const resumed = harness(carried);
    const first = step(resumed.gen);
    assert.equal(first.name, Activities.restoreBatch);
    assert.deepEqual(first.input.source, { kind: "listing", ...next("p3") });
    assert.equal((first.input.details as { block: number }).block, 1);
  });

  it("restores a list of names in slices of namesPerBatch", () => {
    const names = ["a", "b", "c", "d", "e"];
    const { gen } = harness({ ...base, plan: { ...plan, blobs: names }, namesPerBatch: 2 });
    step(gen);
    const slices: unknown[] = [];
    let task = step(gen, { kind: "ready", targetCreated: true });
    while (task.name === Activities.restoreBatch) {
      slices.push((task.input.source as { names: string[] }).names);
      task = step(gen, batch());
    }
    assert.deepEqual(slices, [["a", "b"], ["c", "d"], ["e"]]);
    assert.equal(task.name, Activities.writeRestoreReport);
  });

  it("completes with failures when some blobs failed, naming them", () => {
    const { gen } = harness(base);
    step(gen);
    step(gen, { kind: "ready", targetCreated: true });
    const failure = { name: "x", target: "x", outcome: "failed" as const, reason: "verification: …" };
    const report = step(gen, batch({ counts: counts({ considered: 1, planned: 1, failed: 1 }), failures: [failure] }));
    assert.equal((report.input.report as { status: string }).status, "completedWithFailures");
    const done = gen.next({ reportBlob: "r" });
    assert.deepEqual((done.value as { failures: unknown[] }).failures, [failure]);
  });

  it("fails with the reason when the backup has no such container, after writing the report, without creating anything", () => {
    const { gen } = harness(base);
    step(gen);
    const report = step(gen, { kind: "backupContainerNotFound" });
    assert.equal(report.name, Activities.writeRestoreReport);
    assert.equal((report.input.report as { status: string }).status, "failed");
    assert.throws(() => gen.next({ reportBlob: "backup-reports/r.json" }), /no container sales.*report: backup-reports\/r\.json/);
  });

  it("fails with the reason when a batch exhausts its retries, keeping what was done in the report", () => {
    const { gen } = harness(base);
    step(gen);
    step(gen, { kind: "ready", targetCreated: true });
    step(gen, batch({ next: next("p2") }));
    const report = gen.throw(new Error("Activity function 'RestoreBatch' failed: 503 ServerBusy")).value as Scheduled;
    assert.equal(report.name, Activities.writeRestoreReport);
    const r = report.input.report as { status: string; error: string; counts: RestoreCounts };
    assert.equal(r.status, "failed");
    assert.match(r.error, /batch 2 failed: .*ServerBusy/);
    assert.equal(r.counts.restored, 2);
    assert.throws(() => gen.next({ reportBlob: "r" }), /restore failed: batch 2/);
  });

  it("a dry run asks the activities not to write, and says so in its status", () => {
    const { gen, state } = harness({ ...base, plan: { ...plan, dryRun: true } });
    const prepare = step(gen);
    assert.equal(prepare.input.dryRun, true);
    const first = step(gen, { kind: "ready", targetCreated: false });
    assert.equal((first.input.options as { dryRun: boolean }).dryRun, true);
    assert.equal((state.customStatus as { phase: string }).phase, "dry run");
  });
});
