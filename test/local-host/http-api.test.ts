/**
 * The local host over HTTP: an unmodified HTTP starter (df.getClient + createCheckStatusResponse), the Durable
 * webhook API a plain HTTP client follows, and HTTP trigger routing.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import { type LocalHost, startLocalHost } from "../../local-host";
import { waitFor } from "../support/wait-for";

const APP = path.join(__dirname, "apps", "orchestrations.js");

interface Status {
  runtimeStatus: string;
  output: unknown;
  customStatus: unknown;
  historyEvents?: { EventType: string; Name?: string }[];
}

async function pollUntilDone(url: string, timeoutMs = 20_000): Promise<{ status: number; body: Status }> {
  const poll = async () => {
    const res = await fetch(url);
    return { status: res.status, body: (await res.json()) as Status };
  };
  return waitFor(poll, { until: (r) => r.status !== 202, describe: `${url} to finish`, timeoutMs, intervalMs: 25 });
}

describe("local host: HTTP", { timeout: 120_000 }, () => {
  let host: LocalHost;
  before(async () => {
    host = await startLocalHost({ functions: [APP] });
  });
  after(async () => {
    await host.stop();
  });

  it("answers an unmodified HTTP starter with 202 + Location that a plain client can follow to 200", async () => {
    const res = await fetch(`${host.baseUrl}/api/orchestrators/Counter`, { method: "POST", body: "1" });
    assert.equal(res.status, 202);
    const location = res.headers.get("location") ?? "";
    assert.ok(location.startsWith(`${host.baseUrl}/runtime/webhooks/durabletask/instances/`), String(location));
    const payload = (await res.json()) as { id: string; statusQueryGetUri: string; sendEventPostUri: string; terminatePostUri: string };
    assert.equal(payload.statusQueryGetUri, location);
    assert.ok(payload.sendEventPostUri.includes(`/instances/${payload.id}/raiseEvent/{eventName}`));
    const done = await pollUntilDone(location);
    assert.equal(done.status, 200);
    assert.equal(done.body.runtimeStatus, "Completed");
    assert.deepEqual(done.body.output, { n: 2, greeting: "Hello round 2" });
  });

  it("delivers an external event raised through the Durable HTTP API", async () => {
    const res = await fetch(`${host.baseUrl}/api/orchestrators/Approval`, { method: "POST" });
    const { id, sendEventPostUri, statusQueryGetUri } = (await res.json()) as { id: string; sendEventPostUri: string; statusQueryGetUri: string };
    await host.waitForIdle();
    const running = await fetch(statusQueryGetUri);
    assert.equal(running.status, 202);
    assert.equal(((await running.json()) as Status).customStatus, "waiting");
    const raised = await fetch(sendEventPostUri.replace("{eventName}", "Approval"), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ approved: true }),
    });
    assert.equal(raised.status, 202);
    const done = await pollUntilDone(`${statusQueryGetUri}&showHistory=true`);
    assert.equal(done.status, 200);
    assert.deepEqual(done.body.output, { approved: true });
    assert.equal(done.body.customStatus, "decided");
    assert.deepEqual(
      done.body.historyEvents?.map((e) => e.EventType),
      ["ExecutionStarted", "EventRaised", "ExecutionCompleted"],
    );
    assert.equal(done.body.historyEvents?.[1]?.Name, "Approval");
    const gone = await fetch(sendEventPostUri.replace("{eventName}", "Approval"), { method: "POST", body: "{}" });
    assert.equal(gone.status, 410);
    const purged = await fetch(`${host.baseUrl}/runtime/webhooks/durabletask/instances/${id}`, { method: "DELETE" });
    assert.deepEqual(await purged.json(), { instancesDeleted: 1 });
    assert.equal((await fetch(statusQueryGetUri)).status, 404);
  });

  it("terminates, suspends and resumes through the webhook routes", async () => {
    const started = await fetch(`${host.baseUrl}/runtime/webhooks/durabletask/orchestrators/Approval/fixed-id-1`, { method: "POST" });
    assert.equal(started.status, 202);
    const conflict = await fetch(`${host.baseUrl}/runtime/webhooks/durabletask/orchestrators/Approval/fixed-id-1`, { method: "POST" });
    assert.equal(conflict.status, 409);
    const base = `${host.baseUrl}/runtime/webhooks/durabletask/instances/fixed-id-1`;
    assert.equal((await fetch(`${base}/suspend?reason=pause`, { method: "POST" })).status, 202);
    assert.equal((await host.client.getStatus("fixed-id-1"))?.runtimeStatus, "Suspended");
    assert.equal((await fetch(`${base}/resume?reason=go`, { method: "POST" })).status, 202);
    assert.equal((await fetch(`${base}/terminate?reason=stop%20now`, { method: "POST" })).status, 202);
    const done = await pollUntilDone(base);
    assert.equal(done.body.runtimeStatus, "Terminated");
    assert.equal(done.body.output, "stop now");
    assert.equal((await fetch(`${base}/terminate`, { method: "POST" })).status, 410);
    assert.equal((await fetch(`${host.baseUrl}/runtime/webhooks/durabletask/instances/nope`)).status, 404);
  });

  it("queries instances with filters and pages through x-ms-continuation-token", async () => {
    for (let i = 0; i < 5; i++) await host.client.startNew("Approval", { instanceId: `page-${i}` });
    await host.waitForIdle();
    const seen: string[] = [];
    let token: string | null = null;
    let pages = 0;
    do {
      const res: Response = await fetch(`${host.baseUrl}/runtime/webhooks/durabletask/instances/?runtimeStatus=Running&top=2`, {
        headers: token === null ? {} : { "x-ms-continuation-token": token },
      });
      assert.equal(res.status, 200);
      seen.push(...((await res.json()) as { instanceId: string }[]).map((s) => s.instanceId));
      token = res.headers.get("x-ms-continuation-token");
      pages++;
    } while (token !== null);
    assert.deepEqual(seen.filter((id) => id.startsWith("page-")).sort(), ["page-0", "page-1", "page-2", "page-3", "page-4"]);
    assert.ok(pages >= 3);
    const completed = await fetch(`${host.baseUrl}/runtime/webhooks/durabletask/instances/?runtimeStatus=Completed`);
    assert.ok(((await completed.json()) as { runtimeStatus: string }[]).every((s) => s.runtimeStatus === "Completed"));
  });

  it("purges by filter as the extension's HTTP API does: createdTimeFrom required, only finished instances, 404 when none", async () => {
    const from = new Date(Date.now() - 60_000).toISOString();
    await host.client.startNew("Approval", { instanceId: "purge-running" });
    const done = await host.client.startNew("Counter", { instanceId: "purge-done", input: 1 });
    await host.waitForIdle();
    const purge = (qs: string) => fetch(`${host.baseUrl}/runtime/webhooks/durabletask/instances/?${qs}`, { method: "DELETE" });
    assert.equal((await purge("runtimeStatus=Completed")).status, 400, "createdTimeFrom is required (HandleDeleteHistoryWithFiltersRequestAsync)");
    // No status filter and no createdTimeTo (defaults to now): still only the finished instance goes.
    const purged = await purge(`createdTimeFrom=${encodeURIComponent(from)}`);
    assert.equal(purged.status, 200);
    assert.ok(((await purged.json()) as { instancesDeleted: number }).instancesDeleted >= 1);
    assert.equal(await host.client.getStatus(done), undefined);
    assert.equal((await host.client.getStatus("purge-running"))?.runtimeStatus, "Running");
    assert.equal((await purge(`createdTimeFrom=${encodeURIComponent(from)}&runtimeStatus=Completed`)).status, 404, "nothing left: 404, which the client reads as 0");
  });

  it("routes HTTP triggers by template and answers unknown routes with a 404 JSON body", async () => {
    const echo = await fetch(`${host.baseUrl}/api/echo/a/b%20c?q=1`);
    assert.equal(echo.status, 200);
    assert.deepEqual(await echo.json(), { rest: "a/b c", q: "1" });
    const wrongMethod = await fetch(`${host.baseUrl}/api/echo/x`, { method: "DELETE" });
    assert.equal(wrongMethod.status, 405);
    const missing = await fetch(`${host.baseUrl}/api/nothing/here`);
    assert.equal(missing.status, 404);
    assert.match(((await missing.json()) as { error: string }).error, /no HTTP function/);
    const outside = await fetch(`${host.baseUrl}/elsewhere`);
    assert.equal(outside.status, 404);
  });

  it("fires a timer trigger on demand, whose durable client starts an orchestration", async () => {
    await host.fireTimer("NightlyStart");
    const status = await host.client.waitForCompletion("nightly");
    assert.deepEqual(status.output, { n: 2, greeting: "Hello round 2" });
    await assert.rejects(host.fireTimer("NoSuchTimer"), /no timer trigger named 'NoSuchTimer'/);
  });

  it("serves the real DurableClient's RPC calls (status, events, queries, purge, terminate)", async () => {
    const res = await fetch(`${host.baseUrl}/api/client-probe`, { method: "POST" });
    assert.equal(res.status, 200);
    const seen = (await res.json()) as Record<string, unknown>;
    assert.equal(seen.waiting, "Running");
    assert.deepEqual(seen.output, { approved: true });
    assert.ok((seen.completedIds as string[]).includes("probe-1"));
    assert.equal(seen.purged, 1);
    assert.deepEqual(seen.terminated, { status: "Terminated", output: "enough" });
    assert.match(String(seen.missing), /404/);
  });
});
