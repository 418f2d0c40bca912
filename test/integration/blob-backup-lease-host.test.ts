/**
 * Lease mode (BLOB_LEASE=true) with the `server` engine through the local host: the orchestration takes a finite lease
 * on a live (ETag-pinned) source and releases it, and takes none for a snapshot; the copy activity keeps the lease
 * renewed however long the copy lasts; a lease held by someone else is retried with back-off and then fails the
 * backup with a clear reason, without breaking the other holder's lease. The host runs on the virtual clock, so the
 * back-off costs no wall time (activities, and so the copy's own renewals, run in real time).
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, afterEach, before, describe, it } from "node:test";

import type { PipelineRequest } from "@azure/core-rest-pipeline";
import { type BlobClient, BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
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
import { waitFor } from "../support/wait-for";

const QUEUE = "backup-requests";
const LEASE_SECONDS = 15;
/** The orchestration's first back-off after a refused lease (then doubling). */
const LEASE_FIRST_WAIT_SECONDS = 5;

const blobOf = (request: PipelineRequest): string => decodeURIComponent(new URL(request.url).pathname.split("/").slice(3).join("/"));

describe("blob backup in lease mode through the local host (server engine, virtual clock)", { timeout: 600_000 }, () => {
  let azurite: AzuriteInstance;
  let host: LocalHost;
  let queue: QueueClient;
  let lake: ContainerClient;
  const container = "lake-lease";
  /** Lease requests the app's source client sent, per blob: action and time. */
  const leaseRequests: { blob: string; action: string; at: number }[] = [];
  /** Called before each lease request of the app's own source client while a test sets it. */
  let onLeaseRequest: ((action: string, blob: string) => Promise<void>) | undefined;
  /** A copy write of this blob waits for this gate (the test decides how long the copy lasts). */
  let held: { blob: string; gate: Promise<void>; reached: boolean } | undefined;

  before(async () => {
    azurite = await startAzurite();
    // The virtual clock: the back-off timers between lease attempts fire as soon as the host is otherwise idle.
    host = await startLocalHost({
      settings: { ...azurite.settings, BACKUP_QUEUE: QUEUE, RECONCILE_SCHEDULE: "0 0 2 * * *", BLOB_LEASE: "true", LEASE_SECONDS: String(LEASE_SECONDS) },
      queuePollMs: 50,
      timerSchedules: false,
      clock: "virtual",
    });
    queue = new QueueClient(azurite.settings.AzureWebJobsStorage, QUEUE);
    await queue.createIfNotExists();
    lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage).getContainerClient(container);
    await lake.create();
    // The app runs in this process: these are the very clients its activities use.
    addPipelinePolicy(runtime().clients.source.service, {
      name: "lease-test-hook",
      async sendRequest(request, next) {
        const action = request.headers.get("x-ms-lease-action");
        if (action !== undefined && new URL(request.url).searchParams.get("comp") === "lease") {
          leaseRequests.push({ blob: blobOf(request), action, at: Date.now() });
          if (onLeaseRequest !== undefined) await onLeaseRequest(action, blobOf(request));
        }
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
    await host?.stop();
    await azurite?.stop();
  });
  afterEach(() => (onLeaseRequest = undefined));

  /** Writes the blob (live, or snapshotted), lets `lease` take it first if given, and sends the backup request. */
  async function enqueue(name: string, options: { snapshot?: boolean; lease?: (blob: BlobClient) => Promise<void> } = {}) {
    const content = `content of ${name}`;
    const v = options.snapshot === true ? await writeAndSnapshot(lake, name, content) : await writeLive(lake, name, content);
    await options.lease?.(lake.getBlobClient(name));
    const request = requestFor(azurite.accounts.lake.name, container, name, v);
    await queue.sendMessage(encodeBackupRequest(request));
    return blobBackupInstanceId(request);
  }
  const history = async (id: string) => (await host.client.getStatus(id, { showHistory: true }))?.historyEvents ?? [];
  const scheduled = async (id: string, name: string) => (await history(id)).filter((e) => e.EventType === "TaskScheduled" && e.Name === name).length;
  /** The durable timers created between lease attempts, as delays in seconds. */
  const backOffs = async (id: string) => {
    const events = await history(id);
    const lastAcquire = events.findLastIndex((e) => e.EventType === "TaskScheduled" && e.Name === Activities.acquireBlobLease);
    return events
      .slice(0, lastAcquire)
      .filter((e) => e.EventType === "TimerCreated")
      .map((e) => (Date.parse(String(e.FireAt)) - Date.parse(e.Timestamp)) / 1000);
  };
  const finished = async (id: string) => {
    await waitFor(() => host.client.getStatus(id), { describe: `instance ${id} to start`, timeoutMs: 30_000 });
    return host.client.waitForCompletion(id, { timeoutMs: 60_000 });
  };
  const complete = async (id: string) => (await finished(id)).output as BlobBackupOutput;

  it("takes a lease for the copy of a live blob and leaves none behind", async () => {
    const id = await enqueue("leased.txt");
    const out = await complete(id);
    assert.equal(out.status, "Copied", out.reason);
    assert.equal(await scheduled(id, Activities.acquireBlobLease), 1);
    assert.equal(await scheduled(id, Activities.releaseBlobLease), 1);
    assert.equal((await lake.getBlobClient("leased.txt").getProperties()).leaseState, "available");
  });

  it("takes no lease for a snapshot, which never changes", async () => {
    const id = await enqueue("snapshot-only.txt", { snapshot: true });
    const out = await complete(id);
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
      await waitFor(() => ({ reached: held?.reached ?? false, renewals: renewals().length }), {
        until: (s) => s.reached && s.renewals >= needed,
        describe: `the copy to be held and the lease renewed ${needed} times`,
        timeoutMs: 60_000,
      });
      const acquired = leaseRequests.find((r) => r.blob === name && r.action === "acquire");
      assert.ok(acquired !== undefined && Date.now() - acquired.at > LEASE_SECONDS * 1000, "the lease's own duration has passed");
      const p = await lake.getBlobClient(name).getProperties();
      assert.deepEqual([p.leaseState, p.leaseStatus], ["leased", "locked"], "still leased: renewed while the copy ran");
      open();
      const out = await complete(id);
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

  it("retries after a back-off while someone else holds the lease, and copies once it is released", async () => {
    const other = lake.getBlobClient("busy-then-free.txt").getBlobLeaseClient(randomUUID());
    let acquires = 0;
    onLeaseRequest = async (action, blob) => {
      // The other holder lets go between the first (refused) attempt and the second.
      if (blob === "busy-then-free.txt" && action === "acquire" && ++acquires === 2) await other.releaseLease();
    };
    const id = await enqueue("busy-then-free.txt", { lease: async () => void (await other.acquireLease(15)) });
    const out = await complete(id);
    assert.equal(out.status, "Copied", out.reason);
    assert.equal(await scheduled(id, Activities.acquireBlobLease), 2, "refused once, then acquired");
    assert.deepEqual(await backOffs(id), [LEASE_FIRST_WAIT_SECONDS], "one back-off between the attempts");
    assert.equal((await lake.getBlobClient("busy-then-free.txt").getProperties()).leaseState, "available");
  });

  it("fails the backup with a clear reason when the lease stays taken, and leaves the other holder's lease alone", async () => {
    const other = lake.getBlobClient("held.txt").getBlobLeaseClient(randomUUID());
    const id = await enqueue("held.txt", { lease: async () => void (await other.acquireLease(-1)) });
    const status = await finished(id);
    assert.equal(status.runtimeStatus, "Failed");
    assert.match(String(status.output), new RegExp(`leased by someone else \\(${LEASE_ATTEMPTS} attempts\\)`));
    assert.equal(await scheduled(id, Activities.acquireBlobLease), LEASE_ATTEMPTS);
    assert.deepEqual(await backOffs(id), [5, 10, 20, 40], "backing off 5 s, doubling, between the attempts");
    assert.equal(await scheduled(id, Activities.copyBlobServerSide), 0);
    const p = await lake.getBlobClient("held.txt").getProperties();
    assert.equal(p.leaseState, "leased");
    assert.equal(p.leaseDuration, "infinite");
    await other.releaseLease();
  });
});
