/**
 * The container scan listing a container in name ranges, in parallel, through the local host: a lake with several
 * directories, names at the root and the names that sit at range edges (`a`, `a/`, `a/b`, `a0`, spaces, `%`, `#`, `?`,
 * characters beyond the BMP next to U+E000) is scanned with tiny pages and few ranges at a time, and the scan finds
 * and requests exactly the versions a flat listing of the lake holds — with snapshots, and ETag-pinned (SNAPSHOTS=auto
 * meeting an account that refuses snapshots), where each range joins its own part of the backup listing.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import { createHttpHeaders, type PipelinePolicy } from "@azure/core-rest-pipeline";
import type { ContainerClient } from "@azure/storage-blob";
import { QueueClient } from "@azure/storage-queue";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { type LocalHost, startLocalHost } from "../../local-host";
import { createPlanListingRangesActivity } from "../../src/activities/plan-listing-ranges";
import type { BackupRequest } from "../../src/domain/backup-request";
import { BackupMetadata } from "../../src/domain/blob-backup";
import type { ContainerScanInput, ContainerScanOutput } from "../../src/domain/container-scan";
import { canonicalEtag } from "../../src/domain/etag";
import { MAX_LEVEL_NAMES } from "../../src/domain/listing-ranges";
import { isValidBlobName } from "../../src/domain/names";
import { Orchestrators } from "../../src/function-names";
import { runtime } from "../../src/runtime";
import { followStatus, postJson } from "../support/durable-http";
import { addPipelinePolicy, drainRequests, listSnapshots, RANGE_EDGE_NAMES, seedBlobs } from "../support/scan-fixtures";
import { answerWith, isHierarchicalListingWithSnapshots } from "../support/storage-faults";

const QUEUE = "scan-ranges-requests";
const FILES = [
  "src/triggers/http-start-container-scan.js",
  "src/triggers/http-get-status.js",
  "src/orchestrators/container-scan.js",
  "src/activities/scan-source-page.js",
  "src/activities/plan-listing-ranges.js",
];
const NAMES = [...RANGE_EDGE_NAMES, ...Array.from({ length: 7 }, (_, i) => `p/part-${i}`)];
/** The root's own names, plus one range per directory. */
const RANGES = 1 + new Set(NAMES.filter((n) => n.includes("/")).map((n) => n.slice(0, n.indexOf("/") + 1))).size;

let azurite: AzuriteInstance;
let host: LocalHost;
let queue: QueueClient;
/** The container whose snapshots the account refuses (as a hierarchical-namespace account does). */
let refuseSnapshotsIn: string | undefined;
/** Called before each snapshot the app takes in the lake (the container's name). */
let beforeSnapshot: ((container: string) => Promise<void>) | undefined;

async function flatVersions(container: ContainerClient): Promise<Map<string, string>> {
  const versions = new Map<string, string>();
  for await (const item of container.listBlobsFlat()) versions.set(item.name, canonicalEtag(item.properties.etag ?? ""));
  return versions;
}

async function scan(container: string): Promise<ContainerScanOutput> {
  const input: ContainerScanInput = { container, snapshots: "auto", pageSize: 2, pagesPerExecution: 2, backupPages: 1 };
  const id = await host.client.startNew(Orchestrators.containerScan, { input, instanceId: `scan-${container}` });
  const status = await host.client.waitForCompletion(id, { timeoutMs: 240_000 });
  assert.equal(status.runtimeStatus, "Completed", JSON.stringify(status.output));
  return status.output as ContainerScanOutput;
}

const requestsFor = async (container: string): Promise<BackupRequest[]> => (await drainRequests(queue)).filter((r) => r.container === container);

describe("container scan in name ranges through the local host", { timeout: 600_000 }, () => {
  before(async () => {
    azurite = await startAzurite();
    host = await startLocalHost({
      settings: { ...azurite.settings, BACKUP_QUEUE: QUEUE, SNAPSHOTS: "auto", LIST_PARALLELISM: "3" },
      functions: FILES.map((f) => path.resolve(__dirname, "../..", f)),
    });
    queue = new QueueClient(azurite.settings.AzureWebJobsStorage, QUEUE);
    const refusal: PipelinePolicy = {
      name: "scan-ranges-refusal",
      async sendRequest(request, next) {
        const url = new URL(request.url);
        const container = decodeURIComponent(url.pathname.split("/")[2] ?? "");
        const snapshot = request.method === "PUT" && url.searchParams.get("comp") === "snapshot";
        if (snapshot) await beforeSnapshot?.(container);
        if (snapshot && container === refuseSnapshotsIn) {
          return {
            request,
            status: 409,
            headers: createHttpHeaders({ "x-ms-error-code": "FeatureNotYetSupportedForHierarchicalNamespaceAccounts", "content-type": "application/xml" }),
            bodyAsText:
              '<?xml version="1.0" encoding="utf-8"?><Error><Code>FeatureNotYetSupportedForHierarchicalNamespaceAccounts</Code>' +
              "<Message>This feature is not yet supported for accounts with hierarchical namespace.</Message></Error>",
          };
        }
        return next(request);
      },
    };
    // The app runs in this process: these are the very clients its activities use. As strict as Azure: no snapshots in
    // a hierarchical listing (the root's own names).
    const asAzure = answerWith(isHierarchicalListingWithSnapshots, 400, "InvalidQueryParameterValue");
    for (const client of [runtime().clients.source.service, runtime().clients.backup.service]) addPipelinePolicy(client, asAzure);
    addPipelinePolicy(runtime().clients.source.service, refusal);
    addPipelinePolicy(runtime().clients.source.singleAttempt, refusal);
  });
  after(async () => {
    await host?.stop();
    await azurite?.stop();
  });

  it("a lake with more names at its root than MAX_LEVEL_NAMES is not split (each root name costs a request of its own)", async () => {
    const lake = runtime().clients.source.service.getContainerClient("ranges-wide-root");
    await lake.create();
    await seedBlobs(lake, ["d1/x", "d2/y", ...Array.from({ length: MAX_LEVEL_NAMES }, (_, i) => `root-${i}`)], { concurrency: 32 });
    const { clients, settings } = runtime();
    const plan = createPlanListingRangesActivity({ source: clients.source.service, backup: clients.backup.service, policy: settings, listParallelism: 8 });
    const atLimit = await plan({ container: "ranges-wide-root" });
    assert.deepEqual(atLimit.kind === "ranges" ? atLimit.ranges?.map((r) => r.prefix) : atLimit, ["", "d1/", "d2/"]);
    await seedBlobs(lake, ["root-one-more"]);
    assert.deepEqual(await plan({ container: "ranges-wide-root" }), { kind: "ranges", parallelism: 8 });
  });

  it("with snapshots: one snapshot and one request for exactly each version of a flat listing", async () => {
    const lake = runtime().clients.source.service.getContainerClient("ranges-snapshots");
    await lake.create();
    await seedBlobs(lake, NAMES, { concurrency: 8 });
    const flat = await flatVersions(lake);
    const safe = [...flat.keys()].filter(isValidBlobName);
    assert.ok(safe.length >= NAMES.length - 2, "the test's names are backed up, not skipped");

    const out = await scan("ranges-snapshots");
    // The first 4 pages of 2 names list the whole container up to a name; the ranges wholly before it are left out.
    assert.ok(out.ranges !== undefined && out.ranges >= 2 && out.ranges < RANGES, `listed in ranges after the first pages (${String(out.ranges)} of ${RANGES})`);
    assert.equal(out.blobsSeen, flat.size);
    assert.deepEqual([out.snapshotMode, out.new, out.snapshots, out.requests, out.skipped.unsafeName], ["snapshots", safe.length, safe.length, safe.length, flat.size - safe.length]);
    const snapshots = await listSnapshots(lake);
    const requests = await requestsFor("ranges-snapshots");
    const key = (name: string, etag: string, snapshot?: string) => JSON.stringify([name, etag, snapshot ?? null]);
    assert.deepEqual(requests.map((r) => key(r.blob, r.etag, r.snapshot)).sort(), snapshots.map((s) => key(s.name, s.etag, s.snapshot)).sort());
    assert.deepEqual(requests.map((r) => key(r.blob, r.etag)).sort(), safe.map((n) => key(n, flat.get(n) ?? "")).sort(), "each version of the flat listing, once");
  });

  it("ETag-pinned (snapshots refused): each range joins its own part of the backup; requested exactly what the backup lacks", async () => {
    const name = "ranges-pinned";
    const lake = runtime().clients.source.service.getContainerClient(name);
    const backup = runtime().clients.backup.service.getContainerClient(name);
    await lake.create();
    await backup.create();
    await seedBlobs(lake, NAMES, { concurrency: 8 });
    const flat = await flatVersions(lake);
    const safe = [...flat.keys()].filter(isValidBlobName);
    // Every third name is backed up at its live version; a directory only the backup holds is orphans only.
    const backedUp = safe.filter((_, i) => i % 3 === 0);
    await seedBlobs(backup, [...backedUp, "gone/1", "gone/2"], { concurrency: 8 });
    for (const n of backedUp) await backup.getBlobClient(n).setMetadata({ [BackupMetadata.etag]: flat.get(n) ?? "" });

    refuseSnapshotsIn = name;
    let out: ContainerScanOutput;
    try {
      out = await scan(name);
    } finally {
      refuseSnapshotsIn = undefined;
    }
    assert.ok(out.ranges !== undefined && out.ranges >= 2 && out.ranges < RANGES, `listed in ranges after the first pages (${String(out.ranges)} of ${RANGES})`);
    assert.deepEqual([out.snapshotMode, out.snapshots, out.blobsSeen], ["etagPinned", 0, flat.size]);
    assert.deepEqual([out.alreadyBackedUp, out.requests], [backedUp.length, safe.length - backedUp.length]);
    assert.ok(out.storageRequests.backupList > 0, "joined with the backup listing");
    // Refused on the first pages (over the whole container), so every range was told before it started.
    assert.ok(out.notes.some((n) => /refused snapshots \(.*FeatureNotYetSupportedForHierarchicalNamespaceAccounts.*ETag-pinned/.test(n)), out.notes.join("\n"));
    const requests = await requestsFor(name);
    const expected = safe.filter((n) => !backedUp.includes(n));
    assert.ok(requests.every((r) => r.snapshot === undefined), "ETag-pinned requests");
    assert.deepEqual(requests.map((r) => JSON.stringify([r.blob, r.etag])).sort(), expected.map((n) => JSON.stringify([n, flat.get(n)])).sort());
    assert.equal((await listSnapshots(lake)).length, 0);
  });

  it("a start joining a scan gets one more pass: a blob written meanwhile into a new directory is listed too", async () => {
    const name = "ranges-joined";
    const lake = runtime().clients.source.service.getContainerClient(name);
    await lake.create();
    await seedBlobs(lake, ["top", "d1/a", "d2/b"]);
    let joined: Promise<Response> | undefined;
    beforeSnapshot = async (container) => {
      // The first snapshot means a range was listed: a producer writes into a new directory and starts the scan again.
      if (container !== name || joined !== undefined) return;
      joined = lake
        .getBlockBlobClient("d3/late")
        .upload("late", 4)
        .then(() => postJson(`${host.baseUrl}/api/containers/${name}/backup`));
      await joined;
    };
    let out: ContainerScanOutput;
    try {
      const started = await postJson(`${host.baseUrl}/api/containers/${name}/backup`);
      assert.equal(started.status, 202);
      const status = await followStatus(started.headers.get("location") ?? "", 240_000);
      assert.equal(status.runtimeStatus, "Completed", JSON.stringify(status.output));
      out = status.output as ContainerScanOutput;
    } finally {
      beforeSnapshot = undefined;
    }
    assert.ok(joined, "a start joined during the scan");
    const answer = await joined;
    assert.equal(answer.status, 202);
    assert.equal(((await answer.json()) as { coveredByPass?: number }).coveredByPass, 2);
    // The joined caller's Location (`?pass=2`) answers done: the scan's passesDone counts the split pass once all its ranges are.
    const covered = await fetch(answer.headers.get("location") ?? "");
    assert.equal(covered.status, 200);
    assert.ok(((await covered.json()) as { passesDone: number }).passesDone >= 2);
    // Three blobs fit the first pages: neither pass is split (a rescan that plans again is driven in
    // test/unit/container-scan-ranges-orchestrator.test.ts).
    assert.deepEqual([out.passes, out.ranges, out.snapshots, out.requests], [2, undefined, 4, 4], "the second pass listed d3/late too");
    assert.deepEqual((await requestsFor(name)).map((r) => r.blob).sort(), ["d1/a", "d2/b", "d3/late", "top"]);
  });
});
