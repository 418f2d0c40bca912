/**
 * Every failure says why: through the local host, an activity whose HEAD gets a bodiless 503 and an orchestrator whose
 * input fails validation are logged by the app (with the instance id), reported in the orchestration's output and
 * printed by the host with status, service error code and operation, or with the validation issues. The app here is
 * registered with the product's own `registerActivity` / `registerOrchestrator`; the 503 comes from the fault proxy.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";

import { BlobServiceClient } from "@azure/storage-blob";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { type LocalHost, startLocalHost } from "../../local-host";
import { describeInvocationError } from "../../local-host/invoke";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy";

const APP = path.join(__dirname, "apps", "failures.js");

interface Invocation {
  readonly fn: string;
  readonly outcome: string;
  readonly instanceId?: string;
  readonly description?: string;
}

describe("failure descriptions through the local host", () => {
  let azurite: AzuriteInstance;
  let proxy: FaultProxy;
  let host: LocalHost;
  const invocations: Invocation[] = [];
  const errorLogs: string[] = [];
  const container = "described";

  before(async () => {
    azurite = await startAzurite();
    proxy = await startFaultProxy(azurite);
    const lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage).getContainerClient(container);
    await lake.create();
    await lake.getBlockBlobClient("present.txt").upload("x", 1);
    host = await startLocalHost({
      functions: [APP],
      settings: { ...proxy.settings },
      clock: "virtual",
      timerSchedules: false,
      onInvocation: (fn, outcome, _ms, error, instanceId) =>
        invocations.push({ fn: fn.name, outcome, ...(instanceId !== undefined && { instanceId }), ...(outcome === "Failed" && { description: describeInvocationError(error) }) }),
      functionLogs: (_fn, level, message) => {
        if (level === "error") errorLogs.push(message);
      },
    });
  });
  after(async () => {
    await host.stop();
    await proxy.stop();
    await azurite.stop();
  });
  beforeEach(() => {
    proxy.clear();
    invocations.length = 0;
    errorLogs.length = 0;
  });

  it("describes a 503 to a HEAD (no body) by status, code and operation, in the app's log, the output and the host's line", async () => {
    proxy.set({ read: { serverBusy: 1, methods: ["HEAD"] } });
    const id = await host.client.startNew("HeadBlobOrchestrator", { input: { container, blob: "present.txt" } });
    const status = await host.client.waitForCompletion(id, { timeoutMs: 30_000 });
    const expected = `503 ServerBusy on HEAD http://127.0.0.1:${proxy.blobPort}/${azurite.accounts.lake.name}/${container}/present.txt`;

    assert.equal(status.runtimeStatus, "Failed");
    assert.ok(String(status.output).startsWith(`Orchestrator function 'HeadBlobOrchestrator' failed: Activity function 'HeadBlob' failed: ${expected}`), String(status.output));
    assert.ok(errorLogs.includes(`HeadBlob failed (instance ${id}): ${expected}`), errorLogs.join("\n"));
    assert.ok(errorLogs.includes(`HeadBlobOrchestrator failed (instance ${id}): Activity function 'HeadBlob' failed: ${expected}`), errorLogs.join("\n"));
    assert.deepEqual(
      invocations.filter((i) => i.outcome === "Failed"),
      [
        { fn: "HeadBlob", outcome: "Failed", instanceId: id, description: expected },
        { fn: "HeadBlobOrchestrator", outcome: "Failed", instanceId: id, description: `Activity function 'HeadBlob' failed: ${expected}` },
      ],
    );
    assert.equal(proxy.counts().read.serverBusy, 2, "both of the activity's SDK tries were refused");
  });

  it("describes a validation failure by its issues, not by the first line of zod's message ('[')", async () => {
    const id = await host.client.startNew("StrictInputOrchestrator", { input: { container, extra: true } });
    const status = await host.client.waitForCompletion(id, { timeoutMs: 30_000 });
    assert.equal(status.runtimeStatus, "Failed");
    const failed = invocations.find((i) => i.fn === "StrictInputOrchestrator" && i.outcome === "Failed");
    assert.equal(failed?.instanceId, id);
    assert.match(failed?.description ?? "", /^invalid blob: Invalid input: expected string, received undefined; \(input\): Unrecognized key: "extra"$/);
    assert.ok(errorLogs.includes(`StrictInputOrchestrator failed (instance ${id}): ${failed?.description}`), errorLogs.join("\n"));
  });

  it("describes an activity's validation failure through to the orchestration's output", async () => {
    const id = await host.client.startNew("HeadBlobOrchestrator", { input: { container } });
    const status = await host.client.waitForCompletion(id, { timeoutMs: 30_000 });
    assert.equal(status.runtimeStatus, "Failed");
    assert.match(String(status.output), /^Orchestrator function 'HeadBlobOrchestrator' failed: Activity function 'HeadBlob' failed: invalid blob: Invalid input: expected string, received undefined/);
    assert.ok(errorLogs.includes(`HeadBlob failed (instance ${id}): invalid blob: Invalid input: expected string, received undefined`), errorLogs.join("\n"));
  });
});
