/**
 * Batched backups through the local Durable host, Azurite and the server engine (virtual clock, lease mode on): one
 * batch message with a duplicate, an out-of-order older version, a version already backed up, a failing version, a
 * blob leased by someone else and tricky names — each ends correctly and alone, and the failing and leased ones end
 * as Failed blob backup instances of their own; an overlapping re-sent batch copies nothing twice.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import type { PipelineRequest } from "@azure/core-rest-pipeline";
import type { ContainerClient } from "@azure/storage-blob";
import { BlobServiceClient } from "@azure/storage-blob";
import { QueueClient } from "@azure/storage-queue";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { type LocalHost, startLocalHost } from "../../local-host";
import { type BackupBatch, type BackupRequest, type BatchVersion, encodeBackupMessages } from "../../src/domain/backup-request";
import { BackupMetadata, blobBackupInstanceId } from "../../src/domain/blob-backup";
import { blobBatchInstanceId, type BlobBatchOutput } from "../../src/domain/blob-batch-backup";
import { runtime } from "../../src/runtime";
import { requestFor, type Version, writeAndSnapshot, writeLive } from "../support/blob-backup-fixtures";
import { addPipelinePolicy } from "../support/scan-fixtures";
import { answerWith, isCopyWrite } from "../support/storage-faults";
import { afterSecondOf, waitFor } from "../support/wait-for";

const QUEUE = "backup-requests";
const FOREIGN_LEASE = "0b7e5a1c-0000-4000-8000-00000000f0e1";

/** `<container>/<blob>` of a request to Azurite (its path starts with the account). */
const blobOf = (request: PipelineRequest): string => decodeURIComponent(new URL(request.url).pathname.split("/").slice(2).join("/"));

describe("batched backups through the local host (server engine, lease mode, virtual clock)", { timeout: 600_000 }, () => {
  let azurite: AzuriteInstance;
  let host: LocalHost;
  let queue: QueueClient;
  let lakeService: BlobServiceClient;
  let backupService: BlobServiceClient;
  /** Copy writes of these backup blobs are refused (403 CannotVerifyCopySource, as a source without read access). */
  const refused = new Set<string>();
  /** Copy writes per backup blob name that the service carried out, as the app's backup client sent them. */
  const copyWrites = new Map<string, number>();
  /** Copy writes the service refused (a condition not met, the container missing, a refused source). */
  const refusedWrites = new Map<string, number>();

  before(async () => {
    azurite = await startAzurite();
    host = await startLocalHost({
      settings: { ...azurite.settings, BACKUP_QUEUE: QUEUE, RECONCILE_SCHEDULE: "0 0 2 * * *", BLOB_LEASE: "true", LEASE_SECONDS: "15" },
      queuePollMs: 50,
      timerSchedules: false,
      // The single-blob backup's lease back-off (5 … 40 s) runs on the virtual clock.
      clock: "virtual",
    });
    const refuse = answerWith(isCopyWrite, 403, "CannotVerifyCopySource");
    // The app runs in this process: this is the very backup client its copy activities use.
    addPipelinePolicy(runtime().clients.backup.service, {
      name: "count-and-refuse-copies",
      async sendRequest(request, next) {
        if (!isCopyWrite(request)) return next(request);
        const blob = blobOf(request);
        const response = await (refused.has(blob) ? refuse.sendRequest(request, next) : next(request));
        const tally = response.status < 300 ? copyWrites : refusedWrites;
        tally.set(blob, (tally.get(blob) ?? 0) + 1);
        return response;
      },
    });
    queue = new QueueClient(azurite.settings.AzureWebJobsStorage, QUEUE);
    await queue.createIfNotExists();
    lakeService = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage);
    backupService = BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage);
  });
  after(async () => {
    await host?.stop();
    await azurite?.stop();
  });

  async function containers(name: string): Promise<{ lake: ContainerClient; backup: ContainerClient }> {
    const lake = lakeService.getContainerClient(name);
    await lake.create();
    return { lake, backup: backupService.getContainerClient(name) };
  }

  /** The batch message of `requests` (one container), sent as the scan would send it. */
  async function sendBatch(sent: readonly BackupRequest[]): Promise<BackupBatch> {
    // One request time for the batch, as one scan page has.
    const requests = sent.map((r) => ({ ...r, requestedAt: sent[0]?.requestedAt ?? r.requestedAt }));
    const { messages } = encodeBackupMessages(requests, 8 * 1024 * 1024);
    assert.equal(messages.length, 1);
    await queue.sendMessage(messages[0] ?? "");
    const first = requests[0];
    if (first === undefined) throw new Error("empty batch");
    const versions: BatchVersion[] = requests.map(({ blob, etag, snapshot, lastModified, contentLength, firstVersion }) => ({
      blob,
      etag,
      ...(snapshot !== undefined && { snapshot }),
      lastModified,
      contentLength,
      ...(firstVersion === true && { firstVersion }),
    }));
    return { v: 2, account: first.account, container: first.container, reason: first.reason, requestedAt: first.requestedAt, versions };
  }

  async function batchOutput(batch: BackupBatch): Promise<BlobBatchOutput> {
    const id = blobBatchInstanceId(batch);
    await waitFor(() => host.client.getStatus(id), { describe: `batch instance ${id} to start`, timeoutMs: 60_000 });
    const status = await host.client.waitForCompletion(id, { timeoutMs: 120_000 });
    assert.equal(status.runtimeStatus, "Completed", JSON.stringify(status));
    return status.output as BlobBatchOutput;
  }

  async function entriesOf(backup: ContainerClient, name: string): Promise<number> {
    let n = 0;
    for await (const b of backup.listBlobsFlat({ prefix: name, includeSnapshots: true })) if (b.name === name) n += 1;
    return n;
  }

  async function heldEtag(backup: ContainerClient, name: string): Promise<string | undefined> {
    return (await backup.getBlobClient(name).getProperties()).metadata?.[BackupMetadata.etag];
  }

  it("ends each version of a mixed batch correctly and alone; the failing and the leased one fail on their own", async () => {
    const { lake, backup } = await containers("batch-mixed");
    const req = (name: string, v: Version): BackupRequest => requestFor(azurite.accounts.lake.name, "batch-mixed", name, v);
    // Backed up before the batch: a newer version of order.txt, and exactly the version of held.txt.
    const older = await writeAndSnapshot(lake, "order.txt", "older");
    await afterSecondOf(older.lastModified);
    const newer = await writeAndSnapshot(lake, "order.txt", "newer");
    const heldVersion = await writeAndSnapshot(lake, "held.txt", "already backed up");
    const before = await sendBatch([req("order.txt", newer), req("held.txt", heldVersion)]);
    const prior = await batchOutput(before);
    assert.deepEqual([prior.copied, prior.handedOff], [2, 0], JSON.stringify(prior));

    const dup = await writeAndSnapshot(lake, "dup.txt", "twice in one batch");
    const failing = await writeAndSnapshot(lake, "failing.txt", "the copy of this one is refused");
    refused.add("batch-mixed/failing.txt");
    const live = await writeLive(lake, "live.txt", "copied under our own lease");
    const leased = await writeLive(lake, "leased.txt", "someone else holds a lease");
    await lake.getBlobClient("leased.txt").getBlobLeaseClient(FOREIGN_LEASE).acquireLease(-1);
    const plain = await writeAndSnapshot(lake, "plain.txt", "a neighbour");
    const writesBefore = (name: string) => copyWrites.get(`batch-mixed/${name}`) ?? 0;
    const heldWrites = writesBefore("held.txt");

    const batch = await sendBatch([
      req("dup.txt", dup),
      req("order.txt", older),
      req("held.txt", heldVersion),
      req("failing.txt", failing),
      req("live.txt", live),
      req("leased.txt", leased),
      req("dup.txt", dup),
      req("plain.txt", plain),
    ]);
    const out = await batchOutput(batch);
    assert.deepEqual([out.versions, out.copied, out.skipped, out.handedOff], [8, 3, 3, 2], JSON.stringify(out));
    assert.deepEqual(out.handOffs.map((h) => h.blob).sort(), ["failing.txt", "leased.txt"]);

    // The duplicate was copied once: one write, one backup blob, no history snapshot of a second copy.
    assert.equal(writesBefore("dup.txt"), 1);
    assert.equal(await entriesOf(backup, "dup.txt"), 1);
    // The older version did not overwrite the newer backup; the version already held was not copied again.
    assert.equal(await heldEtag(backup, "order.txt"), newer.etag);
    assert.equal(await entriesOf(backup, "order.txt"), 1);
    assert.equal(writesBefore("held.txt"), heldWrites);
    assert.equal(await entriesOf(backup, "held.txt"), 1);
    // The live blob was copied under our lease, which was released; the neighbours are in the backup.
    assert.equal(await heldEtag(backup, "live.txt"), live.etag);
    assert.equal((await lake.getBlobClient("live.txt").getProperties()).leaseState, "available");
    assert.equal(await heldEtag(backup, "plain.txt"), plain.etag);

    // The two hand-offs run as blob backup instances of their own and fail there, with their reasons.
    const failed = async (request: BackupRequest) => {
      const id = blobBackupInstanceId(request);
      await waitFor(() => host.client.getStatus(id), { describe: `hand-off ${id} to start`, timeoutMs: 60_000 });
      return host.client.waitForCompletion(id, { timeoutMs: 120_000 });
    };
    const refusedCopy = await failed(req("failing.txt", failing));
    assert.equal(refusedCopy.runtimeStatus, "Failed");
    assert.match(JSON.stringify(refusedCopy.output), /not readable \(HTTP 403\)/);
    const busy = await failed(req("leased.txt", leased));
    assert.equal(busy.runtimeStatus, "Failed");
    assert.match(JSON.stringify(busy.output), /leased by someone else \(5 attempts\)/);
    // Someone else's lease was never broken, and nothing of theirs was written.
    assert.equal((await lake.getBlobClient("leased.txt").getProperties()).leaseState, "leased");
    assert.equal(await backup.getBlobClient("leased.txt").exists(), false);
    assert.equal(await backup.getBlobClient("failing.txt").exists(), false);
  });

  it("copies nothing twice when a batch is sent again and an overlapping batch follows", async () => {
    const { lake, backup } = await containers("batch-overlap");
    const req = (name: string, v: Version): BackupRequest => requestFor(azurite.accounts.lake.name, "batch-overlap", name, v);
    const names = Array.from({ length: 7 }, (_, i) => `x${i}`);
    const versions = new Map<string, Version>();
    for (const n of names) versions.set(n, await writeAndSnapshot(lake, n, `content of ${n}`));
    const requestsOf = (list: readonly string[]) => list.map((n) => req(n, versions.get(n) as Version));

    const first = await sendBatch(requestsOf(names.slice(0, 5)));
    assert.equal((await batchOutput(first)).copied, 5);
    // The same batch again (a re-sent message: same versions, another request time) joins the finished instance.
    await sendBatch(requestsOf(names.slice(0, 5)).map((r) => ({ ...r, requestedAt: new Date().toISOString() })));
    const overlap = await sendBatch(requestsOf(names.slice(2)));
    const out = await batchOutput(overlap);
    assert.deepEqual([out.copied, out.skipped, out.handedOff], [2, 3, 0]);
    await waitFor(async () => (await queue.getProperties()).approximateMessagesCount, { until: (n) => n === 0, describe: "every message consumed", timeoutMs: 60_000 });
    for (const n of names) {
      assert.equal(copyWrites.get(`batch-overlap/${n}`), 1, `${n} copied once`);
      assert.equal(await entriesOf(backup, n), 1, `${n}: one backup blob, no history snapshot`);
    }
  });

  it("takes a wrong first-version hint for a hint: one refused create-only write, then the usual decision", async () => {
    const { lake, backup } = await containers("batch-hint");
    const req = (name: string, v: Version): BackupRequest => requestFor(azurite.accounts.lake.name, "batch-hint", name, v);
    const hinted = (r: BackupRequest): BackupRequest => ({ ...r, firstVersion: true });
    const older = await writeAndSnapshot(lake, "order.txt", "older");
    await afterSecondOf(older.lastModified);
    const newer = await writeAndSnapshot(lake, "order.txt", "newer");
    const held = await writeAndSnapshot(lake, "held.txt", "already backed up");
    const v1 = await writeAndSnapshot(lake, "changed.txt", "v1");
    const prior = await batchOutput(await sendBatch([req("order.txt", newer), req("held.txt", held), req("changed.txt", v1)]));
    assert.equal(prior.copied, 3, JSON.stringify(prior));
    const backupEtag = async (name: string) => (await backup.getBlobClient(name).getProperties()).etag;
    const before = { order: await backupEtag("order.txt"), held: await backupEtag("held.txt") };
    const writes = (name: string) => copyWrites.get(`batch-hint/${name}`) ?? 0;
    const refusals = (name: string) => refusedWrites.get(`batch-hint/${name}`) ?? 0;
    const heldWrites = writes("held.txt");
    const heldRefusals = refusals("held.txt");

    await afterSecondOf(v1.lastModified);
    const v2 = await writeAndSnapshot(lake, "changed.txt", "v2");
    const fresh = await writeAndSnapshot(lake, "fresh.txt", "really new");
    // Every version claims to be its blob's first (a hand-made or stale hint): all but fresh.txt have a backup blob.
    const out = await batchOutput(await sendBatch([req("order.txt", older), req("held.txt", held), req("changed.txt", v2), req("fresh.txt", fresh)].map(hinted)));
    assert.deepEqual([out.copied, out.skipped, out.handedOff], [2, 2, 0], JSON.stringify(out));
    // The hint was tried (one create-only write, refused), and nothing already held was touched.
    assert.equal(refusals("held.txt"), heldRefusals + 1);
    assert.equal(writes("held.txt"), heldWrites);
    assert.equal(await backupEtag("held.txt"), before.held);
    assert.equal(await backupEtag("order.txt"), before.order, "the older version did not overwrite the newer backup");
    assert.equal(await heldEtag(backup, "order.txt"), newer.etag);
    // The changed blob was written after the usual read: its previous backup kept as history.
    assert.equal(await heldEtag(backup, "changed.txt"), v2.etag);
    assert.equal(await entriesOf(backup, "changed.txt"), 2);
    assert.equal(await heldEtag(backup, "fresh.txt"), fresh.etag);
  });

  it("hands a version that turns out to be large to its own blob backup, which copies it", async () => {
    const { lake, backup } = await containers("batch-large");
    const req = (name: string, v: Version): BackupRequest => requestFor(azurite.accounts.lake.name, "batch-large", name, v);
    const small = await writeAndSnapshot(lake, "small.bin", "small");
    const large = await writeAndSnapshot(lake, "large.bin", Buffer.alloc(8 * 1024 * 1024, 1));
    // The message says 1 KiB (a listing from before the blob grew, or a hand-made message): the size read decides.
    const out = await batchOutput(await sendBatch([req("small.bin", small), { ...req("large.bin", large), contentLength: 1024 }]));
    assert.deepEqual([out.copied, out.handedOff], [1, 1], JSON.stringify(out));
    assert.match(out.handOffs[0]?.reason ?? "", /^large: 8388608 bytes/);
    // The hand-off carries the request as the batch had it; the instance id does not depend on the size.
    const id = blobBackupInstanceId(req("large.bin", large));
    await waitFor(() => host.client.getStatus(id), { describe: `hand-off ${id} to start`, timeoutMs: 60_000 });
    const single = await host.client.waitForCompletion(id, { timeoutMs: 120_000 });
    assert.equal(single.runtimeStatus, "Completed", JSON.stringify(single.output));
    assert.equal((single.output as { status: string }).status, "Copied");
    assert.equal(await heldEtag(backup, "large.bin"), large.etag);
    assert.equal((await backup.getBlobClient("large.bin").getProperties()).contentLength, 8 * 1024 * 1024);
  });

  it("moves a batch for another account or with an unsafe name to the poison queue with the reason, starting nothing", async () => {
    const poison = new QueueClient(azurite.settings.AzureWebJobsStorage, `${QUEUE}-poison`);
    const version = { blob: "x", etag: '"0x1"', lastModified: "2026-11-30T00:00:00.000Z", contentLength: 1 };
    const head = { v: 2, account: azurite.accounts.lake.name, container: "batch-refused", reason: "producer", requestedAt: "2026-11-30T00:00:01.000Z" };
    const bad = [
      { ...head, account: azurite.accounts.backup.name, versions: [version] },
      { ...head, versions: [version, { ...version, blob: "a/../../etc" }] },
    ];
    for (const m of bad) await queue.sendMessage(Buffer.from(JSON.stringify(m)).toString("base64"));
    const reasons = await waitFor(
      async () => {
        // The trigger creates the poison queue with its first entry.
        if (!(await poison.exists())) return [];
        const peeked = await poison.peekMessages({ numberOfMessages: 32 });
        return peeked.peekedMessageItems
          .map((p) => JSON.parse(Buffer.from(p.messageText, "base64").toString("utf8")) as { reason: string; message: { container?: string } })
          .filter((p) => p.message.container === "batch-refused")
          .map((p) => p.reason);
      },
      { until: (r) => r.length === 2, describe: "both batches in the poison queue", timeoutMs: 60_000 },
    );
    assert.ok(reasons.some((r) => /is not the configured lake account/.test(r)), reasons.join(" | "));
    assert.ok(reasons.some((r) => /^invalid backup batch: versions\.1\.blob/.test(r)), reasons.join(" | "));
    assert.equal((await host.client.listInstances()).filter((i) => JSON.stringify(i.input).includes("batch-refused")).length, 0);
  });

  it("backs up tricky names exactly, byte for byte", async () => {
    const { lake, backup } = await containers("batch-names");
    const names = ["a", "a/b", "a0", "with space", "ünï/código 語", "100%", "50%25", "#hash", "?q=1", "a/b/c#d?e"];
    const requests: BackupRequest[] = [];
    for (const n of names) requests.push(requestFor(azurite.accounts.lake.name, "batch-names", n, await writeAndSnapshot(lake, n, `bytes of ${n}`)));
    const out = await batchOutput(await sendBatch(requests));
    assert.equal(out.copied, names.length, JSON.stringify(out));
    const listed: string[] = [];
    for await (const b of backup.listBlobsFlat()) listed.push(b.name);
    assert.deepEqual(listed.sort(), [...names].sort());
    for (const n of names) {
      assert.equal((await backup.getBlobClient(n).downloadToBuffer()).toString(), `bytes of ${n}`);
    }
  });
});
