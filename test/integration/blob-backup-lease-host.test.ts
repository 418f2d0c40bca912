/**
 * Lease mode (BLOB_LEASE=true) with the `server` engine through the local host: the orchestration takes a finite lease
 * on a live (ETag-pinned) source and releases it, and takes none for a snapshot; the copy activity keeps the lease
 * renewed however long the copy lasts; a lease held by someone else is retried with back-off and then fails the
 * backup with a clear reason, without breaking the other holder's lease.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";

import type { PipelineRequest } from "@azure/core-rest-pipeline";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { QueueClient } from "@azure/storage-queue";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { type LocalHost, startLocalHost } from "../../local-host";
import { encodeBackupRequest } from "../../src/domain/backup-request";
import { blobBackupInstanceId, type BlobBackupOutput, leaseRenewSeconds } from "../../src/domain/blob-backup";
import { Activities } from "../../src/function-names";
import { LEASE_ATTEMPTS } from "../../src/orchestrators/blob-backup";
import { runtime } from "../../src/runtime";
import { requestFor, writeAndSnapshot, writeLive } from "../support/blob-backup-fixtures";
import { addPipelinePolicy } from "../support/scan-fixtures";
import { isCopyWrite } from "../support/storage-faults";

const QUEUE = "backup-requests";
const LEASE_SECONDS = 15;

const blobOf = (request: PipelineRequest): string => decodeURIComponent(new URL(request.url).pathname.split("/").slice(3).join("/"));

describe("blob backup in lease mode through the local host (server engine)", () => {
  let azurite: AzuriteInstance;
  let host: LocalHost;
  let queue: QueueClient;
  let lake: ContainerClient;
  const container = "lake-lease";
  /** Lease requests the app's source client sent, per blob: action and time. */
  const leaseRequests: { blob: string; action: string; at: number }[] = [];
  /** A copy write of this blob waits for this gate (the test decides how long the copy lasts). */
  let held: { blob: string; gate: Promise<void>; reached: boolean } | undefined;

  before(async () => {
    azurite = await startAzurite();
    host = await startLocalHost({
      settings: { ...azurite.settings, BACKUP_QUEUE: QUEUE, RECONCILE_SCHEDULE: "0 0 2 * * *", BLOB_LEASE: "true", LEASE_SECONDS: String(LEASE_SECONDS) },
      queuePollMs: 50,
      timerSchedules: false,
    });
    queue = new QueueClient(azurite.settings.AzureWebJobsStorage, QUEUE);
    await queue.createIfNotExists();
    lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage).getContainerClient(container);
    await lake.create();
    // The app runs in this process: these are the very clients its activities use.
    addPipelinePolicy(runtime().clients.source.service, {
      name: "record-lease-requests",
      sendRequest(request, next) {
        const action = request.headers.get("x-ms-lease-action");
        if (action !== undefined) leaseRequests.push({ blob: blobOf(request), action, at: Date.now() });
        return next(request);
      },
    });
    addPipelinePolicy(runtime().clients.backup.service, {
      name: "hold-a-copy",
      async sendRequest(request, next) {
        if (held !== undefined && isCopyWrite(request) && blobOf(request) === held.blob) {
          held.reached = true;
          await held.gate;
        }
        return next(request);
      },
    });
  });
  after(async () => {
    await host.stop();
    await azurite.stop();
  });

  async function enqueue(name: string, snapshot = false) {
    const v = snapshot ? await writeAndSnapshot(lake, name, `content of ${name}`) : await writeLive(lake, name, `content of ${name}`);
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

  it("takes a lease for the copy of a live blob and leaves none behind", async () => {
    const id = await enqueue("leased.txt");
    const status = await host.client.waitForCompletion(id, { timeoutMs: 30_000, showHistory: true });
    const out = status.output as BlobBackupOutput;
    assert.equal(out.status, "Copied", out.reason);
    assert.equal(await scheduled(id, Activities.acquireBlobLease), 1);
    assert.equal(await scheduled(id, Activities.releaseBlobLease), 1);
    assert.equal((await lake.getBlobClient("leased.txt").getProperties()).leaseState, "available");
  });

  it("takes no lease for a snapshot, which never changes", async () => {
    const id = await enqueue("snapshot-only.txt", true);
    const out = (await host.client.waitForCompletion(id, { timeoutMs: 30_000 })).output as BlobBackupOutput;
    assert.equal(out.status, "Copied", out.reason);
    assert.equal(await scheduled(id, Activities.acquireBlobLease), 0);
    assert.deepEqual(leaseRequests.filter((r) => r.blob === "snapshot-only.txt"), []);
  });

  it("keeps the lease renewed through a copy that outlasts it, waits on the copy task once, and releases the lease", { timeout: 120_000 }, async () => {
    const name = "slow-copy.txt";
    let open = (): void => undefined;
    held = { blob: name, gate: new Promise<void>((resolve) => (open = resolve)), reached: false };
    const renewals = () => leaseRequests.filter((r) => r.blob === name && r.action === "renew");
    try {
      const id = await enqueue(name);
      // The copy is held until the lease has been renewed more than LEASE_SECONDS / renew interval times: without the
      // renewals it would have lapsed by then.
      const needed = Math.floor(LEASE_SECONDS / leaseRenewSeconds(LEASE_SECONDS)) + 1;
      for (const deadline = Date.now() + 60_000; !held.reached || renewals().length < needed; await new Promise((r) => setTimeout(r, 100))) {
        if (Date.now() > deadline) throw new Error(`copy reached: ${held.reached}; renewals: ${renewals().length}`);
      }
      const acquired = leaseRequests.find((r) => r.blob === name && r.action === "acquire");
      assert.ok(acquired !== undefined && Date.now() - acquired.at > LEASE_SECONDS * 1000, "the lease's own duration has passed");
      const p = await lake.getBlobClient(name).getProperties();
      assert.deepEqual([p.leaseState, p.leaseStatus], ["leased", "locked"], "still leased: renewed while the copy ran");
      open();
      const status = await host.client.waitForCompletion(id, { timeoutMs: 30_000, showHistory: true });
      const out = status.output as BlobBackupOutput;
      assert.equal(out.status, "Copied", out.reason);
      assert.doesNotMatch(out.reason, /lease lost/);
      assert.equal(await scheduled(id, Activities.copyBlobServerSide), 1, "the copy task was scheduled once");
      assert.equal(await scheduled(id, Activities.renewBlobLease), 0, "the copy activity renewed the lease itself");
      assert.equal((await lake.getBlobClient(name).getProperties()).leaseState, "available", "released");
    } finally {
      open();
      held = undefined;
    }
  });

  it("retries while someone else holds the lease, and copies once it is released", { timeout: 60_000 }, async () => {
    const v = await writeLive(lake, "busy-then-free.txt", "x");
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

  it("fails the backup with a clear reason when the lease stays taken, and leaves the other holder's lease alone", { timeout: 150_000 }, async () => {
    const id0 = "held.txt";
    const v = await writeLive(lake, id0, "held");
    const other = lake.getBlobClient(id0).getBlobLeaseClient(randomUUID());
    await other.acquireLease(-1);
    const request = requestFor(azurite.accounts.lake.name, container, id0, v);
    await queue.sendMessage(encodeBackupRequest(request));
    const id = blobBackupInstanceId(request);
    const status = await host.client.waitForCompletion(id, { timeoutMs: 120_000 });
    assert.equal(status.runtimeStatus, "Failed");
    assert.match(String(status.output), new RegExp(`leased by someone else \\(${LEASE_ATTEMPTS} attempts\\)`));
    assert.equal(await scheduled(id, Activities.acquireBlobLease), LEASE_ATTEMPTS);
    assert.equal(await scheduled(id, Activities.copyBlobServerSide), 0);
    const p = await lake.getBlobClient(id0).getProperties();
    assert.equal(p.leaseState, "leased");
    assert.equal(p.leaseDuration, "infinite");
    await other.releaseLease();
  });
});
