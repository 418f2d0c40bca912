/**
 * The container scan over more than 5,000 blobs (more than one listing page at the service's maximum page size),
 * through the HTTP starter and the local host, against Azurite. In a file of its own: the 10,000 blobs and snapshots
 * it leaves would slow every later test sharing the same Azurite.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import { BlobServiceClient } from "@azure/storage-blob";
import { QueueClient } from "@azure/storage-queue";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { type LocalHost, startLocalHost } from "../../local-host";
import { MAX_BATCH_VERSIONS } from "../../src/domain/backup-request";
import type { ContainerScanOutput } from "../../src/domain/container-scan";
import { followStatus, postJson } from "../support/durable-http";
import { seedBlobs } from "../support/scan-fixtures";

const QUEUE = "scan-large-requests";
const SCAN_FILES = [
  "src/triggers/http-start-container-scan.js",
  "src/triggers/http-get-status.js",
  "src/orchestrators/container-scan.js",
  "src/activities/scan-source-page.js",
  "src/activities/plan-listing-ranges.js",
];

describe("container scan of more than 5,000 blobs through the local host", { timeout: 600_000 }, () => {
  let azurite: AzuriteInstance;
  let host: LocalHost;
  let lake: BlobServiceClient;
  let queue: QueueClient;

  before(async () => {
    azurite = await startAzurite();
    host = await startLocalHost({
      settings: { ...azurite.settings, BACKUP_QUEUE: QUEUE, SNAPSHOTS: "auto" },
      functions: SCAN_FILES.map((f) => path.resolve(__dirname, "../..", f)),
    });
    lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage);
    queue = new QueueClient(azurite.settings.AzureWebJobsStorage, QUEUE);
  });
  after(async () => {
    await host?.stop();
    await azurite?.stop();
  });

  /** POST the producer's start, then follow Location to the end, as ADF's Web activity does. */
  async function scan(container: string): Promise<ContainerScanOutput> {
    const started = await postJson(`${host.baseUrl}/api/containers/${container}/backup`);
    assert.equal(started.status, 202, await started.clone().text());
    const status = await followStatus(started.headers.get("location") ?? "", 480_000);
    assert.equal(status.runtimeStatus, "Completed", JSON.stringify(status.output));
    return status.output as ContainerScanOutput;
  }

  it("covers a container of more than 5,000 blobs (several pages) completely, and a second scan finds them unchanged", async () => {
    const container = lake.getContainerClient("large");
    await container.create();
    const dirs = ["d0", "d1", "d2", "d3"];
    const names = dirs.flatMap((d) => Array.from({ length: 1300 }, (_, i) => `${d}/part-${String(i).padStart(5, "0")}.parquet`));
    await seedBlobs(container, names, { concurrency: 32 });
    const first = await scan("large");
    assert.deepEqual([first.blobsSeen, first.snapshots, first.requests], [5200, 5200, 5200]);
    assert.ok(first.pages >= 2, `${first.pages} pages`);
    // Counted, not read: this test's scan is the only one that enqueues here. Small versions travel in batches.
    const messages = (await queue.getProperties()).approximateMessagesCount ?? 0;
    assert.ok(messages >= Math.ceil(5200 / MAX_BATCH_VERSIONS) && messages <= 60, `${messages} messages for 5,200 requests`);
    // Per-directory listings stay below one page, so Azurite's page-boundary quirk cannot hide a snapshot here.
    let snapshots = 0;
    for (const d of dirs) {
      for await (const item of container.listBlobsFlat({ prefix: `${d}/`, includeSnapshots: true })) if (item.snapshot) snapshots += 1;
    }
    assert.equal(snapshots, 5200);
    const second = await scan("large");
    assert.deepEqual([second.blobsSeen, second.unchanged, second.snapshots, second.requests], [5200, 5200, 0, 0]);
  });
});
