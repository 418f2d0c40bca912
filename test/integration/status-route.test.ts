/**
 * The app's own status route, GET /api/status/{instanceId}: what every starter's Location points at. It answers as the
 * async HTTP pattern wants (202 + Location + Retry-After while running, 200 with runtimeStatus/output/customStatus when
 * done), only for the kinds of instance callers start, never with input or history — and no answer carries the
 * Durable system key (the local host puts a stand-in key into its management URLs, as Azure does; every answer below
 * is checked for it).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import { BlobServiceClient } from "@azure/storage-blob";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { type LocalHost, OUT_ROOT, startLocalHost } from "../../local-host";
import { findRepoRoot } from "../../local-host/app-loader";
import { blobBackupInstanceId } from "../../src/domain/blob-backup";
import { isCallerVisibleInstance, ROUTE_PREFIX } from "../../src/durable/status-response";
import { Orchestrators } from "../../src/function-names";
import { RECONCILIATION_INSTANCE_ID } from "../../src/orchestrators/reconciliation";
import { followStatus, postJson } from "../support/durable-http";

let azurite: AzuriteInstance;
let host: LocalHost;
/** Checks that an answer hands out neither the Durable system key nor a management URL, and passes it on. */
async function record(res: Response): Promise<Response> {
  const headers = [...res.headers.entries()].map(([k, v]) => `${k}: ${v}`).join("\n");
  const answer = `${res.status}\n${headers}\n${await res.clone().text()}`;
  assert.ok(!answer.includes(host.systemKey), answer);
  assert.ok(!answer.includes("/runtime/webhooks/"), answer);
  return res;
}

describe("the app's status route", { timeout: 600_000 }, () => {
  before(async () => {
    azurite = await startAzurite();
    host = await startLocalHost({ settings: { ...azurite.settings, BACKUP_QUEUE: "status-route-requests" }, timerSchedules: false });
    const lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage);
    await lake.getContainerClient("raw").createIfNotExists();
    await lake.getContainerClient("raw").getBlockBlobClient("a.txt").upload("a", 1);
  });
  after(async () => {
    await host?.stop();
    await azurite?.stop();
  });

  it("a scan start answers 202 with Location and Retry-After on /api/status, which answers 202 while it runs and 200 when done", async () => {
    const started = await record(await postJson(`${host.baseUrl}/api/containers/raw/backup`));
    assert.equal(started.status, 202);
    const location = started.headers.get("location") ?? "";
    assert.equal(location, `${host.baseUrl}/api/status/scan-raw`);
    assert.equal(started.headers.get("retry-after"), "10");
    assert.deepEqual(await started.json(), { id: "scan-raw", statusQueryGetUri: location });

    // Held running, the route answers 202 with the progress and where to poll next.
    await host.client.suspend("scan-raw", "hold it running for the test");
    const running = await record(await fetch(location));
    assert.equal(running.status, 202);
    assert.equal(running.headers.get("location"), location);
    assert.equal(running.headers.get("retry-after"), "10");
    const runningBody = (await running.json()) as Record<string, unknown>;
    assert.equal(runningBody.runtimeStatus, "Suspended");
    await host.client.resume("scan-raw", "go on");

    const done = await followStatus(location);
    assert.equal(done.runtimeStatus, "Completed");
    const final = await record(await fetch(location));
    assert.equal(final.status, 200);
    const body = (await final.json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ["createdTime", "customStatus", "instanceId", "lastUpdatedTime", "name", "output", "runtimeStatus"]);
    assert.equal((body.output as { blobsSeen: number }).blobsSeen, 1);
  });

  it("keeps a function key passed as ?code= in the Location, and only that one", async () => {
    const started = await record(await postJson(`${host.baseUrl}/api/reconcile?code=caller-key`, { dryRun: true }));
    assert.equal(started.status, 202);
    assert.equal(started.headers.get("location"), `${host.baseUrl}/api/status/reconciliation?code=caller-key`);
    const status = await followStatus(started.headers.get("location") ?? "");
    assert.equal(status.runtimeStatus, "Completed");
  });

  it("a reconciliation start while one runs answers 409 with the status route, not a management URL", async () => {
    const first = await record(await postJson(`${host.baseUrl}/api/reconcile`, { dryRun: true }));
    assert.equal(first.status, 202);
    await host.client.suspend(RECONCILIATION_INSTANCE_ID, "hold it running for the test");
    const second = await record(await postJson(`${host.baseUrl}/api/reconcile`));
    assert.equal(second.status, 409);
    assert.equal(second.headers.get("location"), `${host.baseUrl}/api/status/reconciliation`);
    await host.client.resume(RECONCILIATION_INSTANCE_ID, "go on");
    await followStatus(first.headers.get("location") ?? "");
  });

  it("answers 404 for instances callers do not start (a blob backup, a container reconciliation) and for unknown ids", async () => {
    const backupId = blobBackupInstanceId({ account: "datalake1", container: "raw", blob: "a.txt", etag: '"0x1"' });
    // The instance exists (it fails at once on its invalid input): the route must not reveal it anyway.
    await host.client.startNew(Orchestrators.blobBackup, { instanceId: backupId, input: { not: "a request" } });
    await host.client.waitForCompletion(backupId);
    for (const id of [backupId, `${RECONCILIATION_INSTANCE_ID}-20260101000000000-raw`, "scan-nothing-here", "..%2Fruntime"]) {
      const res = await record(await fetch(`${host.baseUrl}/api/status/${id}`));
      assert.equal(res.status, 404, id);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, "InstanceNotFound");
    }
  });
});

describe("status route rules", { timeout: 600_000 }, () => {
  it("the route prefix matches host.json", () => {
    const hostJson = JSON.parse(fs.readFileSync(path.join(findRepoRoot(OUT_ROOT), "host.json"), "utf8")) as {
      extensions: { http: { routePrefix: string } };
    };
    assert.equal(hostJson.extensions.http.routePrefix, ROUTE_PREFIX);
  });

  it("lets callers read scans, reconciliation, restores and retention, nothing else", () => {
    for (const id of ["scan-raw", "scan-a-b-c", "reconciliation", "restore-raw-20261130t000000z", "retention"]) assert.ok(isCallerVisibleInstance(id), id);
    // A scan's name ranges (`scan-raw:p1-…:r0`) are its sub-orchestrations: their progress is in the scan's status.
    for (const id of ["blob-backup-abc", "reconciliation-2026-raw", "scan-", "scan-Raw", "scan-raw/x", "scan-raw:p1-mjx4b6c0:r0", "Reconciliation", "", "retention2"]) {
      assert.ok(!isCallerVisibleInstance(id), id);
    }
  });
});
