/**
 * Lease mode (BLOB_LEASE=true) with the `server` engine through the local host: the orchestration takes a finite lease
 * and releases it; a lease held by someone else is retried with back-off and then gives a clear outcome, without
 * breaking the other holder's lease. The host runs on the virtual clock, so the back-off costs no wall time.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, afterEach, before, describe, it } from "node:test";

import { type BlobClient, BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { QueueClient } from "@azure/storage-queue";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { type LocalHost, startLocalHost } from "../../local-host";
import { encodeBackupRequest } from "../../src/domain/backup-request";
import { blobBackupInstanceId, type BlobBackupOutput } from "../../src/domain/blob-backup";
import { Activities } from "../../src/function-names";
import { LEASE_ATTEMPTS } from "../../src/orchestrators/blob-backup";
import { runtime } from "../../src/runtime";
import { requestFor, writeAndSnapshot } from "../support/blob-backup-fixtures";
import { addPipelinePolicy } from "../support/scan-fixtures";
import { waitFor } from "../support/wait-for";

const QUEUE = "backup-requests";
/** The orchestration's first back-off after a refused lease (then doubling). */
const LEASE_FIRST_WAIT_SECONDS = 5;

describe("blob backup in lease mode through the local host (server engine, virtual clock)", { timeout: 600_000 }, () => {
  let azurite: AzuriteInstance;
  let host: LocalHost;
  let queue: QueueClient;
  let lake: ContainerClient;
  const container = "lake-lease";
  /** Called before each lease request of the app's own source client while a test sets it. */
  let onLeaseRequest: ((action: string, blob: string) => Promise<void>) | undefined;

  before(async () => {
    azurite = await startAzurite();
    // The virtual clock: the back-off timers between lease attempts fire as soon as the host is otherwise idle.
    host = await startLocalHost({
      settings: { ...azurite.settings, BACKUP_QUEUE: QUEUE, RECONCILE_SCHEDULE: "0 0 2 * * *", BLOB_LEASE: "true", LEASE_SECONDS: "15" },
      queuePollMs: 50,
      timerSchedules: false,
      clock: "virtual",
    });
    queue = new QueueClient(azurite.settings.AzureWebJobsStorage, QUEUE);
    await queue.createIfNotExists();
    lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage).getContainerClient(container);
    await lake.create();
    // The app runs in this process: this is the very client its lease activities use.
    addPipelinePolicy(runtime().clients.source.service, {
      name: "lease-test-hook",
      async sendRequest(request, next) {
        const url = new URL(request.url);
        const action = request.headers.get("x-ms-lease-action");
        if (onLeaseRequest !== undefined && url.searchParams.get("comp") === "lease" && action !== undefined) {
          await onLeaseRequest(action, decodeURIComponent(url.pathname.split("/").slice(3).join("/")));
        }
        return next(request);
      },
    });
  });
  after(async () => {
    await host?.stop();
    await azurite?.stop();
  });
  afterEach(() => (onLeaseRequest = undefined));

  async function enqueue(name: string, lease?: (blob: BlobClient) => Promise<void>) {
    const v = await writeAndSnapshot(lake, name, `content of ${name}`);
    await lease?.(lake.getBlobClient(name));
    const request = requestFor(azurite.accounts.lake.name, container, name, v);
    await queue.sendMessage(encodeBackupRequest(request));
    return blobBackupInstanceId(request);
  }
  const history = async (id: string) => (await host.client.getStatus(id, { showHistory: true }))?.historyEvents ?? [];
  const scheduled = async (id: string, name: string) => (await history(id)).filter((e) => e.EventType === "TaskScheduled" && e.Name === name).length;
  /** The durable timers created between lease attempts (not those of the copy's renewals), as delays in seconds. */
  const backOffs = async (id: string) => {
    const events = await history(id);
    const lastAcquire = events.findLastIndex((e) => e.EventType === "TaskScheduled" && e.Name === Activities.acquireBlobLease);
    return events
      .slice(0, lastAcquire)
      .filter((e) => e.EventType === "TimerCreated")
      .map((e) => (Date.parse(String(e.FireAt)) - Date.parse(e.Timestamp)) / 1000);
  };
  const complete = async (id: string) => {
    await waitFor(() => host.client.getStatus(id), { describe: `instance ${id} to start`, timeoutMs: 30_000 });
    return (await host.client.waitForCompletion(id, { timeoutMs: 30_000 })).output as BlobBackupOutput;
  };

  it("takes a lease for the copy and leaves none behind", async () => {
    const id = await enqueue("leased.txt");
    const out = await complete(id);
    assert.equal(out.status, "Copied", out.reason);
    assert.equal(await scheduled(id, Activities.acquireBlobLease), 1);
    assert.equal(await scheduled(id, Activities.releaseBlobLease), 1);
    assert.equal((await lake.getBlobClient("leased.txt").getProperties()).leaseState, "available");
  });

  it("retries after a back-off while someone else holds the lease, and copies once it is released", async () => {
    const other = lake.getBlobClient("busy-then-free.txt").getBlobLeaseClient(randomUUID());
    let acquires = 0;
    onLeaseRequest = async (action, blob) => {
      // The other holder lets go between the first (refused) attempt and the second.
      if (blob === "busy-then-free.txt" && action === "acquire" && ++acquires === 2) await other.releaseLease();
    };
    const id = await enqueue("busy-then-free.txt", async () => void (await other.acquireLease(15)));
    const out = await complete(id);
    assert.equal(out.status, "Copied", out.reason);
    assert.equal(await scheduled(id, Activities.acquireBlobLease), 2, "refused once, then acquired");
    assert.deepEqual(await backOffs(id), [LEASE_FIRST_WAIT_SECONDS], "one back-off between the attempts");
    assert.equal((await lake.getBlobClient("busy-then-free.txt").getProperties()).leaseState, "available");
  });

  it("gives up with a clear Failed outcome when the lease stays taken, and leaves the other holder's lease alone", async () => {
    const other = lake.getBlobClient("held.txt").getBlobLeaseClient(randomUUID());
    const id = await enqueue("held.txt", async () => void (await other.acquireLease(-1)));
    const out = await complete(id);
    assert.equal(out.status, "Failed");
    assert.match(out.reason, new RegExp(`leased by someone else \\(${LEASE_ATTEMPTS} attempts\\)`));
    assert.equal(await scheduled(id, Activities.acquireBlobLease), LEASE_ATTEMPTS);
    assert.deepEqual(await backOffs(id), [5, 10, 20, 40], "backing off 5 s, doubling, between the attempts");
    assert.equal(await scheduled(id, Activities.copyBlobServerSide), 0);
    const p = await lake.getBlobClient("held.txt").getProperties();
    assert.equal(p.leaseState, "leased");
    assert.equal(p.leaseDuration, "infinite");
    await other.releaseLease();
  });
});
