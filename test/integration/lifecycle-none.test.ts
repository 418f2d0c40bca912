/**
 * LAKE_SNAPSHOTS=none through the local host and Azurite: a lake blob carries no snapshot once its version is verified
 * in the backup, a producer's plain Delete Blob then succeeds (with a snapshot it fails 409 SnapshotsPresent), and
 * change detection — against the backup listing now — snapshots and copies exactly the changed blobs, in the scan and
 * in reconciliation.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { RestError } from "@azure/storage-blob";

import { BackupMetadata } from "../../src/domain/blob-backup";
import type { ReconciliationReport } from "../../src/domain/reconciliation";
import { followStatus, postJson } from "../support/durable-http";
import { containerCounts, type LifecycleHarness, startLifecycleHarness } from "../support/lifecycle-fixtures";
import { putRawBlob } from "../support/raw-blob";

let h: LifecycleHarness;


describe("lifecycle through the local host (LAKE_SNAPSHOTS=none)", { timeout: 600_000 }, () => {
  before(async () => {
    h = await startLifecycleHarness({ LAKE_SNAPSHOTS: "none" });
  });
  after(async () => {
    await h?.stop();
  });

  it("leaves no snapshot once the backups are verified, and a producer's plain delete then succeeds", async () => {
    const c = await h.lakeContainer("plain", { "a.csv": "a1", "b.csv": "b1" });
    const first = await h.backUp("plain");
    assert.equal(first.snapshots, 2, "each new version is frozen by a snapshot until it is backed up");
    assert.deepEqual(await h.snapshotCounts(c), { "a.csv": 0, "b.csv": 0 });
    const b = h.backup.getContainerClient("plain");
    assert.equal((await b.getBlobClient("a.csv").getProperties()).metadata?.[BackupMetadata.etag], (await c.getBlobClient("a.csv").getProperties()).etag);

    // What a producer's clean-up step does: Delete Blob without x-ms-delete-snapshots.
    await c.getBlobClient("a.csv").delete();
    assert.equal(await c.getBlobClient("a.csv").exists(), false);
  });

  it("a plain delete of a blob that still has a snapshot fails as Azure answers it (the reason the mode exists)", async () => {
    const c = await h.lakeContainer("plain-snap", { "s.csv": "s" });
    await c.getBlobClient("s.csv").createSnapshot();
    await assert.rejects(c.getBlobClient("s.csv").delete(), (err: unknown) => err instanceof RestError && err.statusCode === 409 && err.code === "SnapshotsPresent");
  });

  it("change detection compares with the backup: an unchanged blob is never snapshotted or copied again, a changed one is", async () => {
    const c = await h.lakeContainer("detect", { "same.csv": "same", "hot.csv": "v1", "dir/other.csv": "o" });
    await h.backUp("detect");
    const first = await h.backupFingerprint("detect");
    assert.equal(first.length, 3);

    const again = await h.backUp("detect");
    assert.deepEqual([again.snapshots, again.requests, again.unchanged], [0, 0, 3], "nothing changed: no snapshot, no request");
    assert.deepEqual(await h.backupFingerprint("detect"), first, "nothing copied again");

    await h.write(c, "hot.csv", "v2");
    const changed = await h.backUp("detect");
    assert.deepEqual([changed.snapshots, changed.requests, changed.unchanged], [1, 1, 2], "exactly the changed blob");
    const after = await h.backupFingerprint("detect");
    assert.deepEqual(after.filter((e) => !e.startsWith("hot.csv@")), first.filter((e) => !e.startsWith("hot.csv@")), "the others untouched");
    assert.equal(after.filter((e) => e.startsWith("hot.csv@")).length, 2, "hot.csv copied again, its previous backup kept as history");
    assert.deepEqual(await h.snapshotCounts(c), { "dir/other.csv": 0, "hot.csv": 0, "same.csv": 0 }, "and its snapshot went after the backup");
    const held = await h.backup.getContainerClient("detect").getBlobClient("hot.csv").getProperties();
    assert.equal(held.metadata?.[BackupMetadata.etag], (await c.getBlobClient("hot.csv").getProperties()).etag);
  });

  it("reconciliation takes no snapshot of in-sync blobs and repairs a missing backup", async () => {
    const c = await h.lakeContainer("recon", { "ok.csv": "ok", "lost.csv": "lost" });
    await h.backUp("recon");
    await h.backup.getContainerClient("recon").getBlobClient("lost.csv").delete({ deleteSnapshots: "include" });
    const started = await postJson(`${h.host.baseUrl}/api/reconcile`, { containers: ["recon"] });
    assert.equal(started.status, 202);
    const status = await followStatus(started.headers.get("location") ?? "");
    const report = status.output as ReconciliationReport;
    const counts = report.containers.find((r) => r.container === "recon")?.counts;
    assert.equal(counts?.snapshots, 0, "no snapshot of the whole lake");
    assert.deepEqual([counts?.inSync, counts?.missing, counts?.requests], [1, 1, 1]);
    await h.settle();
    assert.equal(await h.backup.getContainerClient("recon").getBlobClient("lost.csv").exists(), true, "the missing backup is repaired");
    assert.deepEqual(await h.snapshotCounts(c), { "lost.csv": 0, "ok.csv": 0 });
  });

  it("the retention run removes a backed-up snapshot the backup path left behind", async () => {
    const c = await h.lakeContainer("leftover", { "l.csv": "l" });
    await h.backUp("leftover");
    // A snapshot of a version the backup holds (as a crash between verification and release would leave it).
    await c.getBlobClient("l.csv").createSnapshot();
    const dry = await h.retain({ containers: ["leftover"], dryRun: true });
    assert.equal(containerCounts(dry, "leftover").snapshots.deleted.backedUp, 1);
    assert.deepEqual(await h.snapshotCounts(c), { "l.csv": 1 }, "a dry run deletes nothing");
    const report = await h.retain({ containers: ["leftover"] });
    assert.equal(containerCounts(report, "leftover").snapshots.deleted.backedUp, 1);
    assert.deepEqual(await h.snapshotCounts(c), { "l.csv": 0 });
  });

  it("the retention run leaves a name the app cannot address safely alone, and finishes the container", async () => {
    await h.lakeContainer("unsafe", { "fine.csv": "f" });
    await putRawBlob(h.azurite, h.azurite.accounts.lake, "unsafe", "a/%2E%2E/%2E%2E/elsewhere.csv", "planted");
    await h.backUp("unsafe");
    const report = await h.retain({ containers: ["unsafe"] });
    const counts = containerCounts(report, "unsafe");
    assert.equal(counts.blobs, 1, "only the addressable name is counted");
    assert.equal(await h.lake.getContainerClient("unsafe").getBlobClient("fine.csv").exists(), true);
  });
});
