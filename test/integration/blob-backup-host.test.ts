/**
 * The queue-triggered blob backup through the local Durable host, Azurite and the `server` engine: message in, verified
 * backup out; duplicates, out-of-order versions, stale live requests, invalid messages, failures that fail the
 * instance, and an instance started with a forged input.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import type { ContainerClient } from "@azure/storage-blob";
import { BlobServiceClient } from "@azure/storage-blob";
import { QueueClient } from "@azure/storage-queue";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { type LocalHost, startLocalHost } from "../../local-host";
import { encodeBackupRequest } from "../../src/domain/backup-request";
import { BackupMetadata, blobBackupInstanceId, type BlobBackupOutput } from "../../src/domain/blob-backup";
import { Activities, Orchestrators } from "../../src/function-names";
import { runtime } from "../../src/runtime";
import { requestFor, writeAndSnapshot, writeLive } from "../support/blob-backup-fixtures";
import { addPipelinePolicy } from "../support/scan-fixtures";
import { answerWith, isCopyWrite } from "../support/storage-faults";
import { afterSecondOf, waitFor } from "../support/wait-for";

const QUEUE = "backup-requests";

describe("blob backup through the local host (server engine)", { timeout: 600_000 }, () => {
  let azurite: AzuriteInstance;
  let host: LocalHost;
  let queue: QueueClient;
  let lake: ContainerClient;
  let backup: ContainerClient;
  const container = "lake-host";
  let refuseCopies = false;
  /** What the app's functions logged (functionLogs prints each line through console.log, captured here). */
  const logged: string[] = [];
  const consoleLog = console.log;
  const refuse = answerWith(isCopyWrite, 403, "CannotVerifyCopySource");

  before(async () => {
    console.log = (...args: unknown[]) => void logged.push(args.map(String).join(" "));
    azurite = await startAzurite();
    host = await startLocalHost({
      settings: { ...azurite.settings, BACKUP_QUEUE: QUEUE, RECONCILE_SCHEDULE: "0 0 2 * * *" },
      queuePollMs: 50,
      timerSchedules: false,
      functionLogs: true,
    });
    // The app runs in this process: this is the very backup client its copy activity uses. Off unless a test arms it.
    addPipelinePolicy(runtime().clients.backup.service, {
      name: "refuse-copies-when-armed",
      sendRequest: (request, next) => (refuseCopies ? refuse.sendRequest(request, next) : next(request)),
    });
    queue = new QueueClient(azurite.settings.AzureWebJobsStorage, QUEUE);
    await queue.createIfNotExists();
    lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage).getContainerClient(container);
    await lake.create();
    backup = BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage).getContainerClient(container);
  });
  after(async () => {
    console.log = consoleLog;
    await host.stop();
    await azurite.stop();
  });

  const req = (name: string, v: Parameters<typeof requestFor>[3]) => requestFor(azurite.accounts.lake.name, container, name, v);
  async function outputOf(id: string): Promise<BlobBackupOutput> {
    const status = await host.client.waitForCompletion(id, { timeoutMs: 30_000 });
    assert.equal(status.runtimeStatus, "Completed", JSON.stringify(status));
    return status.output as BlobBackupOutput;
  }

  it("turns a queued request into a verified backup with the backup_source_* metadata", async () => {
    const v = await writeAndSnapshot(lake, "one.txt", "hello backup", { owner: "a" });
    const request = req("one.txt", v);
    await queue.sendMessage(encodeBackupRequest(request));
    const out = await outputOf(await waitForInstance(blobBackupInstanceId(request)));
    assert.equal(out.status, "Copied", out.reason);
    assert.equal(out.engine, "server");
    assert.equal(out.bytes, v.contentLength);
    assert.match(out.reason, /verified: length, version and Content-MD5/);
    const p = await backup.getBlobClient("one.txt").getProperties();
    assert.equal(p.metadata?.[BackupMetadata.etag], v.etag);
    assert.equal(p.metadata?.[BackupMetadata.snapshot], v.snapshot);
    assert.equal(p.metadata?.owner, "a");
  });

  it("copies once for duplicate messages", async () => {
    const v = await writeAndSnapshot(lake, "dup.txt", "dup");
    const request = req("dup.txt", v);
    const message = encodeBackupRequest(request);
    await Promise.all([queue.sendMessage(message), queue.sendMessage(message), queue.sendMessage(message)]);
    const id = blobBackupInstanceId(request);
    await waitForInstance(id);
    // All three deliveries were handled: the queue's count includes messages in flight, and a message leaves the queue
    // only once its function succeeded.
    await waitFor(async () => (await queue.getProperties()).approximateMessagesCount, { until: (n) => n === 0, describe: "the three messages to be consumed", timeoutMs: 30_000 });
    const out = await outputOf(id);
    assert.equal(out.status, "Copied");
    const status = await host.client.getStatus(id, { showHistory: true });
    const copies = (status?.historyEvents ?? []).filter((e) => e.EventType === "TaskScheduled" && e.Name === Activities.copyBlobServerSide);
    assert.equal(copies.length, 1);
    const entries = [];
    for await (const b of backup.listBlobsFlat({ prefix: "dup.txt", includeSnapshots: true })) entries.push(b);
    assert.equal(entries.length, 1, "one backup blob, no history snapshot from a second copy");
  });

  it("ends on the newer version when two versions arrive out of order", async () => {
    const v1 = await writeAndSnapshot(lake, "order.txt", "older");
    await afterSecondOf(v1.lastModified);
    const v2 = await writeAndSnapshot(lake, "order.txt", "newer");
    const r1 = req("order.txt", v1);
    const r2 = req("order.txt", v2);
    await queue.sendMessage(encodeBackupRequest(r2));
    assert.equal((await outputOf(await waitForInstance(blobBackupInstanceId(r2)))).status, "Copied");
    await queue.sendMessage(encodeBackupRequest(r1));
    const late = await outputOf(await waitForInstance(blobBackupInstanceId(r1)));
    assert.equal(late.status, "Skipped");
    assert.match(late.reason, /superseded/);
    assert.equal((await backup.getBlobClient("order.txt").downloadToBuffer()).toString(), "newer");
  });

  it("keeps the first version as a backup snapshot when the second arrives", async () => {
    const v1 = await writeAndSnapshot(lake, "two.txt", "first");
    const r1 = req("two.txt", v1);
    await queue.sendMessage(encodeBackupRequest(r1));
    await outputOf(await waitForInstance(blobBackupInstanceId(r1)));
    await afterSecondOf(v1.lastModified);
    const v2 = await writeAndSnapshot(lake, "two.txt", "second");
    const r2 = req("two.txt", v2);
    await queue.sendMessage(encodeBackupRequest(r2));
    assert.equal((await outputOf(await waitForInstance(blobBackupInstanceId(r2)))).status, "Copied");
    const snapshots = [];
    for await (const b of backup.listBlobsFlat({ prefix: "two.txt", includeSnapshots: true, includeMetadata: true })) if (b.snapshot) snapshots.push(b);
    assert.equal(snapshots.length, 1);
    assert.equal(snapshots[0]?.metadata?.[BackupMetadata.etag], v1.etag);
  });

  it("finishes a stale live request as Skipped", async () => {
    const v = await writeLive(lake, "stale.txt", "old");
    await writeLive(lake, "stale.txt", "new");
    const request = req("stale.txt", v);
    await queue.sendMessage(encodeBackupRequest(request));
    const out = await outputOf(await waitForInstance(blobBackupInstanceId(request)));
    assert.equal(out.status, "Skipped");
    assert.match(out.reason, /stale/);
  });

  it("moves an invalid message to the poison queue with its reason, without retries", async () => {
    const poison = new QueueClient(azurite.settings.AzureWebJobsStorage, `${QUEUE}-poison`);
    await queue.sendMessage(Buffer.from(JSON.stringify({ v: 1, account: "datalake1", container: "Bad_Name" })).toString("base64"));
    type Poisoned = { reason: string; message: unknown; dequeueCount: unknown };
    const poisoned = async (): Promise<Poisoned[]> => {
      if (!(await poison.exists())) return [];
      const peeked = await poison.peekMessages({ numberOfMessages: 32 });
      return peeked.peekedMessageItems.map((m) => JSON.parse(Buffer.from(m.messageText, "base64").toString("utf8")) as Poisoned);
    };
    const bodies = await waitFor(poisoned, {
      until: (found) => found.some((b) => JSON.stringify(b.message).includes("Bad_Name")),
      describe: "the invalid message in the poison queue",
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    const ours = bodies.find((b) => JSON.stringify(b.message).includes("Bad_Name"));
    assert.ok(ours, JSON.stringify(bodies));
    assert.match(ours.reason, /container: must be a container name/);
    assert.match(ours.reason, /blob/);
    assert.equal(ours.dequeueCount, 1, "handled on the first delivery, not after five blind retries");
    assert.equal((await queue.peekMessages()).peekedMessageItems.length, 0, "the original is gone from the queue");
  });

  it("fails the instance of a backup that could not be done, with its reason, and a re-sent request restarts it", async () => {
    const v = await writeAndSnapshot(lake, "refused.txt", "the source may not be read");
    const request = req("refused.txt", v);
    const id = blobBackupInstanceId(request);
    refuseCopies = true;
    let status;
    try {
      await queue.sendMessage(encodeBackupRequest(request));
      status = await host.client.waitForCompletion(await waitForInstance(id), { timeoutMs: 30_000 });
    } finally {
      refuseCopies = false;
    }
    assert.equal(status.runtimeStatus, "Failed", JSON.stringify(status));
    assert.match(String(status.output), /the copy source is not readable \(HTTP 403\)/);
    assert.ok(logged.some((line) => /\[BlobBackupOrchestrator\] error: backup of "lake-host\/refused.txt" failed: the copy source is not readable/.test(line)), logged.join("\n"));
    assert.equal((await host.client.listInstances({ runtimeStatus: ["Failed"], instanceIdPrefix: id })).length, 1, "found by a runtimeStatus=Failed query");

    await queue.sendMessage(encodeBackupRequest(request));
    const deadline = Date.now() + 30_000;
    let again = await host.client.getStatus(id);
    while (again?.runtimeStatus !== "Completed" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      again = await host.client.getStatus(id);
    }
    assert.equal(again?.runtimeStatus, "Completed", JSON.stringify(again));
    assert.equal((again?.output as BlobBackupOutput).status, "Copied");
  });

  it("takes the backup container and history from the settings, whatever a forged input says", async () => {
    const v1 = await writeAndSnapshot(lake, "forged.txt", "v1");
    const r1 = req("forged.txt", v1);
    await queue.sendMessage(encodeBackupRequest(r1));
    assert.equal((await outputOf(await waitForInstance(blobBackupInstanceId(r1)))).status, "Copied");
    await afterSecondOf(v1.lastModified);
    const v2 = await writeAndSnapshot(lake, "forged.txt", "v2");
    // What an earlier version of the app put into the input, now forged: another container, no history, no time limit.
    const forged = {
      request: req("forged.txt", v2),
      options: {
        engine: "server",
        backupContainer: "forged-target",
        backupHistory: "versioning",
        blobLease: false,
        leaseSeconds: 60,
        copyPollSeconds: 1,
        copyTimeoutMinutes: 5_000_000,
      },
    };
    const out = await outputOf(await host.client.startNew(Orchestrators.blobBackup, { input: forged }));
    assert.equal(out.status, "Copied", out.reason);
    const backupAccount = BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage);
    assert.equal(await backupAccount.getContainerClient("forged-target").exists(), false, "nothing written where the input pointed");
    const history = [];
    for await (const b of backup.listBlobsFlat({ prefix: "forged.txt", includeSnapshots: true, includeMetadata: true })) history.push(b);
    assert.deepEqual(history.filter((b) => b.snapshot).map((b) => b.metadata?.[BackupMetadata.etag]), [v1.etag], "v1 kept as a snapshot (BACKUP_HISTORY=snapshot)");
    assert.equal(history.find((b) => !b.snapshot)?.metadata?.[BackupMetadata.etag], v2.etag);
  });

  async function waitForInstance(id: string): Promise<string> {
    await waitFor(() => host.client.getStatus(id), { describe: `instance ${id} to start`, timeoutMs: 30_000 });
    return id;
  }
});
