/**
 * The fault proxy itself, observed through the real Azure SDK clients against Azurite: each fault kind does to a
 * client what Azure's does, only to the operation chosen, and a seed replays the same faults.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { after, before, beforeEach, describe, it } from "node:test";

import { isRestError } from "@azure/core-rest-pipeline";
import { BlobSASPermissions, BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { QueueClient } from "@azure/storage-queue";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { type FaultProxy, type InjectedFault, startFaultProxy } from "../support/fault-proxy";

/** SDK retries as the SDK does them, only with short delays. */
const fast = (maxTries: number) => ({ retryOptions: { maxTries, retryDelayInMs: 5, maxRetryDelayInMs: 20 } });

async function waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail("expected the call to fail");
}

/** Tracks whether a promise has settled, without awaiting it. */
function track<T>(promise: Promise<T>): { readonly settled: () => boolean; readonly promise: Promise<T> } {
  let settled = false;
  const p = promise.finally(() => (settled = true));
  return { settled: () => settled, promise: p };
}

describe("fault proxy between the SDK and Azurite", () => {
  let azurite: AzuriteInstance;
  let proxy: FaultProxy;
  let lakeDirect: ContainerClient;
  let backupDirect: ContainerClient;
  const container = "proxied";

  const lake = (maxTries = 4) => BlobServiceClient.fromConnectionString(proxy.settings.SourceStorage, fast(maxTries)).getContainerClient(container);
  const backup = (maxTries = 4) => BlobServiceClient.fromConnectionString(proxy.settings.BackupStorage, fast(maxTries)).getContainerClient(container);

  before(async () => {
    azurite = await startAzurite();
    proxy = await startFaultProxy(azurite, { seed: 7 });
    lakeDirect = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage).getContainerClient(container);
    backupDirect = BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage).getContainerClient(container);
    await lakeDirect.create();
    await backupDirect.create();
  });
  after(async () => {
    await proxy.stop();
    await azurite.stop();
  });
  beforeEach(() => {
    proxy.clear();
    proxy.resetCounts();
  });

  it("points connection strings at the proxy and leaves other settings alone", () => {
    const settings = proxy.throughProxy({ ...azurite.settings, BACKUP_QUEUE: "q" });
    assert.equal(settings.BACKUP_QUEUE, "q");
    for (const value of [settings.SourceStorage, settings.BackupStorage, settings.AzureWebJobsStorage]) {
      assert.match(value, new RegExp(`BlobEndpoint=http://127\\.0\\.0\\.1:${proxy.blobPort}/`));
      assert.match(value, new RegExp(`QueueEndpoint=http://127\\.0\\.0\\.1:${proxy.queuePort}/`));
      assert.ok(!value.includes(`:${azurite.blobPort}/`) && !value.includes(`:${azurite.queuePort}/`));
    }
    assert.deepEqual(proxy.settings, proxy.throughProxy(azurite.settings));
  });

  it("answers 503 ServerBusy as Azure does; the SDK retries it and the proxy counts every attempt", async () => {
    proxy.set({ put: { serverBusy: 0.5 } });
    const client = lake(10);
    for (let i = 0; i < 20; i += 1) await client.getBlockBlobClient(`busy-${i}.txt`).upload("x", 1);
    const counts = proxy.counts().put;
    assert.ok(counts.serverBusy > 0, "some writes were refused");
    assert.equal(counts.requests, 20 + counts.serverBusy, "each refused write was retried until it succeeded");
    for (let i = 0; i < 20; i += 1) assert.ok(await lakeDirect.getBlobClient(`busy-${i}.txt`).exists());

    // Every attempt refused: the error the SDK surfaces carries the service's status and code.
    proxy.set({ put: { serverBusy: 1 } });
    proxy.resetCounts();
    const err = await rejection(lake(3).getBlockBlobClient("refused.txt").upload("x", 1));
    assert.ok(isRestError(err));
    assert.equal(err.statusCode, 503);
    assert.equal(err.code, "ServerBusy");
    assert.match(err.message, /^The server is currently unable to receive requests/);
    assert.equal(proxy.counts().put.serverBusy, 3, "maxTries attempts");
    assert.equal(await lakeDirect.getBlobClient("refused.txt").exists(), false, "a refused write is not applied");
  });

  it("answers a HEAD with a bodiless error whose code is in x-ms-error-code, and 500 InternalError likewise", async () => {
    await lakeDirect.getBlockBlobClient("head.txt").upload("x", 1);
    proxy.set({ read: { serverBusy: 1 } });
    const busy = await rejection(lake(1).getBlobClient("head.txt").getProperties());
    assert.ok(isRestError(busy));
    assert.equal(busy.statusCode, 503);
    assert.equal(busy.response?.headers.get("x-ms-error-code"), "ServerBusy");
    assert.equal(busy.response?.bodyAsText ?? "", "", "a HEAD response has no body");

    proxy.set({ read: { internalError: 1 } });
    const internal = await rejection(lake(1).getBlobClient("head.txt").download());
    assert.ok(isRestError(internal));
    assert.equal(internal.statusCode, 500);
    assert.equal(internal.code, "InternalError");
    assert.deepEqual([proxy.counts().read.serverBusy, proxy.counts().read.internalError], [1, 1]);
  });

  it("loses a write's response after Azurite applied it: the client sees a reset, the write is there", async () => {
    proxy.set({ put: { lostResponse: 1 } });
    const err = await rejection(lake(1).getBlockBlobClient("lost.txt").upload("applied", 7));
    assert.ok(isRestError(err));
    assert.equal(err.code, "ECONNRESET");
    assert.equal((await lakeDirect.getBlobClient("lost.txt").downloadToBuffer()).toString(), "applied");

    // The SDK retries a reset: each retry of a snapshot whose response is lost takes another snapshot.
    await lakeDirect.getBlockBlobClient("snap.txt").upload("s", 1);
    proxy.set({ snapshot: { lostResponse: 1 } });
    await rejection(lake(3).getBlobClient("snap.txt").createSnapshot());
    const snapshots = [];
    for await (const b of lakeDirect.listBlobsFlat({ prefix: "snap.txt", includeSnapshots: true })) if (b.snapshot) snapshots.push(b.snapshot);
    assert.equal(snapshots.length, 3);
    assert.equal(proxy.counts().snapshot.lostResponse, 3);
    assert.equal(proxy.counts().put.lostResponse, 1);
  });

  it("selects queue faults by method: a lost Put Message leaves the message in the queue, receiving is unaffected", async () => {
    const queue = new QueueClient(proxy.settings.AzureWebJobsStorage, "proxied-queue", fast(1));
    await queue.create();
    proxy.set({ queue: { lostResponse: 1, methods: ["POST"] } });
    const err = await rejection(queue.sendMessage("hello"));
    assert.ok(isRestError(err));
    const received = await queue.receiveMessages({ numberOfMessages: 32 });
    assert.deepEqual(
      received.receivedMessageItems.map((m) => m.messageText),
      ["hello"],
    );
    assert.equal(proxy.counts().queue.lostResponse, 1);
  });

  it("delays only the chosen operation, before forwarding (not applied yet) or before answering (applied)", async () => {
    await lakeDirect.getBlockBlobClient("source.txt").upload("copy me", 7);
    const source = await lake().getBlobClient("source.txt").generateSasUrl({ permissions: BlobSASPermissions.parse("r"), expiresOn: new Date(Date.now() + 3_600_000) });

    proxy.set({ copy: { latency: { beforeForwardMs: Infinity } } });
    const early = track(backup().getBlockBlobClient("early.txt").syncCopyFromURL(source));
    await waitFor("the copy to be held before forwarding", () => proxy.held().some((h) => h.operation === "copy" && h.phase === "beforeForward"));
    await backup().getBlockBlobClient("other.txt").upload("not delayed", 11);
    assert.equal(early.settled(), false, "the copy is still held while another write went through");
    assert.equal(await backupDirect.getBlobClient("early.txt").exists(), false, "held before forwarding: not applied yet");
    proxy.release();
    await early.promise;
    assert.equal((await backupDirect.getBlobClient("early.txt").downloadToBuffer()).toString(), "copy me");

    proxy.set({ copy: { latency: { beforeAnswerMs: Infinity } } });
    const late = track(backup().getBlockBlobClient("late.txt").syncCopyFromURL(source));
    await waitFor("the copy's answer to be held", () => proxy.held().some((h) => h.operation === "copy" && h.phase === "beforeAnswer"));
    assert.equal(await backupDirect.getBlobClient("late.txt").exists(), true, "held before answering: applied");
    assert.equal(late.settled(), false);
    proxy.release();
    await late.promise;

    proxy.set({ copy: { latency: { beforeAnswerMs: 20 } } });
    await backup().getBlockBlobClient("timed.txt").syncCopyFromURL(source);
    const counts = proxy.counts();
    assert.equal(counts.copy.delayed, 3);
    assert.equal(counts.put.delayed, 0);
    assert.equal(counts.put.requests, 1);
  });

  it("forwards copies with their Host so Azurite accepts proxied copy sources, and never faults Azurite's own source check", async () => {
    const data = randomBytes(256 * 1024);
    await lakeDirect.getBlockBlobClient("block-source.bin").uploadData(data);
    const source = await lake().getBlobClient("block-source.bin").generateSasUrl({ permissions: BlobSASPermissions.parse("r"), expiresOn: new Date(Date.now() + 3_600_000) });
    // Every client read refused: the copy still succeeds, because Azurite's check of its source is not a client read.
    proxy.set({ read: { serverBusy: 1 } });
    await backup().getBlockBlobClient("copied.bin").syncCopyFromURL(source);
    const target = backup().getBlockBlobClient("staged.bin");
    const blockId = Buffer.from("block-0").toString("base64");
    await target.stageBlockFromURL(blockId, source);
    await target.commitBlockList([blockId]);
    proxy.clear();
    for (const name of ["copied.bin", "staged.bin"]) assert.ok((await backupDirect.getBlobClient(name).downloadToBuffer()).equals(data), name);
    const counts = proxy.counts();
    assert.equal(counts.copy.requests, 2, "Put Blob From URL and Put Block From URL are copies");
    assert.ok(counts.internal.requests >= 1, "Azurite checked the copy source through the proxy");
    assert.equal(counts.internal.serverBusy, 0);
  });

  it("streams multi-MiB bodies both ways", async () => {
    const data = randomBytes(12 * 1024 * 1024);
    const blob = lake().getBlockBlobClient("big.bin");
    await blob.uploadData(data, { maxSingleShotSize: 32 * 1024 * 1024 });
    const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
    assert.equal(sha(await lakeDirect.getBlobClient("big.bin").downloadToBuffer()), sha(data));
    assert.equal(sha(await blob.downloadToBuffer()), sha(data));
    assert.equal(proxy.counts().put.requests, 1, "one Put Blob of 12 MiB");
  });

  it("replays the same faults for the same seed and requests, and others for another seed", async () => {
    const faultsOf = async (seed: number): Promise<InjectedFault[]> => {
      const p = await startFaultProxy(azurite, { seed, faults: { put: { serverBusy: 0.2, internalError: 0.1, lostResponse: 0.1, latency: { rate: 0.2, beforeForwardMs: 1 } } } });
      try {
        const client = BlobServiceClient.fromConnectionString(p.settings.SourceStorage, fast(1)).getContainerClient(container);
        for (let i = 0; i < 40; i += 1) await client.getBlockBlobClient(`seeded-${i}.txt`).upload("x", 1).catch(() => undefined);
        return [...p.injected()];
      } finally {
        await p.stop();
      }
    };
    const first = await faultsOf(42);
    assert.deepEqual(await faultsOf(42), first);
    assert.notDeepEqual(await faultsOf(43), first);
    assert.deepEqual(new Set(first.map((f) => f.fault)), new Set(["serverBusy", "internalError", "lostResponse", "latency"]));
  });

  it("rejects rates outside [0, 1], error rates adding up to more than 1, and unknown operations", () => {
    assert.throws(() => proxy.set({ put: { serverBusy: 1.5 } }), /within \[0, 1\]/);
    assert.throws(() => proxy.set({ all: { serverBusy: 0.6 }, put: { lostResponse: 0.6 } }), /add up to more than 1/);
    assert.throws(() => proxy.set({ blob: {} } as never), /unknown proxy operation/);
  });
});
