/**
 * Joins that do not collect: a backup holding many blobs the lake no longer has (a deleted partition) is joined a
 * bounded number of backup pages per activity call, for reconciliation and for a scan without snapshots, and every
 * call's result stays small — the orphans are counted, a few sampled, never carried. Driven through the real
 * activities against Azurite, the cursor carried from call to call as the orchestrations carry it.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import type { ContainerClient } from "@azure/storage-blob";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { createReconcileContainerWindowActivity } from "../../src/activities/reconcile-container-window";
import { createScanSourcePageActivity } from "../../src/activities/scan-source-page";
import { type Clients, createClients } from "../../src/config/clients";
import { loadSettings, type Settings } from "../../src/config/settings";
import { BackupMetadata } from "../../src/domain/blob-backup";
import { type PageCounts, type ScanPageInput,scanPageResultSchema } from "../../src/domain/container-scan";
import { mapBounded } from "../../src/domain/map-bounded";
import { addReconcileCounts, type ReconcileCounts, type WindowInput, windowResultSchema, zeroReconcileCounts } from "../../src/domain/reconciliation";
import { drainRequests, seedBlobs } from "../support/scan-fixtures";

/**
 * 20,000 in the suite (seeding runs at about 230 blobs a second on Azurite here, and a file has ten minutes);
 * `ORPHANS_BOUNDED=100000 npm test -- orphans-bounded` runs the size (about ten minutes alone).
 */
const ORPHANS = Number(process.env.ORPHANS_BOUNDED ?? 20_000);
/** Small pages: about 100 backup pages at the suite's size, so the cursor is carried across many calls. */
const PAGE = Math.max(100, Math.round(ORPHANS / 100));
const BACKUP_PAGES = 4;
/** A call's result: counts, a cursor, at most 20 sample names — never the orphans. */
const MAX_RESULT_BYTES = 8 * 1024;

describe("joins that do not collect orphans", { timeout: 1_200_000 }, () => {
  let azurite: AzuriteInstance;
  let settings: Settings;
  let clients: Clients;
  let lake: ContainerClient;
  let etags: Map<string, string>;
  const live = ["a-live", "m-live", "z-live"];

  before(async () => {
    azurite = await startAzurite();
    settings = loadSettings({ ...azurite.settings, SNAPSHOTS: "off" });
    clients = createClients(settings);
    lake = clients.source.service.getContainerClient("orphans");
    const backup = clients.backup.service.getContainerClient("orphans");
    await lake.create();
    await backup.create();
    await seedBlobs(lake, live);
    etags = new Map();
    for await (const item of lake.listBlobsFlat()) etags.set(item.name, `"${item.properties.etag ?? ""}"`);
    // The partition the lake deleted, between the live names; its deletion already recorded (no write per orphan).
    const gone = Array.from({ length: ORPHANS }, (_, i) => `g/${String(i).padStart(6, "0")}`);
    await seedBlobs(backup, gone, { concurrency: 64, content: () => "", metadata: { [BackupMetadata.etag]: '"0xGONE"', [BackupMetadata.deletedAt]: "2026-01-01T00:00:00.000Z" } });
    await mapBounded(live, 4, (name) =>
      backup.getBlockBlobClient(name).upload("b", 1, { metadata: { [BackupMetadata.etag]: etags.get(name) ?? "" } }));
  });
  after(async () => {
    await azurite?.stop();
  });

  it(`reconciles ${ORPHANS} orphans a few backup pages per window, each window's result small, every orphan counted`, async () => {
    const activity = createReconcileContainerWindowActivity({
      source: clients.source,
      backup: clients.backup,
      backupQueue: clients.backupQueue,
      snapshotConcurrency: 8,
      policy: settings,
      snapshots: "off",
    });
    let cursor: WindowInput["cursor"] = { backup: {} };
    let counts: ReconcileCounts = zeroReconcileCounts();
    let windows = 0;
    let largest = 0;
    for (;;) {
      windows += 1;
      const raw = await activity({
        container: "orphans",
        backupContainer: "orphans",
        options: { dryRun: false, snapshots: "off", sourcePages: 1, pageSize: PAGE, backupPages: BACKUP_PAGES },
        cursor,
        snapshotsRefused: false,
      });
      largest = Math.max(largest, JSON.stringify(raw).length);
      const result = windowResultSchema.parse(raw);
      assert.equal(result.kind, "window");
      if (result.kind !== "window") throw new Error("unreachable");
      assert.ok(result.counts.backupListRequests <= BACKUP_PAGES, `window ${windows} read ${result.counts.backupListRequests} backup pages`);
      counts = addReconcileCounts(counts, result.counts);
      if (result.done) break;
      cursor = result.cursor;
      assert.ok(windows < 1000, "the cursors advance");
    }
    assert.equal(counts.orphans, ORPHANS);
    assert.equal(counts.blobs, live.length, "each live blob joined once, although the window holding z-live was listed again");
    assert.equal(counts.inSync, live.length);
    assert.equal(counts.requests, 0);
    assert.equal(counts.deletionsRecorded, 0);
    assert.ok(largest <= MAX_RESULT_BYTES, `largest window result ${largest} bytes`);
    const pages = Math.ceil((ORPHANS + live.length) / PAGE);
    assert.ok(windows >= pages / BACKUP_PAGES, `${windows} windows for ${pages} backup pages`);
    // The backup was listed about once: each window re-reads at most the page it ended in.
    assert.ok(counts.backupListRequests <= pages + windows, `${counts.backupListRequests} backup listing requests`);
    assert.deepEqual(await drainRequests(clients.backupQueue), []);
  });

  it("scans without snapshots over the same backup: pages joined a few backup pages at a time, nothing requested again", async () => {
    const activity = createScanSourcePageActivity({
      source: clients.source,
      backup: clients.backup,
      backupQueue: clients.backupQueue,
      snapshotConcurrency: 8,
      policy: settings,
      snapshots: "off",
    });
    let next: Pick<ScanPageInput, "continuationToken" | "skipName" | "backupCursor"> = {};
    let totals: PageCounts | undefined;
    let calls = 0;
    let largest = 0;
    for (;;) {
      calls += 1;
      const raw = await activity({
        container: "orphans",
        snapshots: "off",
        snapshotsRefused: false,
        dryRun: false,
        scanStartedAt: new Date().toISOString(),
        pageSize: PAGE,
        backupPages: BACKUP_PAGES,
        ...next,
      });
      largest = Math.max(largest, JSON.stringify(raw).length);
      const result = scanPageResultSchema.parse(raw);
      assert.equal(result.kind, "page");
      if (result.kind !== "page") throw new Error("unreachable");
      assert.ok(result.counts.backupListRequests <= BACKUP_PAGES);
      totals = totals === undefined ? result.counts : { ...totals, ...sum(totals, result.counts) };
      if (result.continuationToken === undefined && result.more !== true) break;
      next = {
        ...(result.continuationToken !== undefined && { continuationToken: result.continuationToken }),
        ...(result.skipName !== undefined && { skipName: result.skipName }),
        ...(result.backupCursor !== undefined && { backupCursor: result.backupCursor }),
      };
      assert.ok(calls < 1000, "the cursors advance");
    }
    assert.ok(calls > 1, "the join went on in later calls instead of reading the whole backup in the first");
    assert.equal(totals?.blobsSeen, live.length);
    assert.equal(totals?.alreadyBackedUp, live.length);
    assert.equal(totals?.requests, 0);
    assert.ok(largest <= MAX_RESULT_BYTES, `largest page result ${largest} bytes`);
    assert.deepEqual(await drainRequests(clients.backupQueue), []);
  });
});

function sum(a: PageCounts, b: PageCounts): Pick<PageCounts, "blobsSeen" | "alreadyBackedUp" | "requests" | "backupListRequests"> {
  return {
    blobsSeen: a.blobsSeen + b.blobsSeen,
    alreadyBackedUp: a.alreadyBackedUp + b.alreadyBackedUp,
    requests: a.requests + b.requests,
    backupListRequests: a.backupListRequests + b.backupListRequests,
  };
}
