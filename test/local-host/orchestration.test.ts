/**
 * Conformance of the local host's orchestration engine with the real durable-functions library: outcomes and the
 * recorded history (event types and sequence ids) for each behaviour.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import { type LocalHost, startLocalHost } from "../../local-host";
import type { HistoryEventView } from "../../local-host/engine/status";
import { probes } from "./apps/orchestrations";

const APP = path.join(__dirname, "apps", "orchestrations.js");

/** "TaskScheduled(0)"-style lines: the event type and the id the library matches on. */
function idTrail(events: readonly HistoryEventView[] | undefined): string[] {
  return (events ?? []).map((e) => {
    const id = (e.TaskScheduledId ?? e.TimerId ?? (e.EventId >= 0 ? e.EventId : undefined)) as number | undefined;
    return id === undefined ? e.EventType : `${e.EventType}(${id})`;
  });
}

describe("local host: orchestrations (virtual clock)", { timeout: 120_000 }, () => {
  let host: LocalHost;
  before(async () => {
    host = await startLocalHost({ functions: [APP], clock: "virtual" });
  });
  after(async () => {
    await host.stop();
  });

  it("fans out 1,000 activities and gathers every result", async () => {
    const id = await host.client.startNew("FanOut", { input: 1000 });
    const status = await host.client.waitForCompletion(id, { showHistory: true, timeoutMs: 60_000 });
    assert.equal(status.runtimeStatus, "Completed");
    assert.equal(status.output, 999 * 1000); // Σ 2i for i < 1000
    const trail = idTrail(status.historyEvents);
    assert.equal(trail.filter((t) => t.startsWith("TaskScheduled(")).length, 1000);
    assert.equal(trail.filter((t) => t.startsWith("TaskCompleted(")).length, 1000);
    assert.equal(trail[1], "TaskScheduled(0)");
    assert.equal(trail[1000], "TaskScheduled(999)");
  });

  it("retries a failing activity with retry timers and the library's id pattern", async () => {
    const id = await host.client.startNew("Retry", { input: { key: "twice", failures: 2, attempts: 3 } });
    const status = await host.client.waitForCompletion(id, { showHistory: true });
    assert.equal(status.runtimeStatus, "Completed");
    assert.deepEqual(status.output, { calls: 3 });
    assert.deepEqual(idTrail(status.historyEvents), [
      "ExecutionStarted",
      "TaskScheduled(0)",
      "TaskFailed(0)",
      "TimerCreated(1)",
      "TimerFired(1)",
      "TaskScheduled(2)",
      "TaskFailed(2)",
      "TimerCreated(3)",
      "TimerFired(3)",
      "TaskScheduled(4)",
      "TaskCompleted(4)",
      "ExecutionCompleted",
    ]);
    // Back-off: 1 s, then 2 s (coefficient 2).
    const events = status.historyEvents ?? [];
    const delays = events
      .filter((e) => e.EventType === "TimerCreated")
      .map((e) => Date.parse(String(e.FireAt)) - Date.parse(e.Timestamp));
    assert.deepEqual(delays, [1000, 2000]);
  });

  it("surfaces the last failure when retry attempts are exhausted", async () => {
    const id = await host.client.startNew("Retry", { input: { key: "always", failures: 99, attempts: 2 } });
    const status = await host.client.waitForCompletion(id, { showHistory: true });
    assert.equal(status.runtimeStatus, "Completed");
    const output = status.output as { error: string };
    assert.match(output.error, /^Activity function 'Flaky' failed: flaky failure 2/);
    assert.equal(probes.flakyCalls.get("always"), 2);
    assert.deepEqual(idTrail(status.historyEvents), [
      "ExecutionStarted",
      "TaskScheduled(0)",
      "TaskFailed(0)",
      "TimerCreated(1)",
      "TimerFired(1)",
      "TaskScheduled(2)",
      "TaskFailed(2)",
      "TimerCreated(3)",
      "TimerFired(3)",
      "ExecutionCompleted",
    ]);
  });

  it("races an activity against a timer and cancels the losing timer", async () => {
    const id = await host.client.startNew("Race");
    const status = await host.client.waitForCompletion(id, { showHistory: true });
    assert.equal(status.output, "Hello race");
    // Task.any([work, timer]): the activity takes id 0, the timer id 1; the cancelled timer never fires.
    assert.deepEqual(idTrail(status.historyEvents), ["ExecutionStarted", "TaskScheduled(0)", "TimerCreated(1)", "TaskCompleted(0)", "ExecutionCompleted"]);
    await host.waitForIdle();
    assert.equal(idTrail((await host.client.getStatus(id, { showHistory: true }))?.historyEvents).includes("TimerFired(1)"), false);
  });

  it("waits 30 days on the virtual clock, split into legs as the library does", async () => {
    const id = await host.client.startNew("LongTimer");
    const status = await host.client.waitForCompletion(id, { showHistory: true });
    assert.equal(status.runtimeStatus, "Completed");
    assert.ok((status.output as number) >= 30, `woke after ${String(status.output)} days`);
    const trail = idTrail(status.historyEvents);
    // 30 days with a 6-day maximum and 3-day legs: eight legs of 3 days (ids 0…7), then the final 6 days (id 8).
    assert.equal(trail.filter((t) => t.startsWith("TimerFired(")).length, 9);
    assert.equal(trail.at(-2), "TimerFired(8)");
    const legs = (status.historyEvents ?? []).filter((e) => e.EventType === "TimerCreated").map((e) => (Date.parse(String(e.FireAt)) - Date.parse(e.Timestamp)) / (24 * 3600_000));
    assert.deepEqual(legs, [3, 3, 3, 3, 3, 3, 3, 3, 6]);
  });

  it("lets a parent catch a failed sub-orchestration and carry on", async () => {
    const id = await host.client.startNew("Parent");
    const status = await host.client.waitForCompletion(id, { showHistory: true });
    assert.equal(status.runtimeStatus, "Completed");
    const output = status.output as { caught: string; after: string };
    assert.match(output.caught, /Orchestrator function 'FailingChild' failed: child broke/);
    assert.equal(output.after, "Hello after");
    assert.deepEqual(idTrail(status.historyEvents), [
      "ExecutionStarted",
      "SubOrchestrationInstanceCreated(0)",
      "SubOrchestrationInstanceFailed(0)",
      "TaskScheduled(1)",
      "TaskCompleted(1)",
      "ExecutionCompleted",
    ]);
    const child = await host.client.getStatus(`${id}:0`);
    assert.equal(child?.runtimeStatus, "Failed");
    assert.match(String(child?.output), /child broke/);
  });

  it("continues as new twice with fresh histories", async () => {
    const id = await host.client.startNew("Counter", { input: 0 });
    const status = await host.client.waitForCompletion(id, { showHistory: true });
    assert.equal(status.runtimeStatus, "Completed");
    assert.deepEqual(status.output, { n: 2, greeting: "Hello round 2" });
    assert.equal(status.input, 2);
    // Only the last execution's history remains, numbered from 0 again.
    assert.deepEqual(idTrail(status.historyEvents), ["ExecutionStarted", "TaskScheduled(0)", "TaskCompleted(0)", "ExecutionCompleted"]);
  });

  it("terminates a waiting instance", async () => {
    const id = await host.client.startNew("Approval");
    await host.waitForIdle();
    assert.equal((await host.client.getStatus(id))?.customStatus, "waiting");
    await host.client.terminate(id, "no longer needed");
    const status = await host.client.waitForCompletion(id, { showHistory: true });
    assert.equal(status.runtimeStatus, "Terminated");
    assert.equal(status.output, "no longer needed");
    assert.deepEqual(idTrail(status.historyEvents), ["ExecutionStarted", "ExecutionTerminated"]);
    await assert.rejects(host.client.raiseEvent(id, "Approval", {}), /terminal state/);
  });

  it("fails an instance whose replay no longer matches its history", async () => {
    const id = await host.client.startNew("Drifting");
    await host.waitForIdle();
    probes.nonDeterministic = true;
    try {
      await host.client.raiseEvent(id, "Go", null);
      const status = await host.client.waitForCompletion(id, { showHistory: true });
      assert.equal(status.runtimeStatus, "Failed");
      assert.match(String(status.output), /Non-deterministic workflow detected: action #0 was CallActivity\(Hello\) .* CallActivity\(Double\)/);
      assert.deepEqual(idTrail(status.historyEvents), ["ExecutionStarted", "TaskScheduled(0)", "TaskCompleted(0)", "EventRaised", "ExecutionCompleted"]);
    } finally {
      probes.nonDeterministic = false;
    }
  });

  it("retries a failed sub-orchestration with a new child instance", async () => {
    const id = await host.client.startNew("RetryChild", { input: "child-key" });
    const status = await host.client.waitForCompletion(id, { showHistory: true });
    assert.equal(status.runtimeStatus, "Completed");
    assert.deepEqual(status.output, { calls: 2 });
    assert.deepEqual(idTrail(status.historyEvents), [
      "ExecutionStarted",
      "SubOrchestrationInstanceCreated(0)",
      "SubOrchestrationInstanceFailed(0)",
      "TimerCreated(1)",
      "TimerFired(1)",
      "SubOrchestrationInstanceCreated(2)",
      "SubOrchestrationInstanceCompleted(2)",
      "ExecutionCompleted",
    ]);
    assert.equal((await host.client.getStatus(`${id}:0`))?.runtimeStatus, "Failed");
    assert.equal((await host.client.getStatus(`${id}:2`))?.runtimeStatus, "Completed");
  });

  it("fails an orchestration with the production message when an activity failure is not caught", async () => {
    const id = await host.client.startNew("Unhandled", { input: "unhandled-key" });
    const status = await host.client.waitForCompletion(id, { showHistory: true });
    assert.equal(status.runtimeStatus, "Failed");
    assert.match(String(status.output), /^Orchestrator function 'Unhandled' failed: Activity function 'Flaky' failed: flaky failure 1/);
    assert.deepEqual(idTrail(status.historyEvents), ["ExecutionStarted", "TaskScheduled(0)", "TaskFailed(0)", "ExecutionCompleted"]);
  });

  it("passes activity results through JSON, as in production", async () => {
    const id = await host.client.startNew("JsonShapes");
    const status = await host.client.waitForCompletion(id);
    assert.deepEqual(status.output, { atType: "string", at: "1970-01-01T00:00:00.000Z", keys: ["at", "kept"] });
  });

  it("holds events while suspended and delivers them on resume", async () => {
    const id = await host.client.startNew("Approval");
    await host.waitForIdle();
    await host.client.suspend(id, "maintenance");
    await host.client.raiseEvent(id, "Approval", { approved: false });
    await host.waitForIdle();
    const suspended = await host.client.getStatus(id);
    assert.equal(suspended?.runtimeStatus, "Suspended");
    assert.equal(suspended?.customStatus, "waiting");
    await host.client.resume(id, "done");
    const status = await host.client.waitForCompletion(id, { showHistory: true });
    assert.deepEqual(status.output, { approved: false });
    assert.deepEqual(idTrail(status.historyEvents), ["ExecutionStarted", "ExecutionSuspended", "EventRaised", "ExecutionResumed", "ExecutionCompleted"]);
  });
});
