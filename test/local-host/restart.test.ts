/**
 * Restart safety: a host stopped mid-orchestration and started again on the same state directory resumes the
 * instance, and the activity whose completion was recorded does not run again.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";

import { startLocalHost } from "../../local-host";
import { waitFor } from "../support/wait-for";
import { probes } from "./apps/orchestrations";

const APP = path.join(__dirname, "apps", "orchestrations.js");

describe("local host: restart", { timeout: 120_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "local-host-restart-"));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("resumes a persisted instance without re-running completed activities", async () => {
    const stateDir = path.join(dir, "state");
    const record = path.join(dir, "executions.txt");

    const first = await startLocalHost({ functions: [APP], stateDir });
    const id = await first.client.startNew("Steps", { instanceId: "restart-1", input: record });
    await first.waitForIdle();
    assert.equal(fs.readFileSync(record, "utf8"), "A\n");
    assert.equal((await first.client.getStatus(id))?.runtimeStatus, "Running");
    await first.stop();
    assert.ok(fs.existsSync(path.join(stateDir, "restart-1.json")));

    const second = await startLocalHost({ functions: [APP], stateDir });
    try {
      assert.equal((await second.client.getStatus(id))?.runtimeStatus, "Running");
      await second.client.raiseEvent(id, "Continue", null);
      const status = await second.client.waitForCompletion(id, { showHistory: true });
      assert.equal(status.runtimeStatus, "Completed");
      assert.deepEqual(status.output, ["A", "B"]);
      // A ran once (before the restart), B once (after it).
      assert.equal(fs.readFileSync(record, "utf8"), "A\nB\n");
      assert.deepEqual(
        status.historyEvents?.map((e) => e.EventType),
        ["ExecutionStarted", "TaskScheduled", "TaskCompleted", "EventRaised", "TaskScheduled", "TaskCompleted", "ExecutionCompleted"],
      );
    } finally {
      await second.stop();
    }
  });

  it("re-runs an activity that was in flight (scheduled, not completed) when the host stopped", async () => {
    const stateDir = path.join(dir, "state2");
    const record = path.join(dir, "executions2.txt");
    const recorded = () => (fs.existsSync(record) ? fs.readFileSync(record, "utf8") : "");
    // The gate holds A in flight: it has started (and recorded itself) but cannot complete while the first host runs.
    probes.recordGate.close();
    const first = await startLocalHost({ functions: [APP], stateDir });
    try {
      await first.client.startNew("Steps", { instanceId: "restart-2", input: record });
      await waitFor(recorded, { until: (text) => text === "A\n", describe: "activity A to start", timeoutMs: 10_000 });
      const before = await first.client.getStatus("restart-2", { showHistory: true });
      assert.deepEqual(before?.historyEvents?.map((e) => e.EventType), ["ExecutionStarted", "TaskScheduled"], "A scheduled, not completed");
    } finally {
      await first.stop();
      // A finishes only now, after its host stopped: that completion is never recorded.
      probes.recordGate.open();
    }

    const second = await startLocalHost({ functions: [APP], stateDir });
    try {
      await waitFor(recorded, { until: (text) => text === "A\nA\n", describe: "activity A to run again after the restart", timeoutMs: 10_000 });
      await second.waitForIdle();
      await second.client.raiseEvent("restart-2", "Continue", null);
      const status = await second.client.waitForCompletion("restart-2", { showHistory: true });
      assert.deepEqual(status.output, ["A", "B"]);
      assert.equal(recorded(), "A\nA\nB\n", "A ran twice (before the stop, unfinished, and after the restart), B once");
      assert.deepEqual(
        status.historyEvents?.map((e) => e.EventType),
        ["ExecutionStarted", "TaskScheduled", "TaskCompleted", "EventRaised", "TaskScheduled", "TaskCompleted", "ExecutionCompleted"],
        "the re-run completes the task scheduled before the stop; nothing is scheduled twice",
      );
    } finally {
      await second.stop();
    }
  });
});
