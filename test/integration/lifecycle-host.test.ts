/**
 * The lifecycle through the local host and Azurite, with the default LAKE_SNAPSHOTS (`newest`): snapshots released
 * after verified backups (never one whose version the backup lacks), change detection intact, and the retention run —
 * backup history past BACKUP_RETENTION_DAYS, orphans after ORPHAN_RETENTION_DAYS, a delete refused by immutability,
 * a dry run, and the task hub's old finished instances. Ages are judged against orchestration time, which follows the
 * host's virtual clock: `advanceTime` makes what was just written days old without waiting.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { createHttpHeaders, type PipelinePolicy } from "@azure/core-rest-pipeline";
import { type BlobItem, BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { QueueClient } from "@azure/storage-queue";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { type LocalHost, startLocalHost } from "../../local-host";
import { BackupMetadata } from "../../src/domain/blob-backup";
import type { ContainerScanOutput } from "../../src/domain/container-scan";
import type { RetentionReport } from "../../src/domain/retention";
import { Orchestrators } from "../../src/function-names";
import { runtime } from "../../src/runtime";
import { followStatus, postJson } from "../support/durable-http";
import { addPipelinePolicy } from "../support/scan-fixtures";
import { afterSecondOf, waitFor } from "../support/wait-for";

const DAY = 86_400_000;
const QUEUE = "lifecycle-requests";

let azurite: AzuriteInstance;
let host: LocalHost;
let lake: BlobServiceClient;
let backup: BlobServiceClient;
let queue: QueueClient;

/** Backup writes (PUT) to these "<container>/<blob>" names are refused with a 403, so their backups fail. */
const refuseWrites = new Set<string>();
/** Deletes of these "<container>/<blob>" backup names are answered 409 BlobImmutableDueToPolicy (a fake refusal). */
const immutable = new Set<string>();

function nameOf(url: URL): string {
  return decodeURIComponent(url.pathname).split("/").slice(2).join("/");
}

function errorResponse(request: Parameters<PipelinePolicy["sendRequest"]>[0], status: number, code: string, message: string) {
  return {
    request,
    status,
    headers: createHttpHeaders({ "x-ms-error-code": code, "content-type": "application/xml" }),
    bodyAsText: `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`,
  };
}

async function lakeContainer(name: string, blobs: Record<string, string>): Promise<ContainerClient> {
  const c = lake.getContainerClient(name);
  await c.create();
  for (const [blob, content] of Object.entries(blobs)) await c.getBlockBlobClient(blob).upload(content, content.length);
  return c;
}

async function write(c: ContainerClient, blob: string, content: string): Promise<void> {
  const p = await c.getBlobClient(blob).getProperties();
  // A newer version must have a later Last-Modified than the one backed up (second resolution).
  await afterSecondOf((p.lastModified ?? new Date()).toISOString());
  await c.getBlockBlobClient(blob).upload(content, content.length);
}

/** Every entry of the container (with snapshots), by name: snapshot ids, "" for the base blob. */
async function entries(c: ContainerClient): Promise<Record<string, BlobItem[]>> {
  const out: Record<string, BlobItem[]> = {};
  if (!(await c.exists())) return out;
  for await (const item of c.listBlobsFlat({ includeSnapshots: true, includeMetadata: true })) (out[item.name] ??= []).push(item);
  return out;
}

async function snapshotCounts(c: ContainerClient): Promise<Record<string, number>> {
  const all = await entries(c);
  return Object.fromEntries(Object.entries(all).map(([name, items]) => [name, items.filter((i) => i.snapshot).length]));
}

async function scan(container: string): Promise<ContainerScanOutput> {
  const started = await postJson(`${host.baseUrl}/api/containers/${container}/backup`);
  assert.equal(started.status, 202, await started.clone().text());
  const status = await followStatus(started.headers.get("location") ?? "");
  assert.equal(status.runtimeStatus, "Completed", JSON.stringify(status.output));
  await settle();
  return status.output as ContainerScanOutput;
}

/**
 * Until every backup request is taken and every instance is done. The host's idle check sees a queue as idle after
 * an empty poll, and a request enqueued just after it would be missed: the queue's own count decides first.
 */
async function settle(): Promise<void> {
  await waitFor(async () => (await queue.getProperties()).approximateMessagesCount ?? 0, { until: (n) => n === 0, describe: "the backup queue to drain", timeoutMs: 120_000 });
  await host.waitForIdle({ timeoutMs: 120_000 });
}

/** A producer's scan and the backups it requests; none of them may fail. */
async function backUp(container: string): Promise<ContainerScanOutput> {
  const output = await scan(container);
  const failed = (await host.client.listInstances({ runtimeStatus: ["Failed"] })).filter((f) => f.name === Orchestrators.blobBackup);
  assert.deepEqual(failed.map((f) => JSON.stringify(f.output)), []);
  return output;
}

async function retain(body: unknown): Promise<RetentionReport> {
  const started = await postJson(`${host.baseUrl}/api/retention`, body);
  assert.equal(started.status, 202, await started.clone().text());
  const status = await followStatus(started.headers.get("location") ?? "");
  assert.equal(status.runtimeStatus, "Completed", JSON.stringify(status.output));
  return status.output as RetentionReport;
}

function containerCounts(report: RetentionReport, container: string) {
  const found = report.containers.find((c) => c.container === container);
  assert.ok(found, `${container} is in the report`);
  assert.equal(found.status, "done", found.error);
  return found.counts;
}

describe("lifecycle through the local host (LAKE_SNAPSHOTS=newest)", { timeout: 600_000 }, () => {
  before(async () => {
    azurite = await startAzurite();
    host = await startLocalHost({
      settings: {
        ...azurite.settings,
        BACKUP_QUEUE: QUEUE,
        BACKUP_RETENTION_DAYS: "1",
        BACKUP_MIN_VERSIONS: "2",
        ORPHAN_RETENTION_DAYS: "10",
        INSTANCE_RETENTION_DAYS: "30",
      },
      clock: "virtual",
      timerSchedules: false,
    });
    lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage);
    backup = BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage);
    queue = new QueueClient(azurite.settings.AzureWebJobsStorage, QUEUE);
    // The app runs in this process: these are the very clients its activities use.
    addPipelinePolicy(runtime().clients.backup.service, {
      name: "lifecycle-faults",
      async sendRequest(request, next) {
        const url = new URL(request.url);
        if (request.method === "PUT" && refuseWrites.has(nameOf(url))) return errorResponse(request, 403, "AuthorizationPermissionMismatch", "refused by the test");
        if (request.method === "DELETE" && immutable.has(nameOf(url))) {
          return errorResponse(request, 409, "BlobImmutableDueToPolicy", "This operation is not permitted as the blob is immutable due to a policy.");
        }
        return next(request);
      },
    });
  });
  after(async () => {
    await host?.stop();
    await azurite?.stop();
  });

  it("keeps exactly the newest snapshot of each blob once its backup is verified, and change detection still holds", async () => {
    const c = await lakeContainer("newest", { "a.csv": "a1", "b.csv": "b1", "dir/c.csv": "c1" });
    const first = await scan("newest");
    assert.equal(first.snapshots, 3);
    assert.deepEqual(await snapshotCounts(c), { "a.csv": 1, "b.csv": 1, "dir/c.csv": 1 });

    await write(c, "a.csv", "a2");
    await write(c, "b.csv", "b2");
    const second = await scan("newest");
    assert.equal(second.snapshots, 2, "only the changed blobs are snapshotted");
    assert.deepEqual([second.new, second.changed, second.unchanged], [0, 2, 1]);
    // Each blob's older snapshot went once its newer version was verified in the backup; the newest stays.
    assert.deepEqual(await snapshotCounts(c), { "a.csv": 1, "b.csv": 1, "dir/c.csv": 1 });
    const all = await entries(c);
    for (const items of Object.values(all)) {
      const base = items.find((i) => !i.snapshot);
      assert.equal(items.find((i) => i.snapshot)?.properties.etag, base?.properties.etag, "the kept snapshot is the live version");
    }

    const third = await scan("newest");
    assert.equal(third.snapshots, 0, "an unchanged blob is never snapshotted again");
    assert.deepEqual([third.new, third.changed, third.unchanged], [0, 0, 3]);
    // (The virtual clock lags the wall clock, so the scan may re-send requests for snapshots it thinks it took; the
    // backup instance id is the version's, so nothing is copied twice.)
    const copies = (await host.client.listInstances()).filter((i) => i.name === Orchestrators.blobBackup && JSON.stringify(i.input).includes('"newest"'));
    assert.equal(copies.length, 5, "one backup per version: 3 first versions + 2 changed");
  });

  it("never deletes a snapshot whose version is not in the backup: a failed backup keeps its snapshot", async () => {
    const c = await lakeContainer("failing", { "x.csv": "x1", "y.csv": "y1" });
    await backUp("failing");
    await write(c, "x.csv", "x2");
    refuseWrites.add("failing/x.csv");
    await scan("failing");
    const failed = await host.client.listInstances({ runtimeStatus: ["Failed"] });
    const failedBackups = failed.filter((f) => f.name === Orchestrators.blobBackup);
    assert.equal(failedBackups.length, 1, "the backup of x2 failed");
    // Out of the way of the other tests' "no backup failed" checks.
    for (const f of failedBackups) await host.client.purge(f.instanceId);
    refuseWrites.delete("failing/x.csv");
    const x2 = ((await entries(c))["x.csv"] ?? []).flatMap((i) => (i.snapshot ? [i.snapshot] : [])).sort();
    assert.equal(x2.length, 2, "x1 and x2 are snapshotted");

    await write(c, "x.csv", "x3");
    await scan("failing");
    const snapshots = ((await entries(c))["x.csv"] ?? []).flatMap((i) => (i.snapshot ? [i.snapshot] : [])).sort();
    // x1 (in the backup, superseded) went; x2 (its backup failed) stays although newer versions exist; x3 is newest.
    assert.equal(snapshots.length, 2, JSON.stringify(snapshots));
    assert.equal(snapshots[0], x2[1], "x2's snapshot is kept");
    assert.ok(!snapshots.includes(x2[0] ?? ""), "x1's snapshot went");

    const report = await retain({ containers: ["failing"] });
    const counts = containerCounts(report, "failing");
    assert.equal(counts.snapshots.kept.notInBackup, 1, "the retention run keeps it too");
    assert.equal(counts.snapshots.kept.newest, 2);
    assert.equal((await entries(c))["x.csv"]?.filter((i) => i.snapshot).length, 2);
  });

  it("prunes backup history only past BACKUP_RETENTION_DAYS, keeps BACKUP_MIN_VERSIONS and every current backup; a dry run changes nothing", async () => {
    const c = await lakeContainer("history", { "h.csv": "h1", "once.csv": "once" });
    await backUp("history");
    await write(c, "h.csv", "h2");
    await backUp("history");
    await write(c, "h.csv", "h3");
    await backUp("history");
    const b = backup.getContainerClient("history");
    const historyOf = async () => Object.fromEntries(Object.entries(await entries(b)).map(([n, items]) => [n, items.length]));
    assert.deepEqual(await historyOf(), { "h.csv": 3, "once.csv": 1 }, "h.csv: current + 2 history snapshots");

    const young = await retain({ containers: ["history"] });
    assert.equal(containerCounts(young, "history").versions.deleted.expired, 0, "nothing is older than a day yet");

    await host.advanceTime(2 * DAY);
    const before = await entries(b);
    const dry = await retain({ containers: ["history"], dryRun: true });
    assert.equal(dry.dryRun, true);
    assert.equal(containerCounts(dry, "history").versions.deleted.expired, 1, "the dry run reports the oldest history version");
    assert.equal(dry.reportBlob, undefined, "a dry run writes no report");
    assert.deepEqual(await entries(b), before, "a dry run changes nothing");

    const pruned = await retain({ containers: ["history"] });
    const counts = containerCounts(pruned, "history");
    assert.equal(counts.versions.deleted.expired, 1);
    assert.equal(counts.versions.kept.current, 2);
    assert.equal(counts.versions.kept.minVersions, 1);
    const after = await entries(b);
    assert.equal(after["h.csv"]?.length, 2, "current + the newest history version (BACKUP_MIN_VERSIONS=2)");
    const current = after["h.csv"]?.find((i) => !i.snapshot);
    assert.equal(current?.metadata?.[BackupMetadata.etag], (await c.getBlobClient("h.csv").getProperties()).etag, "the current backup holds the live version");
    assert.ok(after["once.csv"]?.some((i) => !i.snapshot), "a blob's only backup is never pruned");
    assert.ok(pruned.reportBlob?.startsWith("backup-reports/retention/"), pruned.reportBlob);
  });

  it("deletes an orphan only after ORPHAN_RETENTION_DAYS from its recorded deletion, and counts an immutability refusal as kept", async () => {
    await lakeContainer("orphans", { "live.csv": "live" });
    await backUp("orphans");
    const b = backup.getContainerClient("orphans");
    const plant = async (name: string, deletedAt?: string) =>
      b.getBlockBlobClient(name).upload("old", 3, { metadata: { [BackupMetadata.etag]: '"0x1"', ...(deletedAt !== undefined && { [BackupMetadata.deletedAt]: deletedAt }) } });
    const longAgo = new Date(Date.now() - 100 * DAY).toISOString();
    await plant("expired.csv", longAgo);
    await plant("locked.csv", longAgo);
    await plant("recent.csv", new Date().toISOString());
    await plant("unrecorded.csv");
    immutable.add("orphans/locked.csv");

    const report = await retain({ containers: ["orphans"] });
    const counts = containerCounts(report, "orphans");
    assert.deepEqual(counts.orphans, { expired: 2, waiting: 1, unrecorded: 1, noRetention: 0 });
    assert.equal(counts.versions.deleted.orphanExpired, 1);
    assert.equal(counts.versions.kept.refused, 1, "the refused delete is counted as kept, not as an error");
    assert.deepEqual(Object.keys(await entries(b)).sort(), ["live.csv", "locked.csv", "recent.csv", "unrecorded.csv"]);
    immutable.delete("orphans/locked.csv");
  });

  it("purges only finished instances older than INSTANCE_RETENTION_DAYS", async () => {
    await lakeContainer("purge-old", { "p.csv": "p" });
    await backUp("purge-old");
    const old = (await host.client.listInstances()).filter((i) => i.instanceId === "scan-purge-old" || i.name === Orchestrators.blobBackup);
    assert.ok(old.length >= 2);
    await host.advanceTime(40 * DAY);
    await lakeContainer("purge-new", { "q.csv": "q" });
    await backUp("purge-new");

    const report = await retain({ containers: ["purge-new"] });
    assert.ok(report.instances.instances >= old.length, JSON.stringify(report.instances));
    const left = new Set((await host.client.listInstances()).map((i) => i.instanceId));
    for (const i of old) assert.equal(left.has(i.instanceId), false, `${i.instanceId} was purged`);
    assert.ok(left.has("scan-purge-new"), "a recent instance is kept");
    assert.ok(left.has("retention"), "the running retention instance is kept");
  });

  it("answers 400 for a bad body and 403 for a container the settings exclude", async () => {
    const bad = await postJson(`${host.baseUrl}/api/retention`, { dryRun: "yes" });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code.length > 0, true);
    const reserved = await postJson(`${host.baseUrl}/api/retention`, { containers: ["backup-reports"] });
    assert.equal(reserved.status, 403);
  });
});
