/**
 * Azure's limits, enforced by the local host as the real host and the Durable extension enforce them: functionTimeout
 * for every invocation, MaxOrchestrationActions per execution, and the 16 KB custom status. Each limit is set small
 * through the app settings that override host.json in Azure (`AzureFunctionsJobHost__…`), so the tests stay quick.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import { type LocalHost, startLocalHost } from "../../local-host";

const APP = path.join(__dirname, "apps", "limits.js");
const MAX_ACTIONS = 5;

describe("local host: Azure's limits", { timeout: 60_000 }, () => {
  let host: LocalHost;
  before(async () => {
    host = await startLocalHost({
      functions: [APP],
      settings: {
        AzureFunctionsJobHost__functionTimeout: "00:00:01",
        AzureFunctionsJobHost__extensions__durableTask__maxOrchestrationActions: String(MAX_ACTIONS),
      },
    });
  });
  after(async () => {
    await host?.stop();
  });

  it("fails an activity that runs past functionTimeout, and the orchestrator sees the host's timeout message", async () => {
    const id = await host.client.startNew("Sleepy", { input: 2500 });
    const status = await host.client.waitForCompletion(id, { timeoutMs: 10_000 });
    assert.equal(status.runtimeStatus, "Completed");
    // The failure's details follow the reason (the real host's are .NET exception details).
    const { error } = status.output as { error: string };
    assert.match(error, /^Activity function 'Sleep' failed: Timeout value of 00:00:01 was exceeded by function: Functions\.Sleep \n/);
  });

  it("lets an activity that finishes within functionTimeout complete", async () => {
    const id = await host.client.startNew("Sleepy", { input: 10 });
    const status = await host.client.waitForCompletion(id, { timeoutMs: 10_000 });
    assert.deepEqual(status.output, { result: "woke up" });
  });

  it("fails an execution that schedules more than MaxOrchestrationActions, with the extension's message", async () => {
    const id = await host.client.startNew("ActionsFanOut", { input: { count: MAX_ACTIONS + 1, rounds: 1 } });
    const status = await host.client.waitForCompletion(id, { timeoutMs: 10_000, showHistory: true });
    assert.equal(status.runtimeStatus, "Failed");
    assert.equal(
      status.output,
      `Orchestrator function 'ActionsFanOut' failed: Maximum amount of orchestration actions (${MAX_ACTIONS}) has been reached. This value can be configured in host.json file as MaxOrchestrationActions.`,
    );
    // The extension replays actions in order and throws at the first one over the limit: those before it were sent.
    assert.equal((status.historyEvents ?? []).filter((e) => e.EventType === "TaskScheduled").length, MAX_ACTIONS);
  });

  it("counts actions per execution: exactly the limit passes, and continueAsNew starts the count again", async () => {
    const id = await host.client.startNew("ActionsFanOut", { input: { count: MAX_ACTIONS, rounds: 3 } });
    const status = await host.client.waitForCompletion(id, { timeoutMs: 10_000 });
    assert.equal(status.runtimeStatus, "Completed");
    assert.equal(status.output, MAX_ACTIONS);
  });

  it("fails an orchestration whose custom status is over 16 KB of UTF-16 JSON, before it schedules anything", async () => {
    // 9,000 characters + 2 quotes = 18,004 bytes in UTF-16 = 17.6 KB, counted as 17.
    const id = await host.client.startNew("BigStatus", { input: 9000 });
    const status = await host.client.waitForCompletion(id, { timeoutMs: 10_000, showHistory: true });
    assert.equal(status.runtimeStatus, "Failed");
    assert.equal(
      status.output,
      "Orchestrator function 'BigStatus' failed: The UTF-16 size of the JSON-serialized payload must not exceed 16 KB. The current payload size is 17 KB.",
    );
    assert.equal((status.historyEvents ?? []).filter((e) => e.EventType === "TaskScheduled").length, 0);
  });

  it("accepts a custom status of 16 KB (the extension rounds the size down to whole KB)", async () => {
    // 8,700 characters + 2 quotes = 17,404 bytes = 16.99 KB, counted as 16.
    const id = await host.client.startNew("BigStatus", { input: 8700 });
    const status = await host.client.waitForCompletion(id, { timeoutMs: 10_000 });
    assert.equal(status.runtimeStatus, "Completed");
    assert.equal((status.customStatus as string).length, 8700);
  });

  it("passes a 1 MiB activity input and output: the Azure Storage provider keeps large payloads in blobs, without a limit", async () => {
    const id = await host.client.startNew("BigPayload", { input: 1024 * 1024 });
    const status = await host.client.waitForCompletion(id, { timeoutMs: 10_000 });
    assert.equal(status.runtimeStatus, "Completed");
    assert.deepEqual(status.output, { length: 1024 * 1024, intact: true });
  });
});
