/**
 * Two starters racing for one instance id, as the Azure Storage backend lets them: both read "no active instance", both
 * `startNew` calls succeed, only the first Instances-table write is kept and the other start message is discarded as a
 * duplicate (DurableTask.AzureStorage: CreateTaskOrchestrationAsync ignores the losing write's conflict;
 * OrchestrationSessionManager discards the ExecutionStarted message whose execution id is not the table's). The local
 * host cannot produce that interleaving, so this drives the real HTTP starters with a durable client that behaves so
 * (a stand-in for the task hub, the one thing here without a local equivalent). The loser must not be told its own
 * request started when the instance that runs is another caller's that does not cover it.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";

import { HttpRequest, type HttpResponseInit, InvocationContext } from "@azure/functions";
import type * as df from "durable-functions";

import { LOCAL_ACCOUNTS } from "../../dev/azurite";
import { Events } from "../../src/function-names";
import { startContainerScan } from "../../src/triggers/http-start-container-scan";
import { startReconciliation } from "../../src/triggers/http-start-reconciliation";

const ACTIVE = new Set(["Pending", "Running", "ContinuedAsNew", "Suspended"]);

interface Row {
  readonly name: string;
  runtimeStatus: string;
  readonly input: unknown;
}

/** The task hub as the Azure Storage provider behaves for starts of a fixed instance id. */
class RacingTaskHub {
  readonly rows = new Map<string, Row>();
  readonly events: { readonly instanceId: string; readonly name: string }[] = [];
  starts = 0;
  /** Runs inside the next startNew, after its status check and before its table write (another caller's start). */
  interleave: (() => Promise<unknown>) | undefined;

  getStatus(instanceId: string): Promise<unknown> {
    const row = this.rows.get(instanceId);
    if (row === undefined) return Promise.reject(new Error("DurableClient error: Durable Functions extension replied with HTTP 404 response."));
    return Promise.resolve({ instanceId, name: row.name, runtimeStatus: row.runtimeStatus, input: row.input });
  }

  async startNew(name: string, options: { instanceId: string; input: unknown }): Promise<string> {
    this.starts += 1;
    const read = this.rows.get(options.instanceId);
    if (read !== undefined && ACTIVE.has(read.runtimeStatus)) throw new Error(`An Orchestration instance with the status ${read.runtimeStatus} already exists.`);
    const other = this.interleave;
    this.interleave = undefined;
    await other?.();
    // Insert (or replace with the ETag read above): a conflict is ignored and the start still reports success.
    if (this.rows.get(options.instanceId) === read) this.rows.set(options.instanceId, { name, runtimeStatus: "Pending", input: options.input });
    return options.instanceId;
  }

  raiseEvent(instanceId: string, name: string): Promise<void> {
    this.events.push({ instanceId, name });
    return Promise.resolve();
  }

  get client(): df.DurableClient {
    return this as unknown as df.DurableClient;
  }
}

const context = () => new InvocationContext({ functionName: "test", invocationId: "test" });

function scanRequest(container: string, body: unknown): HttpRequest {
  return new HttpRequest({
    method: "POST",
    url: `http://127.0.0.1:7071/api/containers/${container}/backup`,
    params: { container },
    body: { string: JSON.stringify(body) },
    headers: { "content-type": "application/json" },
  });
}

function reconcileRequest(body: unknown): HttpRequest {
  return new HttpRequest({ method: "POST", url: "http://127.0.0.1:7071/api/reconcile", body: { string: JSON.stringify(body) } });
}

const errorCode = (res: HttpResponseInit): string | undefined => (res.jsonBody as { error?: { code?: string } } | undefined)?.error?.code;

before(() => {
  const [functions, lake, backup] = LOCAL_ACCOUNTS;
  const cs = (a: { name: string; key: string }) =>
    `DefaultEndpointsProtocol=http;AccountName=${a.name};AccountKey=${a.key};BlobEndpoint=http://127.0.0.1:10000/${a.name};QueueEndpoint=http://127.0.0.1:10001/${a.name};`;
  Object.assign(process.env, { AzureWebJobsStorage: cs(functions), SourceStorage: cs(lake), BackupStorage: cs(backup) });
});

describe("a start that loses a race in which both starts succeed", () => {
  it("scan: the loser is told 409 when the instance that runs (a dry run) does not cover its real scan", async () => {
    const hub = new RacingTaskHub();
    hub.interleave = () => startContainerScan(scanRequest("raw", { dryRun: true }), hub.client, context());
    const res = await startContainerScan(scanRequest("raw", {}), hub.client, context());
    assert.equal(hub.starts, 2, "both starts were accepted by the task hub");
    assert.equal((hub.rows.get("scan-raw")?.input as { dryRun: boolean }).dryRun, true, "the dry run is the instance that runs");
    assert.equal(res.status, 409, JSON.stringify(res.jsonBody));
    assert.equal(errorCode(res), "ScanInProgress");
  });

  it("scan: the loser joins when the instance that runs covers it (no prefix there, a prefix here)", async () => {
    const hub = new RacingTaskHub();
    hub.interleave = () => startContainerScan(scanRequest("raw", {}), hub.client, context());
    const res = await startContainerScan(scanRequest("raw", { prefix: "ingest/" }), hub.client, context());
    assert.equal(res.status, 202);
    assert.equal((hub.rows.get("scan-raw")?.input as { prefix?: string }).prefix, undefined);
  });

  it("scan: a start that finds the running scan covering it joins and asks it for one more pass", async () => {
    const hub = new RacingTaskHub();
    assert.equal((await startContainerScan(scanRequest("raw", {}), hub.client, context())).status, 202);
    hub.rows.get("scan-raw")!.runtimeStatus = "Running";
    const res = await startContainerScan(scanRequest("raw", { prefix: "a/" }), hub.client, context());
    assert.equal(res.status, 202);
    assert.equal(hub.starts, 1, "no second start");
    assert.deepEqual(hub.events, [{ instanceId: "scan-raw", name: Events.rescanContainer }]);
  });

  it("reconciliation: the loser is told 409 (its own containers and options were discarded), not 202", async () => {
    const hub = new RacingTaskHub();
    hub.interleave = () => startReconciliation(reconcileRequest({ dryRun: true }), hub.client, context());
    const res = await startReconciliation(reconcileRequest({ containers: ["raw"] }), hub.client, context());
    assert.equal(hub.starts, 2);
    assert.equal(res.status, 409, JSON.stringify(res.jsonBody));
    assert.equal(errorCode(res), "ReconciliationRunning");
  });

  it("reconciliation: the winner is told 202", async () => {
    const hub = new RacingTaskHub();
    const res = await startReconciliation(reconcileRequest({ dryRun: true }), hub.client, context());
    assert.equal(res.status, 202);
  });
});
