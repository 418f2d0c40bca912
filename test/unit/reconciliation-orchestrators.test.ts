/**
 * The reconciliation orchestrators, branch by branch, driven through the real durable-functions replay engine with
 * scripted activities and sub-orchestrations (test/support/orchestrator-driver.ts).
 * - The lake's reconciliation: container selection, batches of `parallelism` sub-orchestrations, a failed container
 *   reported while the others go on, the report written (or not, in a dry run).
 * - One container's reconciliation: window after window with the cursor carried, continueAsNew with progress, and
 *   the failures it reports instead of throwing.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import type { PlanRangesInput, PlanRangesResult } from "../../src/activities/plan-listing-ranges";
import {
  type ContainerReport,
  MAX_ORPHAN_SAMPLES,
  type PlanInput,
  type ReconcileCounts,
  type ReconciliationPlan,
  type ReconciliationReport,
  type StagePartInput,
  type WindowInput,
  type WindowResult,
  zeroReconcileCounts,
} from "../../src/domain/reconciliation";
import { emptyStuckReport } from "../../src/domain/stuck-backups";
import { Activities, Orchestrators } from "../../src/function-names";
import { containerReconciliation, type ContainerReconciliationInput } from "../../src/orchestrators/container-reconciliation";
import { MAX_OUTPUT_CONTAINERS, reconciliation, type ReconciliationInput } from "../../src/orchestrators/reconciliation";
import { type Answer, runOrchestration, type Scheduled } from "../support/orchestrator-driver";

const START = "2026-01-05T02:00:00.000Z";

const lakeInput = (overrides: Partial<ReconciliationInput> = {}): ReconciliationInput => ({ dryRun: false, startedBy: "timer", ...overrides });

/**
 * What PlanReconciliation answers: the settings' decisions (selection, backup containers, parallelism, mode), one
 * batch of `parallelism` containers after the input's `after` (names in order, refused ones included).
 */
function plan(containers: readonly string[], overrides: Partial<ReconciliationPlan> = {}): (input: PlanInput) => Answer {
  return (input) => {
    const parallelism = overrides.parallelism ?? 2;
    const refused = overrides.refused ?? [];
    const all = [...containers, ...refused.map((r) => r.container)].sort().filter((c) => input.after === undefined || c > input.after);
    const batch = all.slice(0, parallelism);
    const result: ReconciliationPlan = {
      account: "datalake1",
      backupAccount: "backup1",
      snapshots: "auto",
      parallelism,
      excluded: input.after === undefined ? (overrides.excluded ?? []) : [],
      notFound: input.after === undefined ? (overrides.notFound ?? []) : [],
      containers: batch.filter((c) => containers.includes(c)).map((container) => ({ container, backupContainer: `${container}-backup` })),
      refused: refused.filter((r) => batch.includes(r.container)),
      more: all.length > batch.length,
      ...(batch.length > 0 && { last: batch[batch.length - 1] }),
    };
    return { result };
  };
}

function reconcileCounts(blobs: number, requests = 0): ReconcileCounts {
  return { ...zeroReconcileCounts(), blobs, inSync: blobs - requests, missing: requests, requests, sourceListRequests: 1, backupListRequests: 1 };
}

function childReport(input: ContainerReconciliationInput, blobs: number, status: ContainerReport["status"] = "completed"): ContainerReport {
  return {
    container: input.container,
    backupContainer: input.backupContainer,
    status,
    ...(status === "failed" && { error: "the account refuses blob snapshots" }),
    counts: reconcileCounts(blobs, 1),
    orphanSamples: [],
    windows: 1,
    startedAt: START,
    completedAt: START,
  };
}

/** FindStuckBackups with nothing to report. */
const noneStuck = (): Answer => ({ result: emptyStuckReport() });
/** StageReconciliationReportPart: the first part names the report blob, the next ones stage on it. */
const stagePart = (input: StagePartInput): Answer => ({ result: { reportName: input.reportName ?? `name-${input.instanceId}` } });

const subs = (scheduled: readonly Scheduled[]) => scheduled.filter((s): s is Extract<Scheduled, { kind: "subOrchestration" }> => s.kind === "subOrchestration");

describe("reconciliation orchestrator (the lake)", { timeout: 30_000 }, () => {

  it("reconciles the selected containers in batches of `parallelism`, then writes the report", async () => {
    const result = await runOrchestration(reconciliation, {
      input: lakeInput({ pageSize: 10 }),
      instanceId: "reconciliation",
      startAt: START,
      activities: {
        [Activities.findStuckBackups]: noneStuck,
        [Activities.planReconciliation]: plan(["alpha", "beta", "gamma"], { excluded: ["scratch"], parallelism: 2 }),
        [Activities.writeReconciliationReport]: (input: { report: ReconciliationReport }) => ({ result: { reportBlob: `backup-reports/${input.report.startedAt}.json` } }),
        [Activities.stageReconciliationReportPart]: stagePart,
      },
      subOrchestrations: {
        [Orchestrators.containerReconciliation]: (input: ContainerReconciliationInput) => ({ result: childReport(input, 10), afterMs: input.container === "alpha" ? 60_000 : 30_000 }),
      },
    });
    assert.equal(result.status, "Completed", result.error);
    assert.deepEqual(result.trail, [
      Activities.planReconciliation,
      `sub ${Orchestrators.containerReconciliation} reconciliation-20260105020000000-alpha`,
      `sub ${Orchestrators.containerReconciliation} reconciliation-20260105020000000-beta`,
      Activities.stageReconciliationReportPart,
      "continueAsNew",
      Activities.planReconciliation,
      `sub ${Orchestrators.containerReconciliation} reconciliation-20260105020000000-gamma`,
      Activities.stageReconciliationReportPart,
      Activities.findStuckBackups,
      Activities.writeReconciliationReport,
    ]);
    // Two at a time: gamma is scheduled only once both alpha (60 s) and beta (30 s) have answered.
    const [alpha, beta, gamma] = subs(result.scheduled);
    assert.ok(alpha && beta && gamma);
    assert.deepEqual([alpha.at, beta.at, gamma.at], [START, START, "2026-01-05T02:01:00.000Z"]);
    const input = alpha.input as ContainerReconciliationInput;
    assert.deepEqual(input, {
      container: "alpha",
      backupContainer: "alpha-backup",
      options: { dryRun: false, snapshots: "auto", pageSize: 10, sourcePages: 4 },
    });
    const report = result.output as ReconciliationReport;
    assert.deepEqual(report.containers.map((c) => c.container), ["alpha", "beta", "gamma"]);
    assert.deepEqual(report.excluded, ["scratch"]);
    assert.deepEqual([report.totals.blobs, report.totals.requests], [30, 3]);
    assert.equal(report.reportBlob, `backup-reports/${START}.json`);
    const written = result.scheduled.find((s) => s.kind === "activity" && s.name === Activities.writeReconciliationReport);
    const { reportBlob: _written, ...reported } = report;
    assert.deepEqual(written?.kind === "activity" && written.input, { report: reported, parts: 2, reportName: "name-reconciliation" });
    // Each batch's reports went to the report blob as a part, not through the next execution's input.
    const parts = result.scheduled.flatMap((s) => (s.kind === "activity" && s.name === Activities.stageReconciliationReportPart ? [s.input as StagePartInput] : []));
    assert.deepEqual(parts.map((p) => [p.part, p.reportName, p.containers.map((c) => c.container)]), [
      [0, undefined, ["alpha", "beta"]],
      [1, "name-reconciliation", ["gamma"]],
    ]);
  });

  it("keeps its history flat: one batch per execution, the carried input bounded whatever the number of containers", async () => {
    const names = Array.from({ length: 1000 }, (_, i) => `c${String(i).padStart(4, "0")}`);
    const result = await runOrchestration(reconciliation, {
      input: lakeInput(),
      startAt: START,
      maxEpisodes: 10_000,
      activities: {
        [Activities.findStuckBackups]: noneStuck,
        [Activities.planReconciliation]: plan(names, { parallelism: 8 }),
        [Activities.writeReconciliationReport]: () => ({ result: { reportBlob: "r" } }),
        [Activities.stageReconciliationReportPart]: stagePart,
      },
      subOrchestrations: { [Orchestrators.containerReconciliation]: (input: ContainerReconciliationInput) => ({ result: childReport(input, 3) }) },
    });
    assert.equal(result.status, "Completed", result.error);
    assert.equal(result.inputs.length, 125, "one execution per batch of 8");
    const report = result.output as ReconciliationReport;
    assert.equal(report.containersReported, 1000);
    assert.equal(report.containers.length, MAX_OUTPUT_CONTAINERS, "the output keeps a bounded sample; the report blob has all");
    assert.equal(report.totals.blobs, 3000);
    // What each execution carries: a position, totals and the output's sample — not the container list or reports.
    const sizes = result.inputs.map((i) => JSON.stringify(i).length);
    const sampleFull = sizes[Math.ceil(MAX_OUTPUT_CONTAINERS / 8) + 1] ?? 0;
    assert.ok(sizes.every((n) => n <= sampleFull + 100), `execution inputs stop growing once the sample is full (${sampleFull} characters; counts may gain a digit)`);
    assert.ok(sampleFull < 60_000, `largest execution input ${sampleFull} characters`);
  });

  it("reports a failed container and goes on with the others", async () => {
    const result = await runOrchestration(reconciliation, {
      input: lakeInput(),
      startAt: START,
      activities: {
        [Activities.findStuckBackups]: noneStuck,
        [Activities.planReconciliation]: plan(["a-lake", "b-lake", "c-lake"], { parallelism: 1 }),
        [Activities.writeReconciliationReport]: () => ({ result: { reportBlob: "r" } }),
        [Activities.stageReconciliationReportPart]: stagePart,
      },
      subOrchestrations: { [Orchestrators.containerReconciliation]: (input: ContainerReconciliationInput) => ({ result: childReport(input, 5, input.container === "a-lake" ? "failed" : "completed") }) },
    });
    assert.equal(result.status, "Completed", result.error);
    assert.equal(subs(result.scheduled).length, 3, "b-lake and c-lake still reconciled");
    const report = result.output as ReconciliationReport;
    assert.deepEqual(report.containers.map((c) => [c.container, c.status]), [["a-lake", "failed"], ["b-lake", "completed"], ["c-lake", "completed"]]);
    assert.equal(report.containers[0]?.error, "the account refuses blob snapshots");
  });

  it("reports a container the plan refuses (e.g. its backup container name would be invalid), without starting it", async () => {
    const reason = 'backup container name "a-much-longer-container-name-backup-of-the-container" is not valid';
    const result = await runOrchestration(reconciliation, {
      input: lakeInput(),
      startAt: START,
      activities: {
        [Activities.findStuckBackups]: noneStuck,
        [Activities.planReconciliation]: plan(["okay"], { refused: [{ container: "a-much-longer-container-name", reason }] }),
        [Activities.writeReconciliationReport]: () => ({ result: { reportBlob: "r" } }),
        [Activities.stageReconciliationReportPart]: stagePart,
      },
      subOrchestrations: { [Orchestrators.containerReconciliation]: (input: ContainerReconciliationInput) => ({ result: childReport(input, 1) }) },
    });
    const report = result.output as ReconciliationReport;
    const failed = report.containers.find((c) => c.container === "a-much-longer-container-name");
    assert.equal(failed?.status, "failed");
    assert.match(failed?.error ?? "", /backup container name ".*" is not valid/);
    assert.deepEqual(subs(result.scheduled).map((s) => (s.input as ContainerReconciliationInput).container), ["okay"]);
  });

  it("a dry run writes no report; the containers asked for go to the plan, and those the lake lacks are reported", async () => {
    const result = await runOrchestration(reconciliation, {
      input: lakeInput({ dryRun: true, containers: ["alpha", "nosuch"], prefix: "2026/" }),
      startAt: START,
      activities: { [Activities.findStuckBackups]: noneStuck, [Activities.planReconciliation]: plan(["alpha"], { notFound: ["nosuch"], excluded: ["beta"] }) },
      subOrchestrations: { [Orchestrators.containerReconciliation]: (input: ContainerReconciliationInput) => ({ result: childReport(input, 2) }) },
    });
    assert.equal(result.status, "Completed", result.error);
    assert.deepEqual(result.trail, [Activities.planReconciliation, `sub ${Orchestrators.containerReconciliation} test-instance-20260105020000000-alpha`, Activities.findStuckBackups]);
    const planned = result.scheduled.find((s) => s.kind === "activity" && s.name === Activities.planReconciliation);
    assert.deepEqual(planned?.kind === "activity" && planned.input, { containers: ["alpha", "nosuch"], batch: true });
    const child = subs(result.scheduled)[0]?.input as ContainerReconciliationInput;
    assert.deepEqual(child.options, { prefix: "2026/", dryRun: true, snapshots: "auto", sourcePages: 4 });
    const report = result.output as ReconciliationReport;
    assert.deepEqual([report.dryRun, report.reportBlob, report.notFound, report.excluded], [true, undefined, ["nosuch"], ["beta"]]);
  });

  it("an empty selection writes a report with no containers", async () => {
    const result = await runOrchestration(reconciliation, {
      input: lakeInput(),
      startAt: START,
      activities: { [Activities.findStuckBackups]: noneStuck, [Activities.planReconciliation]: plan([], { excluded: ["only"] }), [Activities.writeReconciliationReport]: () => ({ result: { reportBlob: "r" } }) },
    });
    assert.deepEqual(result.trail, [Activities.planReconciliation, Activities.findStuckBackups, Activities.writeReconciliationReport]);
    assert.deepEqual((result.output as ReconciliationReport).containers, []);
  });
});

describe("container reconciliation orchestrator (one container)", { timeout: 30_000 }, () => {
  const childInput = (overrides: Partial<ContainerReconciliationInput> = {}): ContainerReconciliationInput => ({
    container: "alpha",
    backupContainer: "alpha-backup",
    options: { dryRun: false, snapshots: "auto", sourcePages: 2 },
    ...overrides,
  });

  /** Windows over a container: window i resumes at `s<i>` / `b<i>` and reports `orphans` orphan names. */
  function windows(count: number, extra: (i: number) => Partial<Extract<WindowResult, { kind: "window" }>> = () => ({})) {
    return (input: WindowInput): Answer => {
      const i = input.cursor.source === undefined ? 0 : Number(input.cursor.source.continuationToken?.slice(1));
      return {
        result: {
          kind: "window",
          counts: reconcileCounts(10, 2),
          orphanSamples: [],
          cursor: { source: { continuationToken: `s${i + 1}` }, backup: { token: `b${i + 1}`, after: `name-${i}` } },
          done: i === count - 1,
          ...extra(i),
        } satisfies WindowResult,
      };
    };
  }
  const windowInputs = (scheduled: readonly Scheduled[]) =>
    scheduled.flatMap((s) => (s.kind === "activity" && s.name === Activities.reconcileContainerWindow ? [s.input as WindowInput] : []));
  /** PlanListingRanges: the container is not split (a small or flat one). */
  const whole = { [Activities.planListingRanges]: (): Answer => ({ result: { kind: "ranges", parallelism: 8 } satisfies PlanRangesResult }) };

  /** A container's first window that did not reach the end of the listing: it covered every name up to `a/x`. */
  const firstWindow = {
    [Activities.reconcileContainerWindow]: (): Answer => ({
      result: {
        kind: "window",
        counts: reconcileCounts(7, 1),
        orphanSamples: ["0/gone"],
        cursor: { source: { continuationToken: "s1", skipName: "a/x" }, backup: { token: "b1", after: "a/w" } },
        done: false,
        directoriesCovered: 1,
      } satisfies WindowResult,
    }),
  };

  it("splits a container its first window did not finish into name ranges after that window's last name, reconciled as sub-orchestrations a batch per execution, and sums them", async () => {
    const planned = [{ prefix: "", level: true as const }, { prefix: "0/" }, { prefix: "a/" }, { prefix: "b/" }, { prefix: "c/" }, { prefix: "d/" }, { prefix: "e/" }];
    const result = await runOrchestration(containerReconciliation, {
      input: childInput(),
      instanceId: "reconciliation-run-alpha",
      startAt: START,
      activities: { ...firstWindow, [Activities.planListingRanges]: () => ({ result: { kind: "ranges", ranges: planned, parallelism: 3 } satisfies PlanRangesResult }) },
      subOrchestrations: {
        [Orchestrators.containerReconciliation]: (input: ContainerReconciliationInput) => ({
          result: {
            ...childReport(input, 10),
            orphanSamples: [`${input.options.range?.prefix ?? ""}gone`],
            ...(input.options.range?.prefix === "b/" && { status: "failed", error: "503 Server Busy" }),
          } satisfies ContainerReport,
        }),
      },
    });
    assert.equal(result.status, "Completed", result.error);
    assert.deepEqual(result.trail, [
      Activities.reconcileContainerWindow,
      Activities.planListingRanges,
      `sub ${Orchestrators.containerReconciliation} reconciliation-run-alpha-r0`,
      `sub ${Orchestrators.containerReconciliation} reconciliation-run-alpha-r1`,
      `sub ${Orchestrators.containerReconciliation} reconciliation-run-alpha-r2`,
      "continueAsNew",
      `sub ${Orchestrators.containerReconciliation} reconciliation-run-alpha-r3`,
      `sub ${Orchestrators.containerReconciliation} reconciliation-run-alpha-r4`,
      `sub ${Orchestrators.containerReconciliation} reconciliation-run-alpha-r5`,
    ]);
    const started = subs(result.scheduled).map((s) => s.input as ContainerReconciliationInput);
    // "0/" sorts wholly before a/x: the first window covered it. The others start after a/x, on both sides.
    assert.deepEqual(started.map((i) => i.options.range), [planned[0], ...planned.slice(2)]);
    for (const i of started) assert.deepEqual(i.progress?.cursor, { source: { skipName: "a/x" }, backup: { after: "a/x" } });
    const carried = (result.inputs[1] as ContainerReconciliationInput).fanOut;
    assert.deepEqual(carried && [carried.next, carried.totals.blobs, carried.ranges.length, carried.after], [3, 37, 6, "a/x"]);
    const report = result.output as ContainerReport;
    assert.deepEqual([report.status, report.counts.blobs, report.windows, report.startedAt], ["failed", 67, 7, START]);
    assert.equal(report.error, 'range "b/": 503 Server Busy', "a failed range fails the container, the others still counted");
    assert.deepEqual(report.orphanSamples, ["0/gone", "gone", "a/gone", "b/gone", "c/gone", "d/gone", "e/gone"]);
  });

  it("goes on with windows when the ranges left would hold too little for their batches of sub-orchestrations", async () => {
    // The first window covered "0/" and part of "a/"; at its pace the four ranges left are two windows' worth, and at
    // parallelism 2 they would take two batches: no split.
    const planned = [{ prefix: "", level: true as const }, { prefix: "0/" }, { prefix: "a/" }, { prefix: "b/" }, { prefix: "c/" }];
    let window = 0;
    const planInputs: PlanRangesInput[] = [];
    const result = await runOrchestration(containerReconciliation, {
      input: childInput(),
      startAt: START,
      activities: {
        [Activities.reconcileContainerWindow]: (input: WindowInput): Answer => {
          window += 1;
          if (window === 1) return firstWindow[Activities.reconcileContainerWindow]();
          assert.deepEqual(input.cursor.source, { continuationToken: "s1", skipName: "a/x" }, "the next window goes on from the first");
          return { result: { kind: "window", counts: reconcileCounts(5, 0), orphanSamples: [], cursor: { backup: { ended: true } }, done: true } satisfies WindowResult };
        },
        [Activities.planListingRanges]: (input: PlanRangesInput) => {
          planInputs.push(input);
          return { result: { kind: "ranges", ranges: planned, parallelism: 2 } satisfies PlanRangesResult };
        },
      },
    });
    assert.equal(result.status, "Completed", result.error);
    assert.deepEqual(result.trail, [Activities.reconcileContainerWindow, Activities.planListingRanges, Activities.reconcileContainerWindow]);
    assert.deepEqual(planInputs, [{ container: "alpha", backupContainer: "alpha-backup", coveredDirectories: 1 }], "the plan is told what the first window covered");
    assert.deepEqual([(result.output as ContainerReport).counts.blobs, (result.output as ContainerReport).windows], [12, 2]);
  });

  it("never plans a container that one window finishes; a range runs its windows without planning; a refused plan is the container's failure", async () => {
    const small = await runOrchestration(containerReconciliation, { input: childInput(), startAt: START, activities: { [Activities.reconcileContainerWindow]: windows(1) } });
    assert.deepEqual(small.trail, [Activities.reconcileContainerWindow]);
    assert.equal((small.output as ContainerReport).status, "completed");
    const range = { prefix: "a/" };
    const child = await runOrchestration(containerReconciliation, {
      input: childInput({ options: { dryRun: false, snapshots: "auto", sourcePages: 2, range } }),
      startAt: START,
      activities: { [Activities.reconcileContainerWindow]: windows(2) },
    });
    assert.deepEqual(child.trail, [Activities.reconcileContainerWindow, Activities.reconcileContainerWindow]);
    assert.deepEqual(windowInputs(child.scheduled)[0]?.options.range, range);
    const refused = await runOrchestration(containerReconciliation, {
      input: childInput(),
      startAt: START,
      activities: { ...firstWindow, [Activities.planListingRanges]: () => ({ result: { kind: "refused", reason: "not selected" } satisfies PlanRangesResult }) },
    });
    const report = refused.output as ContainerReport;
    assert.deepEqual([report.status, report.error, report.counts.blobs, report.windows], ["failed", "refused: not selected", 7, 1]);
  });

  it("goes window after window with the cursor carried, and reports the totals when the listing ends", async () => {
    const result = await runOrchestration(containerReconciliation, { input: childInput(), startAt: START, activities: { ...whole, [Activities.reconcileContainerWindow]: windows(3) } });
    assert.equal(result.status, "Completed", result.error);
    assert.deepEqual(windowInputs(result.scheduled).map((w) => [w.cursor.source?.continuationToken, w.cursor.backup.token, w.cursor.backup.after]), [
      [undefined, undefined, undefined],
      ["s1", "b1", "name-0"],
      ["s2", "b2", "name-1"],
    ]);
    const report = result.output as ContainerReport;
    assert.deepEqual([report.status, report.windows, report.counts.blobs, report.counts.requests, report.startedAt], ["completed", 3, 30, 6, START]);
    assert.deepEqual(result.customStatus, { container: "alpha", phase: "done", windows: 3, blobs: 30, inSync: 24, snapshots: 0, requests: 6, orphans: 0 });
  });

  it("continues as new every windowsPerExecution windows with cursor, totals, window count and orphan samples carried", async () => {
    const result = await runOrchestration(containerReconciliation, {
      input: childInput({ windowsPerExecution: 2 }),
      startAt: START,
      activities: { ...whole, [Activities.reconcileContainerWindow]: windows(5, (i) => ({ orphanSamples: Array.from({ length: 8 }, (_, k) => `orphan-${i}-${k}`) })) },
    });
    assert.equal(result.status, "Completed", result.error);
    assert.equal(result.inputs.length, 3);
    const carried = (result.inputs[1] as ContainerReconciliationInput).progress;
    assert.deepEqual(carried && { ...carried, totals: carried.totals.blobs, orphanSamples: carried.orphanSamples.length }, {
      startedAt: START,
      cursor: { source: { continuationToken: "s2" }, backup: { token: "b2", after: "name-1" } },
      windows: 2,
      totals: 20,
      orphanSamples: 16,
    });
    assert.deepEqual(windowInputs(result.scheduled).map((w) => w.cursor.source?.continuationToken), [undefined, "s1", "s2", "s3", "s4"]);
    const report = result.output as ContainerReport;
    assert.deepEqual([report.windows, report.counts.blobs, report.startedAt], [5, 50, START]);
    assert.equal(report.orphanSamples.length, MAX_ORPHAN_SAMPLES, "samples capped; the first ones kept");
    assert.equal(report.orphanSamples[0], "orphan-0-0");
  });

  it("reports (does not throw) a window that keeps failing after the retries", async () => {
    const result = await runOrchestration(containerReconciliation, {
      input: childInput(),
      startAt: START,
      activities: { ...whole, [Activities.reconcileContainerWindow]: (input: WindowInput, call) => (input.cursor.source === undefined ? windows(3)(input) : { error: `503 Server Busy (attempt ${call.attempt})` }) },
    });
    assert.equal(result.status, "Completed", result.error);
    const report = result.output as ContainerReport;
    assert.equal(report.status, "failed");
    assert.match(report.error ?? "", /Activity function 'ReconcileContainerWindow' failed: 503 Server Busy \(attempt 5\)/);
    assert.deepEqual([report.windows, report.counts.blobs], [1, 10], "what was done before the failure stays counted");
  });

  it("reports a container deleted meanwhile, and SNAPSHOTS=on against an account that refuses snapshots", async () => {
    const gone = await runOrchestration(containerReconciliation, { input: childInput(), activities: { ...whole, [Activities.reconcileContainerWindow]: () => ({ result: { kind: "containerNotFound" } }) } });
    assert.deepEqual([(gone.output as ContainerReport).status, (gone.output as ContainerReport).error], ["failed", 'container "alpha" no longer exists']);
    const refused = await runOrchestration(containerReconciliation, {
      input: childInput({ options: { dryRun: false, snapshots: "on", sourcePages: 1 } }),
      activities: { ...whole, [Activities.reconcileContainerWindow]: () => ({ result: { kind: "snapshotsRefused", reason: "FeatureNotYetSupported" } }) },
    });
    assert.equal((refused.output as ContainerReport).status, "failed");
    assert.match((refused.output as ContainerReport).error ?? "", /refuses blob snapshots \(FeatureNotYetSupported\); SNAPSHOTS=on requires them/);
  });

  it("SNAPSHOTS=auto: a refusal reported by one window is passed to the later ones and named in the report", async () => {
    const result = await runOrchestration(containerReconciliation, {
      input: childInput({ windowsPerExecution: 1 }),
      activities: { ...whole, [Activities.reconcileContainerWindow]: windows(3, (i) => (i === 0 ? { snapshotsRefusedReason: "FeatureNotYetSupported" } : {})) },
    });
    assert.deepEqual(windowInputs(result.scheduled).map((w) => w.snapshotsRefused), [false, true, true]);
    assert.equal((result.output as ContainerReport).snapshotsRefusedReason, "FeatureNotYetSupported");
  });
});
