/**
 * Listing in name ranges against Azurite: the ranges planned from the lake's and the backup's top level list exactly
 * the names one flat listing lists — names that are prefixes of each other (`a`, `a/`, `a/b`, `a0`), directories only
 * the backup has, and characters beyond the BMP next to U+E000–U+FFFF, where UTF-16 and UTF-8 order differ — and
 * reconciling range by range finds what reconciling the whole container finds.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { createPlanListingRangesActivity } from "../../src/activities/plan-listing-ranges";
import { createReconcileContainerWindowActivity } from "../../src/activities/reconcile-container-window";
import { type Clients, createClients } from "../../src/config/clients";
import { loadSettings, type Settings } from "../../src/config/settings";
import { compareBlobNames } from "../../src/domain/backup-join";
import { BackupMetadata } from "../../src/domain/blob-backup";
import { coveredBy, type ListingRange } from "../../src/domain/listing-ranges";
import { addReconcileCounts, type ReconcileCounts, type WindowInput, windowResultSchema, zeroReconcileCounts } from "../../src/domain/reconciliation";
import { listSourcePage } from "../../src/storage/list-source-page";
import { addPipelinePolicy, ASTRAL, drainRequests, PRIVATE, RANGE_EDGE_NAMES, seedBlobs } from "../support/scan-fixtures";
import { answerWith, isHierarchicalListingWithSnapshots } from "../support/storage-faults";

const NAMES = RANGE_EDGE_NAMES;

async function flatNames(container: ContainerClient): Promise<string[]> {
  const names: string[] = [];
  for await (const item of container.listBlobsFlat()) names.push(item.name);
  return names;
}

/** Every name of `range`, page by page with a tiny page size, as the windows list them. */
async function rangeNames(container: ContainerClient, range: ListingRange): Promise<string[]> {
  const names: string[] = [];
  let cursor: { continuationToken?: string; skipName?: string } = {};
  for (;;) {
    const page = await listSourcePage(container, { prefix: range.prefix, ...(range.level === true && { level: true }), pageSize: 2, ...cursor });
    assert.equal(page.kind, "page");
    if (page.kind !== "page") throw new Error("unreachable");
    names.push(...new Set(page.entries.map((e) => e.name)));
    if (page.continuationToken === undefined) return names;
    cursor = { continuationToken: page.continuationToken, ...(page.skipName !== undefined && { skipName: page.skipName }) };
  }
}

describe("listing in name ranges", { timeout: 300_000 }, () => {
  let azurite: AzuriteInstance;
  let settings: Settings;
  let clients: Clients;
  let lake: ContainerClient;
  let backup: ContainerClient;
  let ranges: ListingRange[];

  before(async () => {
    azurite = await startAzurite();
    settings = loadSettings({ ...azurite.settings, SNAPSHOTS: "off" });
    clients = createClients(settings);
    // As strict as Azure: no snapshots in a hierarchical listing (the root's own names).
    const asAzure = answerWith(isHierarchicalListingWithSnapshots, 400, "InvalidQueryParameterValue");
    for (const client of [clients.source.service, clients.backup.service]) addPipelinePolicy(client, asAzure);
    lake = clients.source.service.getContainerClient("ranges");
    backup = clients.backup.service.getContainerClient("ranges");
    await lake.create();
    await backup.create();
    await seedBlobs(lake, NAMES, { concurrency: 8 });
    // The backup: most names backed up, some missing, and a directory the lake deleted (orphans only).
    const etags = new Map<string, string>();
    for await (const item of lake.listBlobsFlat()) etags.set(item.name, `"${item.properties.etag ?? ""}"`);
    const backedUp = NAMES.filter((_, i) => i % 4 !== 1);
    await seedBlobs(backup, backedUp, { concurrency: 8 });
    for (const name of backedUp) await backup.getBlobClient(name).setMetadata({ [BackupMetadata.etag]: etags.get(name) ?? "" });
    await seedBlobs(backup, ["gone/1", "gone/2", "a/gone", `${ASTRAL}/gone`]);
    const plan = createPlanListingRangesActivity({ source: clients.source.service, backup: clients.backup.service, policy: settings, listParallelism: 8 });
    const planned = (await plan({ container: "ranges", backupContainer: "ranges" }));
    assert.equal(planned.kind, "ranges");
    ranges = planned.kind === "ranges" ? (planned.ranges ?? []) : [];
  });
  after(async () => {
    await azurite?.stop();
  });

  it("lists names in UTF-16 order, as Azure does: a character beyond the BMP before U+E000 (UTF-8 would put it after)", async () => {
    const names = await flatNames(lake);
    assert.deepEqual(names, [...NAMES].sort(compareBlobNames));
    assert.ok(names.indexOf(ASTRAL) < names.indexOf(PRIVATE));
    assert.ok(names.indexOf(`z${ASTRAL}`) < names.indexOf(`z${PRIVATE}`));
  });

  it("plans the root's own names plus one range per directory of either side, the backup-only one included", () => {
    assert.deepEqual(ranges.map((r) => [r.prefix, r.level === true]), [
      ["", true],
      ["50%/", false],
      ["a/", false],
      ["b c/", false],
      ["dir/", false],
      ["gone/", false],
      ["why?/", false],
      ["zz/", false],
      ["日本/", false],
      [`${ASTRAL}/`, false],
      [`${PRIVATE}/`, false],
    ]);
  });

  it("plans nothing, and lists nothing to plan it, at LIST_PARALLELISM=1 or after first pages that covered LIST_PARALLELISM - 1 directories", async () => {
    let listings = 0;
    const service = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage);
    addPipelinePolicy(service, {
      name: "count-plan-listings",
      sendRequest: (request, next) => {
        if (request.url.includes("comp=list")) listings += 1;
        return next(request);
      },
    });
    const sequential = createPlanListingRangesActivity({ source: service, backup: service, policy: settings, listParallelism: 1 });
    assert.deepEqual(await sequential({ container: "ranges", backupContainer: "ranges" }), { kind: "ranges", parallelism: 1 });
    assert.equal(listings, 0);
    const parallel = createPlanListingRangesActivity({ source: service, backup: service, policy: settings, listParallelism: 8 });
    // First pages that covered 7 whole directories: at LIST_PARALLELISM=8 no split can pay.
    assert.deepEqual(await parallel({ container: "ranges", backupContainer: "ranges", coveredDirectories: 7 }), { kind: "ranges", parallelism: 8 });
    assert.equal(listings, 0);
    const planned = await parallel({ container: "ranges", backupContainer: "ranges", coveredDirectories: 6 });
    assert.equal(listings, 2, "6 covered directories, or none said: the plan lists both top levels");
    assert.ok(planned.kind === "ranges" && (planned.ranges?.length ?? 0) > 1);
  });

  it("plans no range for the root's own names when neither side has any there, and still lists every name; a root-level orphan brings the range back", async () => {
    const nested = NAMES.filter((n) => n.includes("/"));
    const lakeNested = clients.source.service.getContainerClient("nested");
    const backupNested = clients.backup.service.getContainerClient("nested");
    await lakeNested.create();
    await backupNested.create();
    await seedBlobs(lakeNested, nested, { concurrency: 8 });
    await seedBlobs(backupNested, nested.slice(1), { concurrency: 8 });
    const plan = createPlanListingRangesActivity({ source: clients.source.service, backup: clients.backup.service, policy: settings, listParallelism: 8 });
    const planned = await plan({ container: "nested", backupContainer: "nested" });
    const nestedRanges = planned.kind === "ranges" ? (planned.ranges ?? []) : [];
    assert.ok(nestedRanges.length >= 2, JSON.stringify(planned));
    assert.ok(nestedRanges.every((r) => r.level !== true), "no level range");
    for (const container of [lakeNested, backupNested]) {
      const all = (await Promise.all(nestedRanges.map((r) => rangeNames(container, r)))).flat();
      assert.deepEqual([...all].sort(compareBlobNames), await flatNames(container));
    }
    await seedBlobs(backupNested, ["root-orphan"]);
    const again = await plan({ container: "nested", backupContainer: "nested" });
    assert.deepEqual(again.kind === "ranges" ? again.ranges?.[0] : undefined, { prefix: "", level: true });
  });

  it("finds exactly the names of one flat listing, each once, in both containers", async () => {
    for (const container of [lake, backup]) {
      const parts = await Promise.all(ranges.map((r) => rangeNames(container, r)));
      const all = parts.flat();
      assert.equal(new Set(all).size, all.length, "no name in two ranges");
      assert.deepEqual([...all].sort(compareBlobNames), await flatNames(container));
      for (const part of parts) assert.deepEqual(part, [...part].sort(compareBlobNames), "each range in listing order");
    }
  });

  it("reconciles range by range exactly as the whole container", async () => {
    const activity = createReconcileContainerWindowActivity({
      source: clients.source,
      backup: clients.backup,
      backupQueue: clients.backupQueue,
      snapshotConcurrency: 4,
      policy: settings,
      snapshots: "off",
    });
    const reconcile = async (range: ListingRange | undefined, start: WindowInput["cursor"] = { backup: {} }): Promise<ReconcileCounts> => {
      let cursor: WindowInput["cursor"] = start;
      let counts = zeroReconcileCounts();
      for (;;) {
        const result = windowResultSchema.parse(
          await activity({
            container: "ranges",
            backupContainer: "ranges",
            options: { dryRun: true, snapshots: "off", sourcePages: 1, pageSize: 2, ...(range !== undefined && { range }) },
            cursor,
            snapshotsRefused: false,
          }),
        );
        if (result.kind !== "window") throw new Error(result.kind);
        counts = addReconcileCounts(counts, result.counts);
        if (result.done) return counts;
        cursor = result.cursor;
      }
    };
    const whole = await reconcile(undefined);
    const byRange = (await Promise.all(ranges.map((r) => reconcile(r)))).reduce(addReconcileCounts, zeroReconcileCounts());
    // As the container orchestrator splits: one first window over the whole container (4 pages of 2 names), then
    // the ranges it did not cover, each starting after that window's last name on both sides.
    const first = windowResultSchema.parse(
      await activity({ container: "ranges", backupContainer: "ranges", options: { dryRun: true, snapshots: "off", sourcePages: 4, pageSize: 2 }, cursor: { backup: {} }, snapshotsRefused: false }),
    );
    if (first.kind !== "window" || first.done) throw new Error("the first window should not finish the container");
    const after = first.cursor.source?.skipName;
    assert.ok(after !== undefined && after.includes("/"), `the first window ends inside a directory (${String(after)})`);
    const rest = ranges.filter((r) => !coveredBy(r, after));
    assert.ok(rest.length < ranges.length, "some range is wholly covered by the first window");
    // The window's own count of the lake directories it covered: the plan's, less the backup-only ones before `after`.
    const backupOnlyCovered = ranges.filter((r) => coveredBy(r, after) && r.prefix === "gone/").length;
    assert.equal(first.directoriesCovered, ranges.length - rest.length - backupOnlyCovered);
    const afterFirst = (await Promise.all(rest.map((r) => reconcile(r, { source: { skipName: after }, backup: { after } })))).reduce(addReconcileCounts, first.counts);
    const pick = (c: ReconcileCounts) => [c.blobs, c.inSync, c.missing, c.outdated, c.orphans];
    const missing = NAMES.filter((_, i) => i % 4 === 1).length; // the names the backup was seeded without
    assert.deepEqual(pick(whole), [NAMES.length, NAMES.length - missing, missing, 0, 4]);
    assert.deepEqual(pick(byRange), pick(whole));
    assert.deepEqual(pick(afterFirst), pick(whole));
    assert.deepEqual(await drainRequests(clients.backupQueue), [], "a dry run");
  });
});
