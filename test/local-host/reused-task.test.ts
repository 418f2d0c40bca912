/**
 * A task that was already scheduled, yielded again inside a new Task.any, behaves in the local host as it does in
 * Azure. The library re-sends the whole compound action (the child keeps its old id); the extension's out-of-process
 * shim calls the activity again for every child of a WhenAny, so the copy is scheduled a second time under a new
 * sequence number and every later task the orchestrator numbers is one behind the host's. A cancelled durable timer
 * still fires (DTFx only cancels the waiting task), and its TimerFired then completes the task the library numbered
 * with that id: here Verify, which so receives no result and the instance fails.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import { type LocalHost, type OrchestrationStatus, startLocalHost } from "../../local-host";
import { copies, RENEW_EVERY_MS } from "./apps/reused-task";

const APP = path.join(__dirname, "apps", "reused-task.js");

async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** "TaskScheduled(3) GatedCopy"-style lines of an instance's history. */
function trail(status: OrchestrationStatus | undefined): string[] {
  return (status?.historyEvents ?? []).map((e) => {
    const id = (e.TaskScheduledId ?? e.TimerId ?? (e.EventId >= 0 ? e.EventId : undefined)) as number | undefined;
    return `${e.EventType}${id === undefined ? "" : `(${id})`}${typeof e.Name === "string" && e.EventType === "TaskScheduled" ? ` ${e.Name}` : ""}`;
  });
}

describe("local host: a scheduled task yielded again in a new Task.any (virtual clock)", { timeout: 60_000 }, () => {
  let host: LocalHost;
  before(async () => {
    host = await startLocalHost({ functions: [APP], clock: "virtual" });
  });
  after(async () => {
    for (const copy of copies) copy.finish();
    await host?.stop();
  });

  it("schedules the task again, the results then reach the wrong tasks, and the instance fails as in Azure", async () => {
    const id = await host.client.startNew("RenewWhileCopying");
    const history = async () => trail(await host.client.getStatus(id, { showHistory: true }));
    await until(() => copies.length === 1, "the copy to start");

    // The first renew timer fires while the copy runs: Renew, then Task.any([copy, new timer]).
    await host.advanceTime(RENEW_EVERY_MS);
    await until(() => copies.length === 2, "the copy to be scheduled again");
    assert.deepEqual((await history()).filter((t) => t.startsWith("TaskScheduled")), [
      "TaskScheduled(0) GatedCopy",
      "TaskScheduled(2) Renew",
      "TaskScheduled(3) GatedCopy",
    ]);

    // The first copy ends: the orchestrator cancels its timer (its id 3, the host's 4) and calls Verify (its id 4,
    // the host's 5). Verify's result, under id 5, matches nothing the orchestrator waits for.
    copies[0]?.finish();
    await until(async () => (await history()).includes("TaskCompleted(5)"), "Verify to complete");
    assert.ok((await history()).includes("TaskScheduled(5) Verify"));
    assert.equal((await host.client.getStatus(id))?.runtimeStatus, "Running");

    // The cancelled timer still fires; its id 4 is Verify's in the orchestrator's numbering.
    await host.advanceTime(RENEW_EVERY_MS);
    const status = await host.client.waitForCompletion(id, { timeoutMs: 10_000, showHistory: true });
    assert.equal(status.runtimeStatus, "Failed");
    assert.match(String(status.output), /^Orchestrator function 'RenewWhileCopying' failed: Verify returned undefined/);
    assert.ok(trail(status).includes("TimerFired(4)"), trail(status).join(", "));
  });
});
