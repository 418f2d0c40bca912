/**
 * The whole product in the local host with the server engine: a producer's scan and a reconciliation each turn into
 * verified backups through the queue-triggered backup orchestration, and a second reconciliation finds everything in
 * sync — the loop the product exists for.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { BlobServiceClient } from "@azure/storage-blob";
import { QueueClient } from "@azure/storage-queue";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { type LocalHost, startLocalHost } from "../../local-host";
import { BackupMetadata } from "../../src/domain/blob-backup";
import { sameEtag } from "../../src/domain/etag";
import type { ReconciliationReport } from "../../src/domain/reconciliation";
import { followStatus, postJson } from "../support/durable-http";
import { seedBlobs } from "../support/scan-fixtures";
import { waitFor } from "../support/wait-for";

let azurite: AzuriteInstance;
let host: LocalHost;
let lake: BlobServiceClient;
let backup: BlobServiceClient;

async function run(url: string, body?: unknown): Promise<unknown> {
  const started = await postJson(url, body);
  assert.equal(started.status, 202, await started.clone().text());
  const status = await followStatus(started.headers.get("location") ?? "");
  assert.equal(status.runtimeStatus, "Completed", JSON.stringify(status.output));
  return status.output;
}

/** Waits until every queued request has been consumed and every backup orchestration has finished. */
async function settle(): Promise<void> {
  const queue = new QueueClient(azurite.settings.AzureWebJobsStorage, "backup-requests");
  // The count includes messages being processed; a message leaves the queue once its function succeeded.
  await waitFor(async () => (await queue.getProperties()).approximateMessagesCount, { until: (n) => n === 0, describe: "every request to be consumed", timeoutMs: 120_000, intervalMs: 100 });
  await host.waitForIdle({ timeoutMs: 120_000 });
  const failed = await host.client.listInstances({ runtimeStatus: ["Failed"] });
  assert.deepEqual(failed.map((f) => `${f.name} ${f.instanceId}: ${JSON.stringify(f.output)}`), []);
}

/** Every live blob of the container has a backup that records its current ETag. */
async function assertBackedUp(container: string): Promise<void> {
  const source = lake.getContainerClient(container);
  const target = backup.getContainerClient(container);
  for await (const blob of source.listBlobsFlat()) {
    const props = await target.getBlobClient(blob.name).getProperties();
    assert.ok(sameEtag(props.metadata?.[BackupMetadata.etag], blob.properties.etag), `${container}/${blob.name} is backed up at its current version`);
    assert.equal(props.contentLength, blob.properties.contentLength);
  }
}

describe("end to end: scan and reconciliation feed verified backups", { timeout: 600_000 }, () => {
  before(async () => {
    azurite = await startAzurite();
    host = await startLocalHost({ settings: { ...azurite.settings, BACKUP_QUEUE: "backup-requests" }, queuePollMs: 50, timerSchedules: false });
    lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage);
    backup = BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage);
  });
  after(async () => {
    await host?.stop();
    await azurite?.stop();
  });

  it("a producer scan leads to verified backups of every blob", async () => {
    const raw = lake.getContainerClient("raw");
    await raw.create();
    await seedBlobs(raw, Array.from({ length: 40 }, (_, i) => `ingest/2026/11/26/part-${i}.csv`));
    const out = (await run(`${host.baseUrl}/api/containers/raw/backup`)) as { requests: number };
    assert.equal(out.requests, 40);
    await settle();
    await assertBackedUp("raw");
  });

  it("reconciliation repairs what the producers missed, and a second reconciliation finds everything in sync", async () => {
    // A container its producer scanned (backed up), then changed without a producer call; one never scanned at all.
    const landing = lake.getContainerClient("landing");
    await landing.create();
    await seedBlobs(landing, Array.from({ length: 10 }, (_, i) => `ingest/part-${i}.csv`));
    assert.equal(((await run(`${host.baseUrl}/api/containers/landing/backup`)) as { requests: number }).requests, 10);
    await settle();
    await landing.getBlockBlobClient("ingest/part-0.csv").upload("changed without a producer call", 31);
    const curated = lake.getContainerClient("curated");
    await curated.create();
    await seedBlobs(curated, ["dim/customer.parquet", "fact/sales.parquet"]);
    const containers = ["landing", "curated"];

    const first = (await run(`${host.baseUrl}/api/reconcile`, { containers })) as ReconciliationReport;
    assert.equal(first.totals.requests, 3, "one changed blob, two never backed up");
    await settle();
    await assertBackedUp("landing");
    await assertBackedUp("curated");

    const second = (await run(`${host.baseUrl}/api/reconcile`, { containers })) as ReconciliationReport;
    assert.equal(second.totals.blobs, 12);
    assert.equal(second.totals.inSync, 12);
    assert.equal(second.totals.requests, 0);
    assert.equal(second.totals.snapshots, 0);
    assert.equal(second.totals.orphans, 0);
  });
});
