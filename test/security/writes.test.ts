/**
 * Writes the app makes on its own account, against Azurite: the reconciliation report never overwrites an existing
 * blob, and one backup request that fails its schema does not keep the rest of a page from being enqueued.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { BlobServiceClient } from "@azure/storage-blob";
import { QueueClient } from "@azure/storage-queue";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { createStageReconciliationReportPartActivity } from "../../src/activities/stage-reconciliation-report-part";
import { createWriteReconciliationReportActivity, reportBlobName } from "../../src/activities/write-reconciliation-report";
import type { BackupRequest } from "../../src/domain/backup-request";
import { type ContainerReport, type ReconciliationReport, zeroReconcileCounts } from "../../src/domain/reconciliation";
import { createBackupQueueSender } from "../../src/storage/backup-queue";
import { drainRequests } from "../support/scan-fixtures";

let azurite: AzuriteInstance;
let backup: BlobServiceClient;

before(async () => {
  azurite = await startAzurite();
  backup = BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage);
});
after(async () => {
  await azurite?.stop();
});

const report: ReconciliationReport = {
  instanceId: "reconciliation",
  account: "datalake1",
  backupAccount: "backup1",
  dryRun: false,
  startedAt: "2026-11-30T02:00:00.123Z",
  completedAt: "2026-11-30T02:05:00.000Z",
  containers: [],
  excluded: [],
  notFound: [],
  totals: zeroReconcileCounts(),
};

describe("the reconciliation report", () => {
  it("never overwrites a blob already at its name; a retry that finds its own report there is done", async () => {
    const write = createWriteReconciliationReportActivity(backup, "backup-reports");
    const reports = backup.getContainerClient("backup-reports");
    await reports.createIfNotExists();
    const name = reportBlobName(report.instanceId, report.startedAt);
    await reports.getBlockBlobClient(name).upload("someone else's blob", 19);

    const first = await write({ report });
    assert.notEqual(first.reportBlob, `backup-reports/${name}`, "written beside it, under a name of its own");
    assert.equal((await reports.getBlobClient(name).downloadToBuffer()).toString(), "someone else's blob", "the existing blob is unchanged");
    const written = first.reportBlob.slice("backup-reports/".length);
    assert.equal((JSON.parse((await reports.getBlobClient(written).downloadToBuffer()).toString()) as ReconciliationReport).reportBlob, first.reportBlob);

    // A retry of the same activity on a fresh run name: the first attempt's blob is found and kept.
    const fresh = { ...report, startedAt: "2026-11-30T03:00:00.000Z" };
    const once = await write({ report: fresh });
    const etag = (await reports.getBlobClient(once.reportBlob.slice("backup-reports/".length)).getProperties()).etag;
    const again = await write({ report: fresh });
    assert.equal(again.reportBlob, once.reportBlob);
    assert.equal((await reports.getBlobClient(again.reportBlob.slice("backup-reports/".length)).getProperties()).etag, etag, "not rewritten");
  });

  it("assembles a report staged in parts beside a blob already at its name, and a retried commit is done", async () => {
    const stage = createStageReconciliationReportPartActivity(backup, "backup-reports");
    const write = createWriteReconciliationReportActivity(backup, "backup-reports");
    const reports = backup.getContainerClient("backup-reports");
    await reports.createIfNotExists();
    const run = { ...report, startedAt: "2026-11-30T04:00:00.000Z" };
    const usual = reportBlobName(run.instanceId, run.startedAt);
    await reports.getBlockBlobClient(usual).upload("someone else's blob", 19);
    const part = (container: string): ContainerReport => ({
      container,
      backupContainer: container,
      status: "completed",
      counts: zeroReconcileCounts(),
      orphanSamples: [],
      windows: 1,
      startedAt: run.startedAt,
      completedAt: run.startedAt,
    });
    const first = await stage({ instanceId: run.instanceId, startedAt: run.startedAt, part: 0, containers: [part("a"), part("b")] });
    assert.notEqual(first.reportName, usual, "a name of its own, beside the existing blob");
    await stage({ instanceId: run.instanceId, startedAt: run.startedAt, reportName: first.reportName, part: 1, containers: [part("c")] });
    const input = { report: { ...run, containers: [part("a")], containersReported: 3 }, parts: 2, reportName: first.reportName };
    const written = await write(input);
    assert.equal(written.reportBlob, `backup-reports/${first.reportName}`);
    const body = JSON.parse((await reports.getBlobClient(first.reportName).downloadToBuffer()).toString()) as ReconciliationReport;
    assert.deepEqual(body.containers.map((c) => c.container), ["a", "b", "c"], "every part, not the output's sample");
    assert.equal(body.reportBlob, written.reportBlob);
    assert.equal((await reports.getBlobClient(usual).downloadToBuffer()).toString(), "someone else's blob");
    assert.deepEqual(await write(input), written, "a retry finds its own commit");
  });
});

describe("enqueueing a page of backup requests", () => {
  it("counts and skips a request that fails its schema, and sends the others", async () => {
    const queue = new QueueClient(azurite.settings.AzureWebJobsStorage, "security-writes-requests");
    const request = (blob: string): BackupRequest => ({
      v: 1,
      account: "datalake1",
      container: "raw",
      blob,
      etag: '"0x1"',
      lastModified: "2026-11-30T00:00:00.000Z",
      contentLength: 1,
      reason: "producer",
      requestedAt: "2026-11-30T00:00:01.000Z",
    });
    const sent = await createBackupQueueSender(queue, { concurrency: 4, batchMaxBlobBytes: 1024 }).send([request("a"), { ...request("b"), etag: "" }, request("c")]);
    assert.deepEqual(sent, { sent: 2, invalid: 1, messages: 1 });
    assert.deepEqual((await drainRequests(queue)).map((r) => r.blob).sort(), ["a", "c"]);
  });
});
