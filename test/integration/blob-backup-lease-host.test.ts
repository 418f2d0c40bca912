/**
 * Lease mode (BLOB_LEASE=true) with the `server` engine through the local host: the orchestration takes a finite lease
 * and releases it; a lease held by someone else is retried with back-off and then gives a clear outcome, without
 * breaking the other holder's lease.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";

import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { QueueClient } from "@azure/storage-queue";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { type LocalHost, startLocalHost } from "../../local-host";
import { encodeBackupRequest } from "../../src/domain/backup-request";
import { blobBackupInstanceId, type BlobBackupOutput } from "../../src/domain/blob-backup";
import { Activities } from "../../src/function-names";
import { LEASE_ATTEMPTS } from "../../src/orchestrators/blob-backup";
import { requestFor, writeAndSnapshot } from "../support/blob-backup-fixtures";

const QUEUE = "backup-requests";

describe("blob backup in lease mode through the local host (server engine)", () => {
  let azurite: AzuriteInstance;
  let host: LocalHost;
  let queue: QueueClient;
  let lake: ContainerClient;
  const container = "lake-lease";

  before(async () => {
    azurite = await startAzurite();
    host = await startLocalHost({
      settings: { ...azurite.settings, BACKUP_QUEUE: QUEUE, RECONCILE_SCHEDULE: "0 0 2 * * *", BLOB_LEASE: "true", LEASE_SECONDS: "15" },
      queuePollMs: 50,
      timerSchedules: false,
    });
    queue = new QueueClient(azurite.settings.AzureWebJobsStorage, QUEUE);
    await queue.createIfNotExists();
    lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage).getContainerClient(container);
    await lake.create();
  });
  after(async () => {
    await host.stop();
    await azurite.stop();
  });

  async function enqueue(name: string) {
    const v = await writeAndSnapshot(lake, name, `content of ${name}`);
    const request = requestFor(azurite.accounts.lake.name, container, name, v);
    await queue.sendMessage(encodeBackupRequest(request));
    const id = blobBackupInstanceId(request);
    for (const deadline = Date.now() + 30_000; (await host.client.getStatus(id)) === undefined; await new Promise((r) => setTimeout(r, 50))) {
      if (Date.now() > deadline) throw new Error("the instance never started");
    }
    return id;
  }
  const scheduled = async (id: string, name: string) =>
    ((await host.client.getStatus(id, { showHistory: true }))?.historyEvents ?? []).filter((e) => e.EventType === "TaskScheduled" && e.Name === name).length;
  /** Attempts of activity `name` that have come back (completed or failed), not merely been scheduled. */
  const answered = async (id: string, name: string) => {
    const events = (await host.client.getStatus(id, { showHistory: true }))?.historyEvents ?? [];
    const ids = new Set(events.filter((e) => e.EventType === "TaskScheduled" && e.Name === name).map((e) => e.EventId));
    return events.filter((e) => (e.EventType === "TaskCompleted" || e.EventType === "TaskFailed") && ids.has(e.TaskScheduledId as number)).length;
  };

  it("takes a lease for the copy and leaves none behind", async () => {
    const id = await enqueue("leased.txt");
    const status = await host.client.waitForCompletion(id, { timeoutMs: 30_000, showHistory: true });
    const out = status.output as BlobBackupOutput;
    assert.equal(out.status, "Copied", out.reason);
    assert.equal(await scheduled(id, Activities.acquireBlobLease), 1);
    assert.equal(await scheduled(id, Activities.releaseBlobLease), 1);
    assert.equal((await lake.getBlobClient("leased.txt").getProperties()).leaseState, "available");
  });

  it("retries while someone else holds the lease, and copies once it is released", { timeout: 60_000 }, async () => {
    const v = await writeAndSnapshot(lake, "busy-then-free.txt", "x");
    const other = lake.getBlobClient("busy-then-free.txt").getBlobLeaseClient(randomUUID());
    await other.acquireLease(15);
    const request = requestFor(azurite.accounts.lake.name, container, "busy-then-free.txt", v);
    await queue.sendMessage(encodeBackupRequest(request));
    const id = blobBackupInstanceId(request);
    // Release only once the first attempt has been refused: merely scheduled, it could still find the lease free.
    for (const deadline = Date.now() + 20_000; (await answered(id, Activities.acquireBlobLease)) < 1; await new Promise((r) => setTimeout(r, 50))) {
      if (Date.now() > deadline) throw new Error("no acquire attempt");
    }
    await other.releaseLease();
    const out = (await host.client.waitForCompletion(id, { timeoutMs: 40_000 })).output as BlobBackupOutput;
    assert.equal(out.status, "Copied", out.reason);
    assert.ok((await scheduled(id, Activities.acquireBlobLease)) >= 2, "retried after the first refusal");
    assert.equal((await lake.getBlobClient("busy-then-free.txt").getProperties()).leaseState, "available");
  });

  it("gives up with a clear Failed outcome when the lease stays taken, and leaves the other holder's lease alone", { timeout: 150_000 }, async () => {
    const id0 = "held.txt";
    const v = await writeAndSnapshot(lake, id0, "held");
    const other = lake.getBlobClient(id0).getBlobLeaseClient(randomUUID());
    await other.acquireLease(-1);
    const request = requestFor(azurite.accounts.lake.name, container, id0, v);
    await queue.sendMessage(encodeBackupRequest(request));
    const id = blobBackupInstanceId(request);
    const status = await host.client.waitForCompletion(id, { timeoutMs: 120_000 });
    const out = status.output as BlobBackupOutput;
    assert.equal(out.status, "Failed");
    assert.match(out.reason, new RegExp(`leased by someone else \\(${LEASE_ATTEMPTS} attempts\\)`));
    assert.equal(await scheduled(id, Activities.acquireBlobLease), LEASE_ATTEMPTS);
    assert.equal(await scheduled(id, Activities.copyBlobServerSide), 0);
    const p = await lake.getBlobClient(id0).getProperties();
    assert.equal(p.leaseState, "leased");
    assert.equal(p.leaseDuration, "infinite");
    await other.releaseLease();
  });
});
