/**
 * The retention orchestrator, branch by branch, through the real durable-functions replay engine with scripted
 * activities (test/support/orchestrator-driver.ts): windows with the cursor carried, continueAsNew per container and
 * every `windowsPerExecution` windows, a failed window reported while the other containers go on, the purge walk, the
 * report written — or, in a dry run, not.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import type { RetentionPlan } from "../../src/activities/plan-retention";
import type { PurgeInput, PurgeResult } from "../../src/activities/purge-finished-instances";
import { type RetentionReport, type RetentionWindowInput, type RetentionWindowResult, zeroRetentionCounts } from "../../src/domain/retention";
import { Activities } from "../../src/function-names";
import { retention, type RetentionInput } from "../../src/orchestrators/retention";
import { type Answer, runOrchestration } from "../support/orchestrator-driver";

const START = "2026-02-01T03:00:00.000Z";

function plan(containers: readonly string[], overrides: Partial<RetentionPlan> = {}): Answer {
  const result: RetentionPlan = {
    account: "datalake1",
    backupAccount: "backup1",
    snapshots: "auto",
    parallelism: 4,
    containers: containers.map((container) => ({ container, backupContainer: container })),
    refused: [],
    excluded: [],
    notFound: [],
    policy: { lakeSnapshots: "newest", backupMinVersions: 1, instanceRetentionDays: 30 },
    ...overrides,
  };
  return { result };
}

/** A window that deleted one snapshot; `pages` windows per container, the last without a cursor. */
function windows(pages: Record<string, number>) {
  return (input: RetentionWindowInput): Answer => {
    const seen = Number(input.cursor.lake.continuationToken ?? "0") + 1;
    const counts = zeroRetentionCounts();
    counts.blobs = 10;
    counts.snapshots.deleted.superseded = 1;
    const result: RetentionWindowResult = {
      kind: "window",
      counts,
      deletedSamples: [`${input.container}/${seen}`],
      ...(seen < (pages[input.container] ?? 1) && { cursor: { lake: { continuationToken: String(seen) }, backup: { token: `b${seen}` } } }),
    };
    return { result };
  };
}

const purgeDone = (): Answer => ({ result: { instances: 3, requests: 8 } satisfies PurgeResult });
const input = (overrides: Partial<RetentionInput> = {}): RetentionInput => ({ dryRun: false, startedBy: "http", ...overrides });

describe("retention orchestrator", () => {
  it("walks every container window by window, continues as new per container, purges, and writes the report", async () => {
    const windowInputs: RetentionWindowInput[] = [];
    const run = await runOrchestration(retention, {
      input: input(),
      instanceId: "retention",
      startAt: START,
      activities: {
        [Activities.planRetention]: () => plan(["alpha", "beta"], { excluded: ["scratch"] }),
        [Activities.retainContainerWindow]: (i: RetentionWindowInput) => {
          windowInputs.push(i);
          return windows({ alpha: 3, beta: 1 })(i);
        },
        [Activities.purgeFinishedInstances]: purgeDone,
        [Activities.writeRetentionReport]: (i: { report: RetentionReport }) => ({ result: { reportBlob: `backup-reports/retention/${i.report.startedAt}.json` } }),
      },
    });
    assert.equal(run.status, "Completed");
    const report = run.output as RetentionReport;
    assert.deepEqual(report.containers.map((c) => [c.container, c.status, c.windows, c.counts.snapshots.deleted.superseded]), [["alpha", "done", 3, 3], ["beta", "done", 1, 1]]);
    assert.equal(report.totals.blobs, 40);
    assert.deepEqual(report.excluded, ["scratch"]);
    assert.deepEqual(report.instances, { before: "2026-01-02T03:00:00.000Z", instances: 3, requests: 8 });
    assert.equal(report.reportBlob, `backup-reports/retention/${START}.json`);
    // The cursor travels from window to window; every window judges ages against the run's start.
    assert.deepEqual(windowInputs.map((w) => [w.container, w.cursor.lake.continuationToken ?? "-", w.now]), [
      ["alpha", "-", START],
      ["alpha", "1", START],
      ["alpha", "2", START],
      ["beta", "-", START],
    ]);
    assert.equal(run.trail.filter((t) => t === "continueAsNew").length, 1, "a fresh execution for the second container");
  });

  it("continues as new every `windowsPerExecution` windows, carrying cursor and counts", async () => {
    const run = await runOrchestration(retention, {
      input: input({ windowsPerExecution: 2 }),
      startAt: START,
      activities: {
        [Activities.planRetention]: () => plan(["big"]),
        [Activities.retainContainerWindow]: windows({ big: 5 }),
        [Activities.purgeFinishedInstances]: purgeDone,
        [Activities.writeRetentionReport]: () => ({ result: { reportBlob: "r" } }),
      },
    });
    assert.equal(run.status, "Completed");
    assert.equal(run.trail.filter((t) => t === "continueAsNew").length, 2);
    assert.equal(run.trail.filter((t) => t === Activities.planRetention).length, 1, "the plan is made once and carried");
    const report = run.output as RetentionReport;
    assert.deepEqual([report.containers[0]?.windows, report.totals.snapshots.deleted.superseded], [5, 5]);
    assert.equal(report.containers[0]?.deletedSamples.length, 5);
  });

  it("reports a container whose window fails after its retries, and goes on with the others", async () => {
    const run = await runOrchestration(retention, {
      input: input(),
      startAt: START,
      activities: {
        [Activities.planRetention]: () => plan(["broken", "fine"], { refused: [{ container: "reserved", reason: "reserved" }] }),
        [Activities.retainContainerWindow]: (i: RetentionWindowInput) => (i.container === "broken" ? { error: "503 ServerBusy" } : windows({ fine: 1 })(i)),
        [Activities.purgeFinishedInstances]: purgeDone,
        [Activities.writeRetentionReport]: () => ({ result: { reportBlob: "r" } }),
      },
    });
    assert.equal(run.status, "Completed");
    const report = run.output as RetentionReport;
    assert.deepEqual(report.containers.map((c) => [c.container, c.status]), [["reserved", "failed"], ["broken", "failed"], ["fine", "done"]]);
    assert.match(report.containers[1]?.error ?? "", /503 ServerBusy/);
  });

  it("walks the purge until the activity says it is done; a dry run writes no report", async () => {
    const purges: PurgeInput[] = [];
    const run = await runOrchestration(retention, {
      input: input({ dryRun: true }),
      startAt: START,
      activities: {
        [Activities.planRetention]: () => plan(["aaa"], { policy: { lakeSnapshots: "none", backupMinVersions: 1, instanceRetentionDays: 7 } }),
        [Activities.retainContainerWindow]: (i: RetentionWindowInput) => {
          assert.equal(i.dryRun, true);
          return windows({ aaa: 1 })(i);
        },
        [Activities.purgeFinishedInstances]: (i: PurgeInput): Answer => {
          purges.push(i);
          return { result: purges.length < 3 ? { instances: 2, requests: 10, next: { sliceEnd: `2026-01-${20 - purges.length}T03:00:00.000Z`, emptyDays: purges.length } } : { instances: 1, requests: 1 } };
        },
      },
    });
    assert.equal(run.status, "Completed", run.error);
    assert.deepEqual(purges.map((p) => [p.before, p.dryRun, p.sliceEnd ?? "-", p.emptyDays ?? 0]), [
      ["2026-01-25T03:00:00.000Z", true, "-", 0],
      ["2026-01-25T03:00:00.000Z", true, "2026-01-19T03:00:00.000Z", 1],
      ["2026-01-25T03:00:00.000Z", true, "2026-01-18T03:00:00.000Z", 2],
    ]);
    const report = run.output as RetentionReport;
    assert.deepEqual([report.dryRun, report.instances.instances, report.reportBlob], [true, 5, undefined]);
    assert.ok(!run.trail.includes(Activities.writeRetentionReport));
  });
});
