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

import { BackupMetadata } from "../../src/domain/blob-backup";
import { Orchestrators } from "../../src/function-names";
import { runtime } from "../../src/runtime";
import { postJson } from "../support/durable-http";
import { containerCounts, DAY_MS as DAY, type LifecycleHarness, startLifecycleHarness } from "../support/lifecycle-fixtures";
import { addPipelinePolicy } from "../support/scan-fixtures";

let h: LifecycleHarness;

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

describe("lifecycle through the local host (LAKE_SNAPSHOTS=newest)", { timeout: 600_000 }, () => {
  before(async () => {
    h = await startLifecycleHarness({ BACKUP_RETENTION_DAYS: "1", BACKUP_MIN_VERSIONS: "2", ORPHAN_RETENTION_DAYS: "10", INSTANCE_RETENTION_DAYS: "30" });
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
    await h?.stop();
  });

  it("keeps exactly the newest snapshot of each blob once its backup is verified, and change detection still holds", async () => {
    const c = await h.lakeContainer("newest", { "a.csv": "a1", "b.csv": "b1", "dir/c.csv": "c1" });
    const first = await h.scan("newest");
    assert.equal(first.snapshots, 3);
    assert.deepEqual(await h.snapshotCounts(c), { "a.csv": 1, "b.csv": 1, "dir/c.csv": 1 });

    await h.write(c, "a.csv", "a2");
    await h.write(c, "b.csv", "b2");
    const second = await h.scan("newest");
    assert.equal(second.snapshots, 2, "only the changed blobs are snapshotted");
    assert.deepEqual([second.new, second.changed, second.unchanged], [0, 2, 1]);
    // Each blob's older snapshot went once its newer version was verified in the backup; the newest stays.
    assert.deepEqual(await h.snapshotCounts(c), { "a.csv": 1, "b.csv": 1, "dir/c.csv": 1 });
    const all = await h.entries(c);
    for (const items of Object.values(all)) {
      const base = items.find((i) => !i.snapshot);
      assert.equal(items.find((i) => i.snapshot)?.properties.etag, base?.properties.etag, "the kept snapshot is the live version");
    }

    const copied = await h.backupFingerprint("newest");
    assert.deepEqual(
      copied.map((e) => e.split("@")[0]),
      ["a.csv", "a.csv", "b.csv", "b.csv", "dir/c.csv"],
      "each changed blob was copied again (its previous backup kept as history), the unchanged one not",
    );
    const third = await h.scan("newest");
    assert.equal(third.snapshots, 0, "an unchanged blob is never snapshotted again");
    assert.deepEqual([third.new, third.changed, third.unchanged], [0, 0, 3]);
    // (The virtual clock lags the wall clock, so the scan may re-send requests for snapshots it thinks it took; the
    // backup then finds it holds those versions.)
    assert.deepEqual(await h.backupFingerprint("newest"), copied, "nor copied again");
  });

  it("never deletes a snapshot whose version is not in the backup: a failed backup keeps its snapshot", async () => {
    const c = await h.lakeContainer("failing", { "x.csv": "x1", "y.csv": "y1" });
    await h.backUp("failing");
    await h.write(c, "x.csv", "x2");
    refuseWrites.add("failing/x.csv");
    await h.scan("failing");
    const failed = await h.host.client.listInstances({ runtimeStatus: ["Failed"] });
    const failedBackups = failed.filter((f) => f.name === Orchestrators.blobBackup);
    assert.equal(failedBackups.length, 1, "the backup of x2 failed");
    // Out of the way of the other tests' "no backup failed" checks.
    for (const f of failedBackups) await h.host.client.purge(f.instanceId);
    refuseWrites.delete("failing/x.csv");
    const x2 = ((await h.entries(c))["x.csv"] ?? []).flatMap((i) => (i.snapshot ? [i.snapshot] : [])).sort();
    assert.equal(x2.length, 2, "x1 and x2 are snapshotted");

    await h.write(c, "x.csv", "x3");
    await h.scan("failing");
    const snapshots = ((await h.entries(c))["x.csv"] ?? []).flatMap((i) => (i.snapshot ? [i.snapshot] : [])).sort();
    // x1 (in the backup, superseded) went; x2 (its backup failed) stays although newer versions exist; x3 is newest.
    assert.equal(snapshots.length, 2, JSON.stringify(snapshots));
    assert.equal(snapshots[0], x2[1], "x2's snapshot is kept");
    assert.ok(!snapshots.includes(x2[0] ?? ""), "x1's snapshot went");

    const report = await h.retain({ containers: ["failing"] });
    const counts = containerCounts(report, "failing");
    assert.equal(counts.snapshots.kept.notInBackup, 1, "the retention run keeps it too");
    assert.equal(counts.snapshots.kept.newest, 2);
    assert.equal((await h.entries(c))["x.csv"]?.filter((i) => i.snapshot).length, 2);
  });

  it("prunes backup history only past BACKUP_RETENTION_DAYS, keeps BACKUP_MIN_VERSIONS and every current backup; a dry run changes nothing", async () => {
    const c = await h.lakeContainer("history", { "h.csv": "h1", "once.csv": "once" });
    await h.backUp("history");
    await h.write(c, "h.csv", "h2");
    await h.backUp("history");
    await h.write(c, "h.csv", "h3");
    await h.backUp("history");
    const b = h.backup.getContainerClient("history");
    const historyOf = async () => Object.fromEntries(Object.entries(await h.entries(b)).map(([n, items]) => [n, items.length]));
    assert.deepEqual(await historyOf(), { "h.csv": 3, "once.csv": 1 }, "h.csv: current + 2 history snapshots");

    const young = await h.retain({ containers: ["history"] });
    assert.equal(containerCounts(young, "history").versions.deleted.expired, 0, "nothing is older than a day yet");

    await h.host.advanceTime(2 * DAY);
    const before = await h.entries(b);
    const dry = await h.retain({ containers: ["history"], dryRun: true });
    assert.equal(dry.dryRun, true);
    assert.equal(containerCounts(dry, "history").versions.deleted.expired, 1, "the dry run reports the oldest history version");
    assert.equal(dry.reportBlob, undefined, "a dry run writes no report");
    assert.deepEqual(await h.entries(b), before, "a dry run changes nothing");

    const pruned = await h.retain({ containers: ["history"] });
    const counts = containerCounts(pruned, "history");
    assert.equal(counts.versions.deleted.expired, 1);
    assert.equal(counts.versions.kept.current, 2);
    assert.equal(counts.versions.kept.minVersions, 1);
    const after = await h.entries(b);
    assert.equal(after["h.csv"]?.length, 2, "current + the newest history version (BACKUP_MIN_VERSIONS=2)");
    const current = after["h.csv"]?.find((i) => !i.snapshot);
    assert.equal(current?.metadata?.[BackupMetadata.etag], (await c.getBlobClient("h.csv").getProperties()).etag, "the current backup holds the live version");
    assert.ok(after["once.csv"]?.some((i) => !i.snapshot), "a blob's only backup is never pruned");
    assert.ok(pruned.reportBlob?.startsWith("backup-reports/retention/"), pruned.reportBlob);
  });

  it("deletes an orphan only after ORPHAN_RETENTION_DAYS from its recorded deletion, and counts an immutability refusal as kept", async () => {
    await h.lakeContainer("orphans", { "live.csv": "live" });
    await h.backUp("orphans");
    const b = h.backup.getContainerClient("orphans");
    const plant = async (name: string, deletedAt?: string) =>
      b.getBlockBlobClient(name).upload("old", 3, { metadata: { [BackupMetadata.etag]: '"0x1"', ...(deletedAt !== undefined && { [BackupMetadata.deletedAt]: deletedAt }) } });
    const longAgo = new Date(Date.now() - 100 * DAY).toISOString();
    await plant("expired.csv", longAgo);
    await plant("locked.csv", longAgo);
    await plant("recent.csv", new Date().toISOString());
    await plant("unrecorded.csv");
    immutable.add("orphans/locked.csv");

    const report = await h.retain({ containers: ["orphans"] });
    const counts = containerCounts(report, "orphans");
    assert.deepEqual(counts.orphans, { expired: 2, waiting: 1, unrecorded: 1, noRetention: 0 });
    assert.equal(counts.versions.deleted.orphanExpired, 1);
    assert.equal(counts.versions.kept.refused, 1, "the refused delete is counted as kept, not as an error");
    assert.deepEqual(Object.keys(await h.entries(b)).sort(), ["live.csv", "locked.csv", "recent.csv", "unrecorded.csv"]);
    immutable.delete("orphans/locked.csv");
  });

  it("purges only finished instances older than INSTANCE_RETENTION_DAYS", async () => {
    await h.lakeContainer("purge-old", { "p.csv": "p" });
    await h.backUp("purge-old");
    const old = (await h.host.client.listInstances({ runtimeStatus: ["Completed", "Failed", "Terminated"] })).filter((i) => i.instanceId !== "retention");
    assert.ok(old.length >= 2);
    await h.host.advanceTime(40 * DAY);
    await h.lakeContainer("purge-new", { "q.csv": "q" });
    await h.backUp("purge-new");

    const report = await h.retain({ containers: ["purge-new"] });
    assert.ok(report.instances.instances >= old.length, JSON.stringify(report.instances));
    const left = new Set((await h.host.client.listInstances()).map((i) => i.instanceId));
    for (const i of old) assert.equal(left.has(i.instanceId), false, `${i.instanceId} was purged`);
    assert.ok(left.has("scan-purge-new"), "a recent instance is kept");
    assert.ok(left.has("retention"), "the running retention instance is kept");
  });

  it("answers 400 for a bad body and 403 for a container the settings exclude", async () => {
    const bad = await postJson(`${h.host.baseUrl}/api/retention`, { dryRun: "yes" });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code.length > 0, true);
    const reserved = await postJson(`${h.host.baseUrl}/api/retention`, { containers: ["backup-reports"] });
    assert.equal(reserved.status, 403);
  });
});
