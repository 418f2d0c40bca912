/**
 * The scan's page activity against Azurite: built by its factory with clients from the dev settings, called directly
 * page by page as the orchestration would.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { createHttpHeaders, type PipelinePolicy } from "@azure/core-rest-pipeline";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { createScanSourcePageActivity } from "../../src/activities/scan-source-page";
import { type Clients, createClients } from "../../src/config/clients";
import { loadSettings, type Settings } from "../../src/config/settings";
import { BackupMetadata } from "../../src/domain/blob-backup";
import { addScanCounts, type PageCounts, type ScanPageInput, type ScanPageResult, zeroScanCounts } from "../../src/domain/container-scan";
import { zeroSkipCounts } from "../../src/domain/skip-counts";
import { type SnapshotFn, takeSnapshot } from "../../src/storage/process-source-page";
import { addPipelinePolicy, drainRequests, listSnapshots, seedBlobs } from "../support/scan-fixtures";
import { isSnapshot, loseAnswers } from "../support/storage-faults";

let azurite: AzuriteInstance;
let clients: Clients;
let settings: Settings;
let counter = 0;

async function freshContainer(): Promise<ContainerClient> {
  counter += 1;
  const container = clients.source.service.getContainerClient(`scan-page-${counter}`);
  await container.create();
  return container;
}

type Activity = ReturnType<typeof createScanSourcePageActivity>;

/** `service` replaces the app's source clients (both: with and without SDK retries) to inject faults. */
function activity(
  overrides: { snapshot?: SnapshotFn; service?: BlobServiceClient; singleAttempt?: BlobServiceClient; snapshots?: Settings["snapshots"] } = {},
): Activity {
  return createScanSourcePageActivity({
    source:
      overrides.service === undefined
        ? clients.source
        : { accountName: clients.source.accountName, service: overrides.service, singleAttempt: overrides.singleAttempt ?? overrides.service },
    backup: clients.backup,
    backupQueue: clients.backupQueue,
    snapshotConcurrency: 4,
    policy: settings,
    snapshots: overrides.snapshots ?? "auto",
    ...(overrides.snapshot !== undefined && { snapshot: overrides.snapshot }),
  });
}

/** Runs the activity over every page of the container, as the orchestration does; returns the summed counts. */
async function scanAll(
  run: Activity,
  base: Omit<ScanPageInput, "scanStartedAt" | "snapshotsRefused" | "dryRun" | "snapshots"> &
    Partial<Pick<ScanPageInput, "scanStartedAt" | "dryRun" | "snapshots">>,
): Promise<{ counts: PageCounts; pages: number; refused?: string; results: ScanPageResult[] }> {
  const scanStartedAt = base.scanStartedAt ?? new Date().toISOString();
  let token: string | undefined;
  let skipName: string | undefined;
  let backupCursor: ScanPageInput["backupCursor"];
  let refused: string | undefined;
  let counts: PageCounts | undefined;
  const results: ScanPageResult[] = [];
  for (;;) {
    const result = await run({
      snapshots: "auto",
      dryRun: false,
      ...base,
      scanStartedAt,
      snapshotsRefused: refused !== undefined,
      ...(token !== undefined && { continuationToken: token }),
      ...(skipName !== undefined && { skipName }),
      ...(backupCursor !== undefined && { backupCursor }),
    });
    results.push(result);
    if (result.kind !== "page") return { counts: counts ?? zeroScanCounts(), pages: results.length, results };
    refused ??= result.snapshotsRefusedReason;
    counts = counts === undefined ? result.counts : addScanCounts(counts, result.counts);
    token = result.continuationToken;
    skipName = result.skipName;
    backupCursor = result.backupCursor;
    if (token === undefined) return { counts, pages: results.length, ...(refused !== undefined && { refused }), results };
  }
}


describe("scan page activity (Azurite)", { timeout: 600_000 }, () => {
  before(async () => {
    azurite = await startAzurite();
    settings = loadSettings({ ...azurite.settings, BACKUP_QUEUE: "scan-page-requests" });
    clients = createClients(settings);
  });
  after(async () => {
    await azurite?.stop();
  });

  it("snapshots new and changed blobs once, requests each new version once, and leaves unchanged blobs alone", async () => {
    await drainRequests(clients.backupQueue);
    const container = await freshContainer();
    await seedBlobs(container, ["one", "two", "three"]);
    const run = activity();

    const first = await scanAll(run, { container: container.containerName });
    assert.equal(first.counts.new, 3);
    assert.equal(first.counts.snapshots, 3);
    assert.equal(first.counts.requests, 3);
    const snaps1 = await listSnapshots(container);
    const reqs1 = await drainRequests(clients.backupQueue);
    assert.deepEqual(
      reqs1.map((r) => [r.blob, r.snapshot, r.etag, r.reason, r.container]).sort(),
      snaps1.map((s) => [s.name, s.snapshot, s.etag, "producer", container.containerName]).sort(),
    );
    // No earlier version of a new blob was seen: its request says so (the copy then writes create-only first).
    assert.ok(reqs1.every((r) => r.firstVersion === true), JSON.stringify(reqs1));

    await container.getBlockBlobClient("two").upload("two v2", 6);
    const second = await scanAll(run, { container: container.containerName });
    assert.deepEqual([second.counts.new, second.counts.changed, second.counts.unchanged], [0, 1, 2]);
    assert.equal(second.counts.snapshots, 1);
    const reqs2 = await drainRequests(clients.backupQueue);
    assert.equal(reqs2.length, 1);
    assert.equal(reqs2[0]?.blob, "two");
    assert.equal(reqs2[0]?.contentLength, 6);
    assert.equal(reqs2[0]?.firstVersion, undefined, "a changed blob has an earlier version");
    assert.equal((await listSnapshots(container)).length, 4);

    const third = await scanAll(run, { container: container.containerName });
    assert.deepEqual([third.counts.unchanged, third.counts.snapshots, third.counts.requests], [3, 0, 0]);
    assert.equal(third.counts.snapshotRequests, 0, "no storage request beyond listing for unchanged blobs");
    assert.equal((await drainRequests(clients.backupQueue)).length, 0);
  });

  it("a re-run of the same scan takes no second snapshot and re-sends the requests it may have lost", async () => {
    await drainRequests(clients.backupQueue);
    const container = await freshContainer();
    await seedBlobs(container, ["x", "y"]);
    const run = activity();
    const scanStartedAt = new Date(Date.now() - 1000).toISOString();
    const first = await scanAll(run, { container: container.containerName, scanStartedAt });
    assert.equal(first.counts.snapshots, 2);
    const firstRequests = await drainRequests(clients.backupQueue);

    const again = await scanAll(run, { container: container.containerName, scanStartedAt });
    assert.equal(again.counts.snapshots, 0);
    assert.equal(again.counts.requestsResent, 2);
    assert.equal((await listSnapshots(container)).length, 2, "still one snapshot per version");
    const resent = await drainRequests(clients.backupQueue);
    assert.deepEqual(
      resent.map((r) => `${r.blob}@${r.snapshot}`).sort(),
      firstRequests.map((r) => `${r.blob}@${r.snapshot}`).sort(),
      "the re-sent requests name the same versions (the backup dedupes them by blob and version)",
    );
  });

  it("handles names with spaces, Unicode, %, #, ? and names that are prefixes of others", async () => {
    await drainRequests(clients.backupQueue);
    const container = await freshContainer();
    const names = ["a", "a/b", "a0", "dir with space/file 1.csv", "ünï/cödé ✓.txt", "100%.txt", "hash#tag", "what?.json", "a/b/c"];
    await seedBlobs(container, names);
    const result = await scanAll(activity(), { container: container.containerName, pageSize: 2 });
    assert.equal(result.counts.new, names.length);
    assert.equal(result.counts.blobsSeen, names.length);
    const requests = await drainRequests(clients.backupQueue);
    assert.deepEqual(requests.map((r) => r.blob).sort(), [...names].sort());
    const snaps = await listSnapshots(container);
    assert.deepEqual(snaps.map((s) => s.name).sort(), [...names].sort());
  });

  it("counts every blob exactly once when a name's entries straddle a page boundary", async () => {
    await drainRequests(clients.backupQueue);
    const container = await freshContainer();
    const names = ["a", "a/b", "a0", ...Array.from({ length: 12 }, (_, i) => `d/${String(i).padStart(2, "0")}`)];
    await seedBlobs(container, names);
    // Two older snapshots per name (3 entries a name), then half the names change.
    for (let round = 0; round < 2; round++) {
      for (const n of names) {
        await container.getBlockBlobClient(n).createSnapshot();
        await container.getBlockBlobClient(n).upload(`${n} r${round}`, n.length + 3);
      }
    }
    for (const n of names.slice(0, 8)) await container.getBlockBlobClient(n).createSnapshot();
    // Page sizes 2, 4 and 5 cut names' entries at different places.
    for (const pageSize of [2, 4, 5]) {
      const result = await scanAll(activity(), { container: container.containerName, pageSize, dryRun: true });
      assert.equal(result.counts.blobsSeen, names.length, `pageSize ${pageSize}: every name once`);
      assert.equal(result.counts.unchanged, 8, `pageSize ${pageSize}: unchanged`);
      assert.equal(result.counts.changed, names.length - 8, `pageSize ${pageSize}: changed`);
      assert.ok(result.pages > 3);
    }
    const real = await scanAll(activity(), { container: container.containerName, pageSize: 4 });
    assert.equal(real.counts.snapshots, names.length - 8);
    const requests = await drainRequests(clients.backupQueue);
    assert.deepEqual(requests.map((r) => r.blob).sort(), names.slice(8).sort());
  });

  it("finishes a name with more snapshots than the small re-list page at a page boundary", async () => {
    await drainRequests(clients.backupQueue);
    const container = await freshContainer();
    await seedBlobs(container, ["l", "m", "n"]);
    const m = container.getBlockBlobClient("m");
    for (let i = 0; i < 150; i++) await m.createSnapshot();
    await m.upload("m v2", 4);
    const result = await scanAll(activity(), { container: container.containerName, pageSize: 2 });
    assert.equal(result.counts.blobsSeen, 3);
    assert.deepEqual([result.counts.new, result.counts.changed], [2, 1], "m is changed: its newest snapshot was found");
    assert.equal(result.counts.snapshots, 3);
    await drainRequests(clients.backupQueue);
  });

  it("reports a blob changed or deleted between listing and snapshot instead of snapshotting it", async () => {
    await drainRequests(clients.backupQueue);
    const container = await freshContainer();
    await seedBlobs(container, ["keep", "racy", "gone"]);
    // A writer that gets in between our listing and our snapshot (the snapshot itself is the real conditional call).
    const racing: SnapshotFn = async (snapshots, name, etag) => {
      if (name === "racy") await container.getBlockBlobClient("racy").upload("changed meanwhile", 17);
      if (name === "gone") await container.getBlobClient("gone").delete();
      return takeSnapshot(snapshots, name, etag);
    };
    const result = await scanAll(activity({ snapshot: racing }), { container: container.containerName });
    assert.equal(result.counts.snapshots, 1);
    assert.equal(result.counts.skipped.changedSinceListing, 1);
    assert.equal(result.counts.skipped.deletedSinceListing, 1);
    assert.deepEqual((await listSnapshots(container)).map((s) => s.name), ["keep"]);
    assert.deepEqual((await drainRequests(clients.backupQueue)).map((r) => r.blob), ["keep"]);
    // The changed blob is new for the next scan.
    const next = await scanAll(activity(), { container: container.containerName });
    assert.deepEqual([next.counts.new, next.counts.unchanged], [1, 1]);
    await drainRequests(clients.backupQueue);
  });

  it("skips directory markers and archived blobs with their reasons", async () => {
    await drainRequests(clients.backupQueue);
    const container = await freshContainer();
    await seedBlobs(container, ["dir"], { metadata: { hdi_isfolder: "true" } });
    await seedBlobs(container, ["dir/file", "cold"]);
    await container.getBlockBlobClient("cold").setAccessTier("Archive");
    const result = await scanAll(activity(), { container: container.containerName });
    assert.deepEqual(result.counts.skipped, { ...zeroSkipCounts(), directory: 1, archived: 1 });
    assert.equal(result.counts.snapshots, 1);
    assert.deepEqual((await drainRequests(clients.backupQueue)).map((r) => r.blob), ["dir/file"]);
  });

  it("dry run snapshots and requests nothing", async () => {
    await drainRequests(clients.backupQueue);
    const container = await freshContainer();
    await seedBlobs(container, ["p", "q"]);
    const result = await scanAll(activity(), { container: container.containerName, dryRun: true });
    assert.deepEqual([result.counts.new, result.counts.snapshots, result.counts.requests], [2, 0, 0]);
    assert.equal((await listSnapshots(container)).length, 0);
    assert.equal((await drainRequests(clients.backupQueue)).length, 0);
  });

  it("a snapshot whose answer was lost leaves one snapshot of the version, not a second from a retry", async () => {
    await drainRequests(clients.backupQueue);
    const container = await freshContainer();
    await seedBlobs(container, ["lost/1", "lost/2", "lost/3"]);
    // The answers of the first two snapshots are lost after the service took them, whichever client sends them.
    const lose = loseAnswers(isSnapshot, 2);
    const service = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage);
    const singleAttempt = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage, { retryOptions: { maxTries: 1 } });
    for (const client of [service, singleAttempt]) addPipelinePolicy(client, lose);
    const result = await scanAll(activity({ service, singleAttempt }), { container: container.containerName });
    assert.equal(lose.lost(), 2, "two answers were lost");
    const snapshots = await listSnapshots(container);
    assert.deepEqual(snapshots.map((s) => s.name).sort(), ["lost/1", "lost/2", "lost/3"], "one snapshot per blob");
    assert.equal(result.counts.snapshots, 3);
    const requests = await drainRequests(clients.backupQueue);
    assert.deepEqual(
      requests.map((r) => `${r.blob}@${r.snapshot ?? ""}`).sort(),
      snapshots.map((s) => `${s.name}@${s.snapshot}`).sort(),
      "each request names the snapshot that exists",
    );
  });

  it("tells a missing container apart from an empty one", async () => {
    const missing = await activity()({
      container: "does-not-exist",
      snapshots: "auto",
      snapshotsRefused: false,
      dryRun: false,
      scanStartedAt: new Date().toISOString(),
    });
    assert.deepEqual(missing, { kind: "containerNotFound", account: clients.source.accountName });
    const empty = await scanAll(activity(), { container: (await freshContainer()).containerName });
    assert.equal(empty.counts.blobsSeen, 0);
  });

  it("refuses a name range outside the scan's prefix, and lists nothing", async () => {
    const container = await freshContainer();
    await seedBlobs(container, ["in/a", "out/b"]);
    const result = await activity()({
      container: container.containerName,
      prefix: "in/",
      range: { prefix: "out/" },
      snapshots: "auto",
      snapshotsRefused: false,
      dryRun: false,
      scanStartedAt: new Date().toISOString(),
    });
    assert.deepEqual(result, { kind: "refused", reason: 'the range "out/" is outside the scan\'s prefix "in/"' });
    assert.deepEqual(await listSnapshots(container), []);
  });

  describe("an account that refuses snapshots (fault injected in the HTTP pipeline)", () => {
    const REFUSAL = "FeatureNotYetSupportedForHierarchicalNamespaceAccounts";
    let snapshotCalls = 0;
    const refuseSnapshots: PipelinePolicy = {
      name: "refuse-snapshots",
      sendRequest(request, next) {
        if (request.method === "PUT" && new URL(request.url).searchParams.get("comp") === "snapshot") {
          snapshotCalls += 1;
          return Promise.resolve({
            request,
            status: 409,
            headers: createHttpHeaders({ "x-ms-error-code": REFUSAL, "content-type": "application/xml" }),
            bodyAsText:
              '<?xml version="1.0" encoding="utf-8"?><Error><Code>' +
              REFUSAL +
              "</Code><Message>This feature is not yet supported for accounts with hierarchical namespace.</Message></Error>",
          });
        }
        return next(request);
      },
    };
    const refusingService = (): BlobServiceClient => {
      const service = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage);
      addPipelinePolicy(service, refuseSnapshots);
      return service;
    };

    it("auto falls back to ETag-pinned requests and says so", async () => {
      await drainRequests(clients.backupQueue);
      const container = await freshContainer();
      await seedBlobs(container, ["f1", "f2", "f3"]);
      snapshotCalls = 0;
      const result = await scanAll(activity({ service: refusingService() }), { container: container.containerName, pageSize: 2 });
      assert.match(result.refused ?? "", new RegExp(REFUSAL));
      assert.equal(result.counts.snapshots, 0);
      assert.equal(result.counts.requests, 3);
      assert.ok(snapshotCalls >= 1 && snapshotCalls <= 2, "no further attempts once refused (only the first page tried)");
      const requests = await drainRequests(clients.backupQueue);
      assert.deepEqual(requests.map((r) => r.blob).sort(), ["f1", "f2", "f3"]);
      assert.ok(requests.every((r) => r.snapshot === undefined && r.etag.length > 0));
    });

    it("on fails with the refusal and requests nothing", async () => {
      await drainRequests(clients.backupQueue);
      const container = await freshContainer();
      await seedBlobs(container, ["g1"]);
      const result = await scanAll(activity({ service: refusingService() }), { container: container.containerName, snapshots: "on" });
      const [first] = result.results;
      assert.equal(first?.kind, "snapshotsRefused");
      assert.match(first?.kind === "snapshotsRefused" ? first.reason : "", new RegExp(REFUSAL));
      assert.equal((await drainRequests(clients.backupQueue)).length, 0);
    });

    it("off never tries to snapshot", async () => {
      await drainRequests(clients.backupQueue);
      const container = await freshContainer();
      await seedBlobs(container, ["h1", "h2"]);
      snapshotCalls = 0;
      const result = await scanAll(activity({ service: refusingService(), snapshots: "off" }), { container: container.containerName, snapshots: "off" });
      assert.equal(snapshotCalls, 0);
      assert.equal(result.counts.requests, 2);
      await drainRequests(clients.backupQueue);
    });

    it("without snapshots, requests only the live versions the backup does not hold (merge-join with the backup listing)", async () => {
      await drainRequests(clients.backupQueue);
      const container = await freshContainer();
      const names = ["k/1", "k/2", "k/3", "k/4", "k/5", "k/6", "k/7"];
      await seedBlobs(container, names);
      const backup = clients.backup.service.getContainerClient(container.containerName);
      await backup.create();
      // k/1, k/3, k/6 are backed up at their current version; k/2 at an older one; a0rphan has no source.
      for (const name of ["k/1", "k/3", "k/6", "k/2", "a0rphan"]) {
        const etag = name === "k/2" || name === "a0rphan" ? '"0xOLD"' : ((await container.getBlobClient(name).getProperties()).etag ?? "");
        await backup.getBlockBlobClient(name).upload("b", 1, { metadata: { [BackupMetadata.etag]: etag } });
      }
      for (const pageSize of [2, 5000]) {
        const result = await scanAll(activity({ snapshots: "off" }), {
          container: container.containerName,
          snapshots: "off",
          pageSize,
        });
        assert.equal(result.counts.alreadyBackedUp, 3, `page size ${pageSize}`);
        assert.equal(result.counts.requests, 4);
        assert.ok(result.counts.backupListRequests >= 1);
        const requests = await drainRequests(clients.backupQueue);
        assert.deepEqual(requests.map((r) => r.blob).sort(), ["k/2", "k/4", "k/5", "k/7"]);
        assert.ok(requests.every((r) => r.snapshot === undefined), "ETag-pinned requests");
        // The backup listing tells which have a backup blob at all: k/2 has an older one.
        assert.deepEqual(requests.filter((r) => r.firstVersion === true).map((r) => r.blob).sort(), ["k/4", "k/5", "k/7"]);
      }
    });
  });
});
