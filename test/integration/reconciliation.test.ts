/**
 * Reconciliation end to end through the local Durable host and Azurite: HTTP and timer starters, container discovery,
 * per-container sub-orchestrations, the merge-join, and the report. The backup queue trigger is not loaded, so the
 * requests stay in the queue for the test to read.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { QueueClient } from "@azure/storage-queue";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { type LocalHost, startLocalHost } from "../../local-host";
import { BackupMetadata } from "../../src/domain/blob-backup";
import type { ReconciliationReport } from "../../src/domain/reconciliation";
import { Triggers } from "../../src/function-names";
import { RECONCILIATION_INSTANCE_ID } from "../../src/orchestrators/reconciliation";
import { followStatus, postJson, type StatusBody } from "../support/durable-http";
import { drainRequests, listSnapshots, seedBlobs } from "../support/scan-fixtures";

const QUEUE = "reconcile-e2e-requests";
const FILES = [
  "src/triggers/http-start-reconciliation.js",
  "src/triggers/timer-start-reconciliation.js",
  "src/triggers/http-get-status.js",
  "src/orchestrators/reconciliation.js",
  "src/orchestrators/container-reconciliation.js",
  "src/activities/plan-reconciliation.js",
  "src/activities/reconcile-container-window.js",
  "src/activities/plan-listing-ranges.js",
  "src/activities/write-reconciliation-report.js",
  "src/activities/find-stuck-backups.js",
  "src/activities/stage-reconciliation-report-part.js",
];

let azurite: AzuriteInstance;
let host: LocalHost;
let lake: BlobServiceClient;
let backup: BlobServiceClient;
let queue: QueueClient;

async function backUp(container: string, name: string, sourceEtag: string): Promise<void> {
  const c = backup.getContainerClient(container);
  await c.createIfNotExists();
  await c.getBlockBlobClient(name).upload("backup", 6, { metadata: { [BackupMetadata.etag]: sourceEtag } });
}

async function container(name: string, blobs: readonly string[]): Promise<ContainerClient> {
  const c = lake.getContainerClient(name);
  await c.create();
  await seedBlobs(c, blobs);
  return c;
}

/** Snapshots a blob and records its current version in the backup: an in-sync blob. */
async function inSync(c: ContainerClient, name: string): Promise<void> {
  const blob = c.getBlobClient(name);
  const etag = (await blob.getProperties()).etag ?? "";
  await blob.createSnapshot();
  await backUp(c.containerName, name, etag);
}

async function reconcile(body?: unknown): Promise<ReconciliationReport> {
  const started = await postJson(`${host.baseUrl}/api/reconcile`, body);
  assert.equal(started.status, 202, await started.clone().text());
  const location = started.headers.get("location");
  assert.ok(location);
  const status = await followStatus(location);
  assert.equal(status.runtimeStatus, "Completed", JSON.stringify(status.output));
  return status.output as ReconciliationReport;
}

/**
 * The backup requests queued for these containers. Tests share the host's queue and the lake (a reconciliation without
 * a container list covers every container, other tests' too); each reads only its own containers' requests.
 */
async function requestsFor(...containers: readonly string[]): Promise<string[]> {
  return (await drainRequests(queue)).filter((r) => containers.includes(r.container)).map((r) => `${r.container}/${r.blob}`).sort();
}

/** The reports written so far (none before the first non-dry run). */
async function reportBlobs(): Promise<string[]> {
  const reports = backup.getContainerClient("backup-reports");
  if (!(await reports.exists())) return [];
  const names = [];
  for await (const blob of reports.listBlobsFlat()) names.push(`backup-reports/${blob.name}`);
  return names;
}

function byContainer(report: ReconciliationReport, name: string) {
  const found = report.containers.find((c) => c.container === name);
  assert.ok(found, `${name} is in the report`);
  assert.equal(found.status, "completed", found.error);
  return found.counts;
}

describe("reconciliation through the local host", { timeout: 600_000 }, () => {
  before(async () => {
    azurite = await startAzurite();
    host = await startLocalHost({
      settings: { ...azurite.settings, BACKUP_QUEUE: QUEUE, EXCLUDE_CONTAINERS: "scratch", RECONCILE_PARALLELISM: "2" },
      functions: FILES.map((f) => path.resolve(__dirname, "../..", f)),
      timerSchedules: false,
    });
    lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage);
    backup = BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage);
    queue = new QueueClient(azurite.settings.AzureWebJobsStorage, QUEUE);
  });
  after(async () => {
    await host?.stop();
    await azurite?.stop();
  });

  it("finds every case in several containers, requests exactly what is missing, leaves excluded containers alone, and writes the report", async () => {
    const alpha = await container("alpha", ["in-sync.csv", "no-snapshot.csv", "no-backup.csv", "outdated.csv"]);
    await inSync(alpha, "in-sync.csv");
    await alpha.getBlobClient("no-backup.csv").createSnapshot();
    await inSync(alpha, "outdated.csv");
    await alpha.getBlockBlobClient("outdated.csv").upload("v2", 2);
    await backUp("alpha", "deleted-at-source.csv", '"0x1"');
    const beta = await container("beta", ["b/1", "b/2", "b/3"]);
    await inSync(beta, "b/2");
    const scratch = await container("scratch", ["tmp/1", "tmp/2"]);

    const report = await reconcile();
    const a = byContainer(report, "alpha");
    assert.deepEqual(
      { blobs: a.blobs, inSync: a.inSync, missing: a.missing, outdated: a.outdated, snapshots: a.snapshots, requests: a.requests, orphans: a.orphans },
      { blobs: 4, inSync: 1, missing: 2, outdated: 1, snapshots: 2, requests: 3, orphans: 1 },
    );
    const b = byContainer(report, "beta");
    assert.deepEqual({ inSync: b.inSync, missing: b.missing, requests: b.requests }, { inSync: 1, missing: 2, requests: 2 });
    assert.ok(!report.containers.some((c) => c.container === "scratch"));
    assert.ok(report.excluded.includes("scratch"));
    const sum = (key: "requests" | "blobs" | "snapshots") => report.containers.reduce((n, c) => n + c.counts[key], 0);
    assert.deepEqual([report.totals.requests, report.totals.blobs, report.totals.snapshots], [sum("requests"), sum("blobs"), sum("snapshots")], "totals add up");
    assert.deepEqual(report.containers.find((c) => c.container === "alpha")?.orphanSamples, ["deleted-at-source.csv"]);

    const requests = (await drainRequests(queue)).filter((r) => ["alpha", "beta", "scratch"].includes(r.container));
    assert.deepEqual(requests.map((r) => `${r.container}/${r.blob}`).sort(), [
      "alpha/no-backup.csv",
      "alpha/no-snapshot.csv",
      "alpha/outdated.csv",
      "beta/b/1",
      "beta/b/3",
    ]);
    assert.ok(requests.every((r) => r.reason === "reconcile" && r.snapshot !== undefined));
    assert.deepEqual(await listSnapshots(scratch), [], "the excluded container is untouched");

    assert.ok(report.reportBlob, "the report names its blob");
    const [reportsContainer, ...rest] = (report.reportBlob ?? "").split("/");
    const written = JSON.parse(
      (await backup.getContainerClient(reportsContainer ?? "").getBlobClient(rest.join("/")).downloadToBuffer()).toString(),
    ) as ReconciliationReport;
    assert.deepEqual(written.totals, report.totals);
    assert.deepEqual(written, report, "the blob assembled from staged parts is the run's report");
  });

  it("includes a container created since the previous run, and writes nothing in a dry run", async () => {
    const before = await reconcile({ dryRun: true });
    assert.ok(!before.containers.some((c) => c.container === "gamma"));
    const gamma = await container("gamma", ["g1", "g2"]);
    const reports = await reportBlobs();
    const report = await reconcile({ dryRun: true });
    const g = byContainer(report, "gamma");
    assert.deepEqual({ blobs: g.blobs, missing: g.missing, requests: g.requests, snapshots: g.snapshots }, { blobs: 2, missing: 2, requests: 0, snapshots: 0 });
    assert.equal(report.dryRun, true);
    assert.equal(report.reportBlob, undefined);
    assert.deepEqual(await reportBlobs(), reports, "no report written");
    assert.deepEqual(await listSnapshots(gamma), []);
    assert.deepEqual(await requestsFor("gamma"), []);
  });

  it("reconciles only the containers asked for, reports the unknown ones, and keeps every run's report", async () => {
    await container("delta", ["d1", "d2"]);
    await container("epsilon", ["e1"]);
    const first = await reconcile({ containers: ["delta", "nosuchcontainer"] });
    assert.deepEqual(first.containers.map((c) => c.container), ["delta"]);
    assert.deepEqual(first.notFound, ["nosuchcontainer"]);
    assert.ok(first.excluded.includes("epsilon"), "a container not asked for is listed as left out");
    assert.equal(byContainer(first, "delta").requests, 2);
    assert.deepEqual(await requestsFor("delta", "epsilon"), ["delta/d1", "delta/d2"]);

    const second = await reconcile({ containers: ["delta"] });
    assert.ok(first.reportBlob !== undefined && second.reportBlob !== undefined);
    assert.notEqual(second.reportBlob, first.reportBlob, "every run keeps its own report");
    const reports = await reportBlobs();
    assert.ok(reports.includes(first.reportBlob) && reports.includes(second.reportBlob), reports.join(", "));
    await requestsFor("delta");
  });

  it("never runs two reconciliations: a second start answers 409 with the running instance's status URLs", async () => {
    const first = await postJson(`${host.baseUrl}/api/reconcile`, { dryRun: true });
    assert.equal(first.status, 202);
    await host.client.suspend(RECONCILIATION_INSTANCE_ID, "hold it running for the test");
    const second = await postJson(`${host.baseUrl}/api/reconcile`);
    assert.equal(second.status, 409);
    const body = (await second.json()) as { error: { code: string }; statusQueryGetUri: string };
    assert.equal(body.error.code, "ReconciliationRunning");
    assert.equal(body.statusQueryGetUri, first.headers.get("location"));
    assert.equal(second.headers.get("location"), first.headers.get("location"));
    // The scheduled start is skipped too.
    await host.fireTimer(Triggers.timerStartReconciliation);
    const running = await host.client.listInstances({ instanceIdPrefix: RECONCILIATION_INSTANCE_ID });
    assert.equal(running.filter((i) => i.instanceId === RECONCILIATION_INSTANCE_ID).length, 1);
    await host.client.resume(RECONCILIATION_INSTANCE_ID, "done");
    const status: StatusBody = await followStatus(first.headers.get("location") ?? "");
    assert.equal(status.runtimeStatus, "Completed");
    assert.equal((status.output as { dryRun: boolean }).dryRun, true, "the first start's run is the one that completed");
  });

  it("the timer trigger starts a reconciliation", async () => {
    await host.fireTimer(Triggers.timerStartReconciliation);
    const status = await host.client.waitForCompletion(RECONCILIATION_INSTANCE_ID, { timeoutMs: 120_000 });
    assert.equal(status.runtimeStatus, "Completed");
    assert.equal((status.input as { startedBy: string }).startedBy, "timer");
  });

  for (const [what, body] of [
    ["a body that is not JSON", "{containers:"],
    ["an unknown field", { everything: true }],
    ["containers that is not a list", { containers: "alpha" }],
    ["an invalid container name", { containers: ["Alpha_1"] }],
    ["a non-boolean dryRun", { dryRun: "yes" }],
  ] as const) {
    it(`answers 400 with a JSON error for ${what}`, async () => {
      const res = await postJson(`${host.baseUrl}/api/reconcile`, body);
      assert.equal(res.status, 400);
      const json = (await res.json()) as { error: { code: string; message: string } };
      assert.ok(json.error.code.length > 0 && json.error.message.length > 0);
    });
  }
});
