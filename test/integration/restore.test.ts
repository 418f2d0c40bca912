/**
 * Restore through the local Durable host and Azurite, on backups made by the app itself (producer scan → queue →
 * blob backup): point in time, a prefix, a list, in place under each overwrite mode, a deleted container, deleted
 * blobs recorded by reconciliation, a concurrent producer write, a dry run, another account, tricky names, the
 * versions route, bad bodies, one restore at a time per target.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import type { PipelinePolicy } from "@azure/core-rest-pipeline";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { type LocalHost, startLocalHost } from "../../local-host";
import { BackupMetadata } from "../../src/domain/blob-backup";
import type { ReconciliationReport } from "../../src/domain/reconciliation";
import { type RestoreLine, type RestoreReport } from "../../src/domain/restore-contracts";
import { runtime } from "../../src/runtime";
import { followStatus, postJson } from "../support/durable-http";
import { backUpThroughTheApp, contents, momentBetween, runRestore, text } from "../support/restore-fixtures";
import { addPipelinePolicy } from "../support/scan-fixtures";
import { waitFor } from "../support/wait-for";

let azurite: AzuriteInstance;
let host: LocalHost;
let lake: BlobServiceClient;
let backup: BlobServiceClient;
let restoreAccount: BlobServiceClient;

before(async () => {
  azurite = await startAzurite();
  host = await startLocalHost({
    // The function storage account stands in for a separate restore account (same Azurite, so copies work).
    settings: { ...azurite.settings, BACKUP_QUEUE: "backup-requests", RestoreStorage: azurite.accounts.functions.connectionString, RESTORE_CONCURRENCY: "8" },
    queuePollMs: 50,
    timerSchedules: false,
  });
  lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage);
  backup = BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage);
  restoreAccount = BlobServiceClient.fromConnectionString(azurite.accounts.functions.connectionString);
});

after(async () => {
  await host?.stop();
  await azurite?.stop();
});

async function put(container: ContainerClient, name: string, content: string, options: { metadata?: Record<string, string>; contentType?: string; contentEncoding?: string } = {}): Promise<void> {
  await container.getBlockBlobClient(name).upload(content, Buffer.byteLength(content), {
    ...(options.metadata !== undefined && { metadata: options.metadata }),
    blobHTTPHeaders: { blobContentType: options.contentType ?? "text/csv", ...(options.contentEncoding !== undefined && { blobContentEncoding: options.contentEncoding }) },
  });
}

async function newLakeContainer(name: string, blobs: Record<string, string>): Promise<ContainerClient> {
  const c = lake.getContainerClient(name);
  await c.create();
  for (const [blob, content] of Object.entries(blobs)) await put(c, blob, content);
  return c;
}

async function deleteFromLake(c: ContainerClient, name: string): Promise<void> {
  await c.getBlobClient(name).delete({ deleteSnapshots: "include" });
}

async function reportLines(report: RestoreReport): Promise<RestoreLine[]> {
  assert.ok(report.detailsBlob, "the report names its per-blob lines");
  const [container, ...rest] = report.detailsBlob.split("/");
  const body = (await backup.getContainerClient(container ?? "").getBlobClient(rest.join("/")).downloadToBuffer()).toString("utf8");
  return body.trim().split("\n").map((l) => JSON.parse(l) as RestoreLine);
}

const skips = (r: RestoreReport): Record<string, number> => Object.fromEntries(Object.entries(r.counts.skipped).filter(([, n]) => n > 0));

describe("point-in-time restore of a container", () => {
  let sales: ContainerClient;
  let asOf: string;

  before(async () => {
    sales = await newLakeContainer("sales", { "2026/11/part-0.csv": "part-0 v1", "2026/11/part-1.csv": "part-1 v1", "empty.txt": "" });
    await put(sales, "meta.json", '{"v":1}', { metadata: { owner: "team-a" }, contentType: "application/json", contentEncoding: "identity" });
    await backUpThroughTheApp(host, "sales");
    asOf = await momentBetween();
    await put(sales, "2026/11/part-0.csv", "part-0 v2, written by mistake");
    await put(sales, "2026/12/late.csv", "created after asOf");
    await backUpThroughTheApp(host, "sales");
  });

  it("restores exactly the versions as of a time between two versions into a new container, verified, with the source's own metadata and headers", async () => {
    const report = await runRestore(host, { container: "sales", asOf });
    assert.equal(report.status, "completed");
    assert.match(report.target.container, /^sales-restore-\d{8}-\d{6}$/, "a new container named after the source and the restore");
    const target = lake.getContainerClient(report.target.container);
    assert.deepEqual(await contents(target), { "2026/11/part-0.csv": "part-0 v1", "2026/11/part-1.csv": "part-1 v1", "empty.txt": "", "meta.json": '{"v":1}' });
    assert.deepEqual(
      { considered: report.counts.considered, restored: report.counts.restored, failed: report.counts.failed, skipped: skips(report) },
      { considered: 5, restored: 4, failed: 0, skipped: { noVersionAsOf: 1 } },
    );
    const meta = await target.getBlobClient("meta.json").getProperties();
    assert.deepEqual(meta.metadata, { owner: "team-a" }, "the source's own metadata, no backup_* record");
    assert.equal(meta.contentType, "application/json");
    assert.equal(meta.contentEncoding, "identity");
    const part = await target.getBlobClient("2026/11/part-1.csv").getProperties();
    assert.deepEqual(part.metadata, {}, "a blob without metadata of its own gets none");
    assert.equal(part.contentType, "text/csv");
    assert.ok(part.contentMD5 !== undefined && part.contentMD5.length === 16);
    // Every line of the per-blob report names the version chosen.
    const lines = await reportLines(report);
    assert.equal(lines.length, 5);
    const part0 = lines.find((l) => l.name === "2026/11/part-0.csv");
    assert.equal(part0?.outcome, "restored");
    assert.match(part0?.reason ?? "", /length and MD5 checked/);
    assert.ok(part0?.version?.backupSnapshot, "the older version came from a snapshot of the backup blob");
    assert.equal(lines.find((l) => l.name === "2026/12/late.csv")?.reason, "noVersionAsOf");
    // The JSON report is in the reports container, like reconciliation's.
    assert.match(report.reportBlob ?? "", /^backup-reports\/restore\/\d{4}\/\d{2}\/\d{2}\/\d{9}-restore-datalake1-sales-restore-/);
  });

  it("restores a prefix, under a target prefix", async () => {
    const report = await runRestore(host, { container: "sales", prefix: "2026/11/", asOf, target: { container: "sales-prefix", prefix: "recovered/" } });
    assert.deepEqual(await contents(lake.getContainerClient("sales-prefix")), {
      "recovered/2026/11/part-0.csv": "part-0 v1",
      "recovered/2026/11/part-1.csv": "part-1 v1",
    });
    assert.equal(report.counts.considered, 2);
  });

  it("restores a list of blobs, and reports a name the backup does not hold", async () => {
    const report = await runRestore(host, { container: "sales", blobs: ["meta.json", "2026/11/part-0.csv", "nope.csv"], target: { container: "sales-list" } });
    assert.deepEqual(await contents(lake.getContainerClient("sales-list")), { "meta.json": '{"v":1}', "2026/11/part-0.csv": "part-0 v2, written by mistake" }, "asOf defaults to now");
    assert.deepEqual(skips(report), { notInBackup: 1 });
  });

  it("a dry run writes nothing in the target and reports the version it would choose for every blob", async () => {
    const report = await runRestore(host, { container: "sales", asOf, target: { container: "sales-dry" }, dryRun: true });
    assert.equal(report.dryRun, true);
    assert.equal(await lake.getContainerClient("sales-dry").exists(), false, "not even the container");
    assert.equal(report.counts.restored, 0);
    assert.equal(report.counts.planned, 4);
    const sample = report.samples.find((l) => l.name === "2026/11/part-0.csv");
    assert.equal(sample?.outcome, "planned");
    const backupEntries = [];
    for await (const item of backup.getContainerClient("sales").listBlobsFlat({ prefix: "2026/11/part-0.csv", includeSnapshots: true, includeMetadata: true })) backupEntries.push(item);
    const older = backupEntries.find((e) => e.snapshot !== undefined && e.snapshot !== "");
    assert.equal(sample?.version?.sourceEtag, older?.metadata?.[BackupMetadata.etag], "the older version is the one chosen");
    assert.equal(sample?.version?.backupSnapshot, older?.snapshot);
    const lines = await reportLines(report);
    assert.deepEqual(lines.map((l) => `${l.name}:${l.outcome}`).sort(), [
      "2026/11/part-0.csv:planned",
      "2026/11/part-1.csv:planned",
      "2026/12/late.csv:skipped",
      "empty.txt:planned",
      "meta.json:planned",
    ]);
    assert.ok(lines.filter((l) => l.outcome === "planned").every((l) => l.version?.sourceEtag !== undefined && l.version.sourceLastModified !== undefined));
  });

  it("restores into the restore account (the lake account is lost), into the same container name by default", async () => {
    const report = await runRestore(host, { container: "sales", asOf, target: { account: "restore" } });
    assert.equal(report.target.accountName, azurite.accounts.functions.name);
    assert.equal(report.target.container, "sales");
    assert.deepEqual(await contents(restoreAccount.getContainerClient("sales")), {
      "2026/11/part-0.csv": "part-0 v1",
      "2026/11/part-1.csv": "part-1 v1",
      "empty.txt": "",
      "meta.json": '{"v":1}',
    });
  });

  it("lists the versions of one blob the backup holds and the lake's snapshots, newest first", async () => {
    const res = await fetch(`${host.baseUrl}/api/containers/sales/versions?blob=${encodeURIComponent("2026/11/part-0.csv")}`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as {
      backup: { sourceLastModified: string; sourceEtag: string; size: number; copiedAt: string; current: boolean }[];
      lake: { current: boolean; snapshot?: string; size: number }[];
    };
    assert.equal(body.backup.length, 2);
    assert.ok(body.backup[0]!.sourceLastModified > body.backup[1]!.sourceLastModified, "newest first");
    assert.deepEqual(body.backup.map((v) => [v.current, v.size]), [[true, "part-0 v2, written by mistake".length], [false, "part-0 v1".length]]);
    assert.ok(body.backup.every((v) => v.sourceEtag.startsWith('"') && v.copiedAt !== undefined));
    assert.equal(body.lake[0]?.current, true);
    assert.ok(body.lake.length >= 2 && body.lake.slice(1).every((v) => v.snapshot !== undefined));
    const missing = await fetch(`${host.baseUrl}/api/containers/sales/versions?blob=nope`);
    assert.equal(missing.status, 404);
    for (const query of ["", "?blob=a&blob=b", "?blob=a&asOf=now"]) {
      const bad = await fetch(`${host.baseUrl}/api/containers/sales/versions${query}`);
      assert.equal(bad.status, 400, query);
    }
  });
});

describe("restore in place", () => {
  /** A lake container backed up at v1, then damaged: a overwritten by mistake, b deleted, c unchanged, d created. */
  async function damaged(name: string): Promise<{ c: ContainerClient; asOf: string }> {
    const c = await newLakeContainer(name, { "a.csv": "a v1", "b.csv": "b v1", "c.csv": "c v1" });
    await backUpThroughTheApp(host, name);
    const asOf = await momentBetween();
    await put(c, "a.csv", "a overwritten by mistake");
    await deleteFromLake(c, "b.csv");
    await put(c, "d.csv", "d is new");
    return { c, asOf };
  }

  it("needs an overwrite mode", async () => {
    const res = await postJson(`${host.baseUrl}/api/restore`, { container: "sales", target: { container: "sales" } });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, "OverwriteRequired");
  });

  it("never: writes only what is missing; nothing else is touched", async () => {
    const { c, asOf } = await damaged("inplace-never");
    const report = await runRestore(host, { container: "inplace-never", asOf, target: { container: "inplace-never" }, overwrite: "never" });
    assert.deepEqual(await contents(c), { "a.csv": "a overwritten by mistake", "b.csv": "b v1", "c.csv": "c v1", "d.csv": "d is new" });
    assert.deepEqual(skips(report), { exists: 1, identical: 1 });
    assert.equal(report.counts.restored, 1);
  });

  it("older: does not replace a blob newer than the version restored", async () => {
    const { c, asOf } = await damaged("inplace-older");
    const report = await runRestore(host, { container: "inplace-older", asOf, target: { container: "inplace-older" }, overwrite: "older" });
    assert.deepEqual(await contents(c), { "a.csv": "a overwritten by mistake", "b.csv": "b v1", "c.csv": "c v1", "d.csv": "d is new" });
    assert.deepEqual(skips(report), { newerInTarget: 1, identical: 1 });
  });

  it("older: replaces a blob older than the version restored", async () => {
    const target = await newLakeContainer("older-target", { "x.csv": "stale copy, written before the source's version" });
    await momentBetween();
    await newLakeContainer("older-source", { "x.csv": "x v1", "y.csv": "y v1" });
    await backUpThroughTheApp(host, "older-source");
    await momentBetween();
    await put(target, "y.csv", "written after the source's version");
    const report = await runRestore(host, { container: "older-source", target: { container: "older-target" }, overwrite: "older" });
    assert.deepEqual(await contents(target), { "x.csv": "x v1", "y.csv": "written after the source's version" });
    assert.deepEqual(skips(report), { newerInTarget: 1 });
  });

  it("always: replaces what differs, keeps what is identical, deletes nothing", async () => {
    const { c, asOf } = await damaged("inplace-always");
    const report = await runRestore(host, { container: "inplace-always", asOf, target: { container: "inplace-always" }, overwrite: "always" });
    assert.deepEqual(await contents(c), { "a.csv": "a v1", "b.csv": "b v1", "c.csv": "c v1", "d.csv": "d is new" });
    assert.deepEqual(skips(report), { identical: 1 });
    assert.equal(report.counts.restored, 2);
  });

  it("brings a deleted lake container back whole", async () => {
    const names = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`dir-${i % 3}/file-${i}.csv`, `content ${i}`]));
    const c = await newLakeContainer("gone", names);
    await backUpThroughTheApp(host, "gone");
    await c.delete();
    const report = await runRestore(host, { container: "gone", target: { container: "gone" }, overwrite: "never" });
    assert.deepEqual(await contents(c), names);
    assert.equal(report.counts.restored, 30);
  });

  it("never overwrites a producer's write that lands between the restore's read and its write", async () => {
    const c = await newLakeContainer("race", { "hot.csv": "hot v1", "new.csv": "new v1", "calm.csv": "calm v1" });
    await backUpThroughTheApp(host, "race");
    await put(c, "hot.csv", "hot overwritten by mistake");
    await deleteFromLake(c, "new.csv");
    const producer = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage).getContainerClient("race");
    // Just before the restore commits either blob, a producer writes it (the restore had read it as damaged / missing).
    const armed = new Set(["hot.csv", "new.csv"]);
    const policy: PipelinePolicy = {
      name: "producer-writes-first",
      async sendRequest(request, next) {
        const url = new URL(request.url);
        const name = decodeURIComponent(url.pathname).split("/race/")[1];
        if (request.method === "PUT" && url.searchParams.get("comp") === "blocklist" && name !== undefined && armed.delete(name)) {
          await put(producer, name, `${name} written by the producer`);
        }
        return next(request);
      },
    };
    addPipelinePolicy(runtime().clients.source.service, policy);
    const report = await runRestore(host, { container: "race", target: { container: "race" }, overwrite: "always" });
    assert.equal(armed.size, 0, "both writes were intercepted");
    assert.deepEqual(await contents(c), { "hot.csv": "hot.csv written by the producer", "new.csv": "new.csv written by the producer", "calm.csv": "calm v1" });
    assert.deepEqual(skips(report), { identical: 1, concurrentWrite: 2 });
    const lines = await reportLines(report);
    assert.match(lines.find((l) => l.name === "hot.csv")?.reason ?? "", /concurrentWrite: the target changed before our write .*kept/);
  });
});

describe("deleted lake blobs", () => {
  it("a blob reconciliation saw deleted before asOf is not restored; one deleted after asOf is", async () => {
    const c = await newLakeContainer("deletions", { "early.csv": "deleted early", "late.csv": "deleted late", "kept.csv": "kept" });
    await backUpThroughTheApp(host, "deletions");
    const beforeAny = await momentBetween();
    await deleteFromLake(c, "early.csv");
    const first = await reconcile();
    assert.equal(first.containers[0]?.counts.deletionsRecorded, 1);
    const between = await momentBetween();
    await deleteFromLake(c, "late.csv");
    const second = await reconcile();
    assert.equal(second.containers[0]?.counts.deletionsRecorded, 1, "recorded once: the earlier orphan already carries its time");
    assert.equal(second.containers[0]?.counts.orphans, 2);
    const marked = await backup.getContainerClient("deletions").getBlobClient("early.csv").getProperties();
    const deletedAt = marked.metadata?.[BackupMetadata.deletedAt];
    assert.ok(deletedAt !== undefined && deletedAt < between, deletedAt);

    const mid = await runRestore(host, { container: "deletions", asOf: between, target: { container: "deletions-mid" } });
    assert.deepEqual(await contents(lake.getContainerClient("deletions-mid")), { "late.csv": "deleted late", "kept.csv": "kept" });
    assert.deepEqual(skips(mid), { deleted: 1 });
    const early = await runRestore(host, { container: "deletions", asOf: beforeAny, target: { container: "deletions-early" } });
    assert.deepEqual(Object.keys(await contents(lake.getContainerClient("deletions-early"))).sort(), ["early.csv", "kept.csv", "late.csv"]);
    assert.equal(early.counts.restored, 3);
    const now = await runRestore(host, { container: "deletions", target: { container: "deletions-now" } });
    assert.deepEqual(Object.keys(await contents(lake.getContainerClient("deletions-now"))), ["kept.csv"]);
    assert.deepEqual(skips(now), { deleted: 2 });
  });

  async function reconcile(): Promise<ReconciliationReport> {
    const started = await postJson(`${host.baseUrl}/api/reconcile`, { containers: ["deletions"] });
    assert.equal(started.status, 202, await started.clone().text());
    const status = await followStatus(started.headers.get("location") ?? "");
    assert.equal(status.runtimeStatus, "Completed", JSON.stringify(status.output));
    return status.output as ReconciliationReport;
  }
});

describe("tricky names", () => {
  const names = ["a", "a/b", "a0", "with space.csv", "ünïcødé/日本語.txt", "100%.csv", "%41", "hash#tag.csv", "what?.csv", "a+b=c&d.csv"];

  it("restores every one of them, by container and by list, and lists their versions", async () => {
    await newLakeContainer("tricky", Object.fromEntries(names.map((n) => [n, `content of ${n}`])));
    await backUpThroughTheApp(host, "tricky");
    const expected = Object.fromEntries(names.map((n) => [n, `content of ${n}`]));
    const whole = await runRestore(host, { container: "tricky", target: { container: "tricky-whole" } });
    assert.equal(whole.counts.restored, names.length);
    assert.deepEqual(await contents(lake.getContainerClient("tricky-whole")), expected);
    const listed = await runRestore(host, { container: "tricky", blobs: names, target: { container: "tricky-list" } });
    assert.equal(listed.counts.restored, names.length);
    assert.deepEqual(await contents(lake.getContainerClient("tricky-list")), expected);
    for (const name of names) {
      const res = await fetch(`${host.baseUrl}/api/containers/tricky/versions?blob=${encodeURIComponent(name)}`);
      assert.equal(res.status, 200, name);
      const body = (await res.json()) as { blob: string; backup: unknown[] };
      assert.equal(body.blob, name);
      assert.equal(body.backup.length, 1, name);
    }
    assert.equal(await text(lake.getContainerClient("tricky-whole"), "what?.csv"), "content of what?.csv");
  });
});

describe("the starter", () => {
  for (const [what, body] of [
    ["a body that is not JSON", "{container:"],
    ["no container", {}],
    ["an unknown key", { container: "sales", everything: true }],
    ["an invalid container name", { container: "Sales_1" }],
    ["a time in the future", { container: "sales", asOf: new Date(Date.now() + 3_600_000).toISOString() }],
    ["a time that is not ISO 8601", { container: "sales", asOf: "yesterday" }],
    ["prefix and blobs together", { container: "sales", prefix: "a", blobs: ["a"] }],
    ["blobs that is not a list", { container: "sales", blobs: "a" }],
    ["an unknown overwrite mode", { container: "sales", overwrite: "yes" }],
    ["an unknown target account", { container: "sales", target: { account: "backup" } }],
    ["an invalid target container", { container: "sales", target: { container: "x" } }],
    ["a non-boolean dryRun", { container: "sales", dryRun: "true" }],
  ] as const) {
    it(`answers 400 with a JSON error for ${what}`, async () => {
      const res = await postJson(`${host.baseUrl}/api/restore`, body);
      assert.equal(res.status, 400);
      const json = (await res.json()) as { error: { code: string; message: string } };
      assert.ok(json.error.code.length > 0 && json.error.message.length > 0);
    });
  }

  it("fails clearly for a container that was never backed up, creating nothing", async () => {
    const started = await postJson(`${host.baseUrl}/api/restore`, { container: "never-backed-up", target: { container: "never-target" } });
    assert.equal(started.status, 202);
    const status = await followStatus(started.headers.get("location") ?? "");
    assert.equal(status.runtimeStatus, "Failed");
    assert.match(JSON.stringify(status.output), /has no container never-backed-up/);
    assert.equal(await lake.getContainerClient("never-target").exists(), false);
  });

  it("runs one restore at a time per target: a second start into the same target answers 409 with the running one's status URL", async () => {
    await newLakeContainer("busy", { "x.csv": "x" });
    await backUpThroughTheApp(host, "busy");
    // Hold the first restore inside its batch until the second start has been answered.
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let held = false;
    addPipelinePolicy(runtime().clients.backup.service, {
      name: "hold-busy-listing",
      async sendRequest(request, next) {
        const url = new URL(request.url);
        if (url.pathname.endsWith("/busy") && url.searchParams.get("comp") === "list" && !held) {
          held = true;
          await gate;
        }
        return next(request);
      },
    });
    const first = await postJson(`${host.baseUrl}/api/restore`, { container: "busy", target: { container: "busy-target" } });
    assert.equal(first.status, 202);
    const firstId = ((await first.clone().json()) as { id: string }).id;
    await waitFor(async () => ({ held, status: (await host.client.getStatus(firstId))?.runtimeStatus }), {
      until: (seen) => seen.held,
      describe: "the first restore to list the backup",
      timeoutMs: 120_000,
      intervalMs: 20,
    });
    const second = await postJson(`${host.baseUrl}/api/restore`, { container: "busy", target: { container: "busy-target" }, dryRun: true });
    assert.equal(second.status, 409);
    const body = (await second.json()) as { error: { code: string }; statusQueryGetUri: string };
    assert.equal(body.error.code, "RestoreInProgress");
    assert.equal(body.statusQueryGetUri, first.headers.get("location"));
    const elsewhere = await postJson(`${host.baseUrl}/api/restore`, { container: "busy", target: { container: "busy-other" }, dryRun: true });
    assert.equal(elsewhere.status, 202, "another target is not blocked");
    release();
    const status = await followStatus(first.headers.get("location") ?? "");
    assert.equal(status.runtimeStatus, "Completed");
    assert.deepEqual(await contents(lake.getContainerClient("busy-target")), { "x.csv": "x" });
    await followStatus(elsewhere.headers.get("location") ?? "");
  });
});
