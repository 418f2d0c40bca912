import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";

import { createHttpHeaders } from "@azure/core-rest-pipeline";
import type { ContainerClient } from "@azure/storage-blob";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { createReconcileContainerWindowActivity } from "../../src/activities/reconcile-container-window";
import { type Clients, createClients } from "../../src/config/clients";
import { loadSettings } from "../../src/config/settings";
import { BackupMetadata } from "../../src/domain/blob-backup";
import { mapBounded } from "../../src/domain/map-bounded";
import { addReconcileCounts, type ReconcileCounts, type WindowInput, windowResultSchema, zeroReconcileCounts } from "../../src/domain/reconciliation";
import { addPipelinePolicy, drainRequests, listSnapshots, seedBlobs } from "../support/scan-fixtures";
import { waitFor } from "../support/wait-for";

/** Runs the window activity until the container is done, as the orchestration would. */
async function reconcile(
  activity: (input: unknown) => Promise<unknown>,
  container: string,
  options: Partial<WindowInput["options"]> = {},
  from: WindowInput["cursor"] = { backup: {} },
): Promise<{ counts: ReconcileCounts; windows: number; orphanSamples: string[] }> {
  let cursor = from;
  let counts = zeroReconcileCounts();
  const orphanSamples: string[] = [];
  for (let windows = 1; ; windows += 1) {
    const result = windowResultSchema.parse(
      await activity({
        container,
        backupContainer: container,
        options: { dryRun: false, snapshots: "auto", sourcePages: 1, ...options },
        cursor,
        snapshotsRefused: false,
      }),
    );
    assert.equal(result.kind, "window");
    if (result.kind !== "window") throw new Error("unreachable");
    counts = addReconcileCounts(counts, result.counts);
    orphanSamples.push(...result.orphanSamples);
    if (result.done) return { counts, windows, orphanSamples };
    cursor = result.cursor;
    assert.ok(windows < 10_000, "the cursor advances");
  }
}

/** Writes a backup blob as the backup orchestration would: same name, the source version in its metadata. */
async function backUp(backup: ContainerClient, name: string, sourceEtag: string): Promise<void> {
  await backup.getBlockBlobClient(name).upload("backup", 6, {
    metadata: { [BackupMetadata.etag]: sourceEtag, [BackupMetadata.account]: "datalake1" },
  });
}

describe("reconciliation window activity (merge-join of the source and backup listings)", { timeout: 600_000 }, () => {
  let azurite: AzuriteInstance;
  let clients: Clients;
  let activity: (input: unknown) => Promise<unknown>;
  let activityFor: (snapshots: "auto" | "off") => (input: unknown) => Promise<unknown>;

  before(async () => {
    azurite = await startAzurite();
    const settings = loadSettings({ ...azurite.settings });
    clients = createClients(settings);
    activityFor = (snapshots) =>
      createReconcileContainerWindowActivity({
        source: clients.source,
        backup: clients.backup,
        backupQueue: clients.backupQueue,
        snapshotConcurrency: 8,
        policy: settings,
        snapshots,
      });
    activity = activityFor("auto");
  });
  after(async () => {
    await azurite.stop();
  });
  beforeEach(async () => {
    await drainRequests(clients.backupQueue);
  });

  /**
   * in-sync: a, a/b   missing snapshot (new): n1      missing backup: m1      outdated backup: o1 (changed since)
   * orphans: a0, zz (backups without source)        directory marker: dir (skipped)
   */
  async function seedLake(name: string): Promise<{ lake: ContainerClient; backup: ContainerClient; etags: Map<string, string> }> {
    const lake = clients.source.service.getContainerClient(name);
    const backup = clients.backup.service.getContainerClient(name);
    await lake.create();
    await backup.create();
    await seedBlobs(lake, ["a", "a/b", "m1", "o1", "n1"]);
    await lake.getBlockBlobClient("dir").upload("", 0, { metadata: { hdi_isfolder: "true" } });
    const etags = new Map<string, string>();
    for (const name of ["a", "a/b", "m1", "o1"]) {
      const blob = lake.getBlobClient(name);
      const props = await blob.getProperties();
      await blob.createSnapshot();
      etags.set(name, props.etag ?? "");
    }
    for (const name of ["a", "a/b", "o1"]) await backUp(backup, name, etags.get(name) ?? "");
    await backUp(backup, "a0", '"0xGONE"');
    await backUp(backup, "zz", '"0xGONE"');
    const changed = await lake.getBlockBlobClient("o1").upload("o1 v2", 5);
    etags.set("o1", changed.etag ?? "");
    etags.set("n1", (await lake.getBlobClient("n1").getProperties()).etag ?? "");
    return { lake, backup, etags };
  }

  /** A lake container of `names` and its backup holding each of them in sync but those in `without`. */
  async function seedInSync(container: string, names: readonly string[], without: readonly string[] = []): Promise<void> {
    const lake = clients.source.service.getContainerClient(container);
    const backup = clients.backup.service.getContainerClient(container);
    await lake.create();
    await backup.create();
    await seedBlobs(lake, names);
    for await (const item of lake.listBlobsFlat()) if (!without.includes(item.name)) await backUp(backup, item.name, item.properties.etag ?? "");
  }

  for (const [label, options] of [
    ["one window", {}],
    ["a window per page of two entries", { pageSize: 2 }],
  ] as const) {
    it(`finds every case and requests exactly the missing and outdated versions (${label})`, async () => {
      const name = label === "one window" ? "lake-one" : "lake-paged";
      const { lake, etags } = await seedLake(name);
      const result = await reconcile(activity, name, options);
      const c = result.counts;
      assert.equal(c.blobs, 6);
      assert.equal(c.skipped.directory, 1);
      assert.equal(c.inSync, 2, "a, a/b");
      assert.equal(c.missing, 2, "n1 (new), m1 (snapshot but no backup)");
      assert.equal(c.outdated, 1, "o1");
      assert.equal(c.new, 1);
      assert.equal(c.changed, 1);
      assert.equal(c.snapshots, 2, "n1 and o1 snapshotted now");
      assert.equal(c.requests, 3);
      assert.equal(c.orphans, 2);
      assert.deepEqual(result.orphanSamples.sort(), ["a0", "zz"]);

      const requests = await drainRequests(clients.backupQueue);
      assert.deepEqual(requests.map((r) => r.blob).sort(), ["m1", "n1", "o1"]);
      const snapshots = await listSnapshots(lake);
      for (const r of requests) {
        assert.equal(r.reason, "reconcile");
        assert.equal(r.etag, etags.get(r.blob), `${r.blob} requests the current version`);
        assert.ok(r.snapshot !== undefined, `${r.blob} names a snapshot`);
        assert.ok(snapshots.some((s) => s.name === r.blob && s.snapshot === r.snapshot && s.etag === r.etag), "the snapshot holds that version");
      }

      // A second pass finds the new snapshots (unchanged now) but still no backups: same requests, no new snapshots.
      const again = await reconcile(activity, name, options);
      assert.equal(again.counts.snapshots, 0);
      assert.equal(again.counts.requests, 3);
      assert.deepEqual((await drainRequests(clients.backupQueue)).map((r) => r.blob).sort(), ["m1", "n1", "o1"]);
    });
  }

  it("lists the lake's live blobs only and reads whole just the names the backup does not hold as listed", async () => {
    const name = "lake-live-only";
    const { lake, backup } = await seedLake(name);
    // In the backup but with no lake snapshot (released, or LAKE_SNAPSHOTS changed since): nothing to snapshot.
    const plain = await lake.getBlockBlobClient("plain").upload("plain", 5);
    await backUp(backup, "plain", plain.etag ?? "");
    const before = await listSnapshots(lake);
    const listings: { include: string; prefix: string }[] = [];
    addPipelinePolicy(clients.source.service, {
      name: "lake-listings-of-this-test",
      sendRequest(request, next) {
        const url = new URL(request.url);
        if (url.pathname.endsWith(`/${name}`) && url.searchParams.get("comp") === "list") {
          listings.push({ include: url.searchParams.get("include") ?? "", prefix: url.searchParams.get("prefix") ?? "" });
        }
        return next(request);
      },
    });

    const result = await reconcile(activity, name);
    const windowListings = [...listings];
    assert.equal(result.counts.inSync, 3, "a, a/b, plain");
    assert.equal(result.counts.snapshots, 2, "n1 and o1 only: plain is in the backup, m1 has a snapshot of its version");
    const pages = windowListings.filter((l) => !l.include.includes("snapshots"));
    const wholeReads = windowListings.filter((l) => l.include.includes("snapshots"));
    assert.equal(pages.length, 1, "one page of live blobs");
    assert.deepEqual(wholeReads.map((l) => l.prefix).sort(), ["m1", "n1", "o1"], "only the names the backup does not hold as listed");
    const after = await listSnapshots(lake);
    assert.ok(!after.some((s) => s.name === "plain"), "an in-sync blob is not snapshotted");
    const m1 = (await drainRequests(clients.backupQueue)).find((r) => r.blob === "m1");
    assert.ok(m1?.snapshot !== undefined && before.some((s) => s.name === "m1" && s.snapshot === m1.snapshot), "m1 is requested from the snapshot it had");
  });

  it("writes nothing in a dry run", async () => {
    const { lake } = await seedLake("lake-dry");
    const before = await listSnapshots(lake);
    const result = await reconcile(activity, "lake-dry", { dryRun: true });
    assert.equal(result.counts.missing + result.counts.outdated, 3);
    assert.equal(result.counts.requests, 0);
    assert.equal(result.counts.snapshots, 0);
    assert.deepEqual(await listSnapshots(lake), before);
    assert.deepEqual(await drainRequests(clients.backupQueue), []);
  });

  it("treats a missing backup container as an empty backup", async () => {
    const lake = clients.source.service.getContainerClient("lake-nobackup");
    await lake.create();
    await seedBlobs(lake, ["x", "y"]);
    const result = await reconcile(activity, "lake-nobackup");
    assert.equal(result.counts.missing, 2);
    assert.equal(result.counts.requests, 2);
    await drainRequests(clients.backupQueue);
  });

  it("reads a backup listing that ended no more: later windows do not list it again from the start", async () => {
    const lake = clients.source.service.getContainerClient("lake-ended");
    const backup = clients.backup.service.getContainerClient("lake-ended");
    await lake.create();
    await backup.create();
    // Every backup name sorts before the source's: the first window reads the backup to its end.
    await seedBlobs(backup, Array.from({ length: 30 }, (_, i) => `a/${String(i).padStart(2, "0")}`));
    await seedBlobs(lake, Array.from({ length: 30 }, (_, i) => `b/${String(i).padStart(2, "0")}`));
    const result = await reconcile(activityFor("off"), "lake-ended", { snapshots: "off", pageSize: 5 });
    assert.equal(result.counts.blobs, 30);
    assert.equal(result.counts.missing, 30);
    assert.equal(result.counts.orphans, 30);
    assert.ok(result.windows >= 6);
    assert.ok(result.counts.backupListRequests <= 7, `backup listed with ${result.counts.backupListRequests} requests for its 6 pages`);
    await drainRequests(clients.backupQueue);
  });

  it("reads each backup page once when the two sides are in sync: a page ending with the window's last name ends the window", async () => {
    await seedInSync("lake-aligned", Array.from({ length: 12 }, (_, i) => `d/${String(i).padStart(2, "0")}`));
    // Windows of one 4-name page: each backup page ends exactly where its window does.
    const result = await reconcile(activityFor("off"), "lake-aligned", { snapshots: "off", pageSize: 4 });
    assert.deepEqual([result.counts.inSync, result.windows], [12, 3]);
    assert.equal(result.counts.backupListRequests, 3, "three backup pages, each read once (five before: one page beyond each window's end, read again by the next)");
    assert.equal((await drainRequests(clients.backupQueue)).length, 0);
  });

  /**
   * An in-sync container of 12 names whose source page number `hold.sourcePage` (0-based) is answered only once the
   * backup's listing has been asked for `hold.backupPages` pages: a read-ahead that asks later never gets there, and
   * the listing fails on the deadline. Returns the backup listing requests sent so far.
   */
  async function inSyncLakeHolding(container: string, hold: { sourcePage: number; backupPages: number; describe: string }): Promise<() => number> {
    await seedInSync(container, Array.from({ length: 12 }, (_, i) => `d/${String(i).padStart(2, "0")}`));
    const isList = (url: string): boolean => new URL(url).pathname.endsWith(`/${container}`) && url.includes("comp=list");
    let backupListsSent = 0;
    let sourcePagesReturned = 0;
    addPipelinePolicy(clients.backup.service, {
      name: `count-backup-lists-${container}`,
      sendRequest: (request, next) => {
        if (isList(request.url)) backupListsSent += 1;
        return next(request);
      },
    });
    addPipelinePolicy(clients.source.service, {
      name: `hold-source-page-${container}`,
      sendRequest: async (request, next) => {
        const response = await next(request);
        if (isList(request.url) && sourcePagesReturned++ === hold.sourcePage) {
          await waitFor(() => backupListsSent >= hold.backupPages, { describe: hold.describe, timeoutMs: 10_000, intervalMs: 10 });
        }
        return response;
      },
    });
    return () => backupListsSent;
  }

  it("lists the backup while the source pages are still being listed, and reads no backup page more than a join after them", async () => {
    const backupListsSent = await inSyncLakeHolding("lake-ahead", { sourcePage: 0, backupPages: 1, describe: "a backup page asked for while the source's first page is held" });
    const result = await reconcile(activityFor("off"), "lake-ahead", { snapshots: "off", pageSize: 4, sourcePages: 3 });
    assert.deepEqual([result.counts.inSync, result.windows], [12, 1]);
    assert.equal(result.counts.sourceListRequests, 3);
    assert.equal(result.counts.backupListRequests, 3, "the backup's three pages, none read ahead for nothing");
    assert.equal(backupListsSent(), 3);
  });

  it("in sync, asks for the next backup page while the window's next source page is being listed", async () => {
    // The backup's second page ends where the source's second does: asked for only after it, it would never come.
    const backupListsSent = await inSyncLakeHolding("lake-overlap", { sourcePage: 1, backupPages: 2, describe: "the backup's second page asked for while the source's second page is held" });
    const result = await reconcile(activityFor("off"), "lake-overlap", { snapshots: "off", pageSize: 4, sourcePages: 3 });
    assert.deepEqual([result.counts.inSync, result.windows], [12, 1]);
    assert.equal(result.counts.backupListRequests, 3, "the backup's three pages, none read for nothing");
    assert.equal(backupListsSent(), 3);
  });

  it("asks for the next window's first pages before it returns: the next window lists neither again", async () => {
    const container = "lake-prefetch";
    await seedInSync(container, Array.from({ length: 12 }, (_, i) => `p/${String(i).padStart(2, "0")}`));
    // The markers each side's listing requests were sent with ("" for a first page).
    const sent = { source: [] as string[], backup: [] as string[] };
    for (const side of ["source", "backup"] as const) {
      addPipelinePolicy(clients[side].service, {
        name: `markers-${side}-${container}`,
        sendRequest: (request, next) => {
          const url = new URL(request.url);
          if (url.pathname.endsWith(`/${container}`) && url.searchParams.get("comp") === "list") sent[side].push(url.searchParams.get("marker") ?? "");
          return next(request);
        },
      });
    }
    const options = { dryRun: false, snapshots: "off", sourcePages: 1, pageSize: 4 } as const;
    const first = windowResultSchema.parse(await activityFor("off")({ container, backupContainer: container, options, cursor: { backup: {} }, snapshotsRefused: false }));
    assert.ok(first.kind === "window" && !first.done);
    const { source: next, backup: nextBackup } = first.cursor;
    assert.ok(next?.continuationToken !== undefined && nextBackup.token !== undefined, `cursors: ${JSON.stringify(first.cursor)}`);
    await waitFor(() => sent.source.includes(next.continuationToken ?? "") && sent.backup.includes(nextBackup.token ?? ""), {
      describe: "the second window's first source and backup pages asked for by the first",
      timeoutMs: 10_000,
      intervalMs: 10,
    });
    const rest = await reconcile(activityFor("off"), container, options, first.cursor);
    assert.equal(first.counts.inSync + rest.counts.inSync, 12);
    assert.equal(sent.source.length, 3, `each source page listed once: ${JSON.stringify(sent.source)}`);
    assert.equal(sent.backup.length, 3, `each backup page listed once: ${JSON.stringify(sent.backup)}`);
    assert.equal(new Set(sent.source).size, 3);
    assert.deepEqual([first.counts.sourceListRequests + rest.counts.sourceListRequests, first.counts.backupListRequests + rest.counts.backupListRequests], [3, 3], "each request counted once, by the window that sent it");
  });

  it("does not ask ahead for the backup's first page, which a window that ended inside it leaves for the next to read", async () => {
    const container = "lake-prefetch-first";
    // q/1 has no backup: the backup's first page (q/0, q/2, q/3, q/4) reaches past the first window's end (q/3).
    await seedInSync(container, Array.from({ length: 8 }, (_, i) => `q/${i}`), ["q/1"]);
    const options = { dryRun: true, snapshots: "off", sourcePages: 1, pageSize: 4 } as const;
    const first = windowResultSchema.parse(await activityFor("off")({ container, backupContainer: container, options, cursor: { backup: {} }, snapshotsRefused: false }));
    assert.ok(first.kind === "window" && !first.done);
    assert.equal(first.cursor.backup.token, undefined, "the next window reads the backup's first page again");
    assert.deepEqual([first.counts.sourceListRequests, first.counts.backupListRequests], [3, 1], "its first source page, q/1 read whole and the next page asked ahead; the backup's first page only");
    const rest = await reconcile(activityFor("off"), container, options, first.cursor);
    assert.deepEqual([first.counts.inSync + rest.counts.inSync, first.counts.missing + rest.counts.missing], [7, 1]);
  });

  it("joins a window whose last source page Azure answers empty (with a continuation): its earlier names stay in sync", async () => {
    const container = "lake-empty-page";
    await seedInSync(container, Array.from({ length: 6 }, (_, i) => `e/${i}`));
    // Azure may answer a page with no entries and a NextMarker (Azure/azure-storage-net#612: "expected behavior",
    // follow the marker); Azurite never does. Each source page that continues a listing is answered so once, pointing
    // back at itself, and the next request with the same marker is answered by Azurite.
    const answeredEmpty = new Set<string>();
    addPipelinePolicy(clients.source.service, {
      name: "empty-continued-pages",
      sendRequest: async (request, next) => {
        const url = new URL(request.url);
        const marker = url.searchParams.get("marker");
        if (!url.pathname.endsWith(`/${container}`) || url.searchParams.get("comp") !== "list" || marker === null || answeredEmpty.has(marker)) return next(request);
        answeredEmpty.add(marker);
        const body = `<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="${url.origin}/" ContainerName="${container}"><Marker>${marker}</Marker><MaxResults>2</MaxResults><Blobs /><NextMarker>${marker}</NextMarker></EnumerationResults>`;
        return { request, status: 200, headers: createHttpHeaders({ "content-type": "application/xml" }), bodyAsText: body };
      },
    });
    // Windows of two pages: each window's second page is the empty one.
    const result = await reconcile(activityFor("off"), container, { snapshots: "off", dryRun: true, pageSize: 2, sourcePages: 2 });
    assert.equal(result.counts.inSync, 6, `in sync: ${JSON.stringify(result.counts)}`);
    assert.deepEqual([result.counts.missing, result.counts.outdated, result.counts.orphans], [0, 0, 0]);
    assert.ok(answeredEmpty.size >= 2, "the listing met empty pages");
  });

  it("compares containers of more than 5,000 blobs on both sides completely, with listing requests only", async () => {
    const lake = clients.source.service.getContainerClient("lake-big");
    const backup = clients.backup.service.getContainerClient("lake-big");
    await lake.create();
    await backup.create();
    const names = Array.from({ length: 5_600 }, (_, i) => `d${i % 7}/file-${String(i).padStart(5, "0")}.csv`);
    await seedBlobs(lake, names, { concurrency: 48 });
    // Backups: every blob but the last 100 (11 of them outdated), plus 50 orphans among and after the source names.
    const etags = new Map<string, string>();
    for await (const item of lake.listBlobsFlat()) etags.set(item.name, item.properties.etag ?? "");
    const backedUp = names.slice(0, 5_500);
    await mapBounded(backedUp, 48, (n, i) => backUp(backup, n, i % 500 === 0 ? '"0xOLD"' : (etags.get(n) ?? "")));
    await seedBlobs(backup, Array.from({ length: 50 }, (_, i) => `d${i % 9}/orphan-${i}`), { concurrency: 16 });

    const result = await reconcile(activityFor("off"), "lake-big", { snapshots: "off" });
    const c = result.counts;
    assert.equal(c.blobs, 5_600);
    assert.equal(c.inSync + c.missing + c.outdated, 5_600);
    assert.equal(c.missing, 100);
    assert.equal(c.outdated, 11);
    assert.equal(c.inSync, 5_489);
    assert.equal(c.orphans, 50);
    assert.equal(c.snapshotRequests, 0);
    assert.ok(result.windows >= 2, "several windows");
    assert.ok(c.backupListRequests <= Math.ceil(5_550 / 5000) + result.windows, `backup listed ${c.backupListRequests} times`);
    assert.equal((await drainRequests(clients.backupQueue)).length, 111);
  });
});
