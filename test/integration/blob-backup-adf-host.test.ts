/**
 * The blob backup with COPY_ENGINE=adf and BLOB_LEASE=true end to end: queue → local host → the app's real ADF client
 * and credential chain → the HTTPS ARM fake → a real copy in Azurite → verification → the lease released. Live
 * (ETag-pinned) versions are copied under a lease; snapshots need none.
 *
 * TLS trust: NODE_EXTRA_CA_CERTS is read only at process start, so the host and app run in a child process
 * (test/support/host-child.ts) started with NODE_EXTRA_CA_CERTS pointing at the certificate made in `before`; this
 * process runs Azurite and the fake. No test hook in the product: it builds its ADF client exactly as in Azure.
 * Two hosts share them: one on the real clock, and one on the virtual clock for the copy timeout, each on its own queue.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { QueueClient } from "@azure/storage-queue";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { STAGING_CONTAINER } from "../../src/copy/adf-pipeline";
import { encodeBackupRequest } from "../../src/domain/backup-request";
import { BackupMetadata, blobBackupInstanceId, type BlobBackupOutput } from "../../src/domain/blob-backup";
import { Activities } from "../../src/function-names";
import { makeSelfSignedCert, type SelfSignedCert } from "../support/adf-fake/cert";
import { adfEngineSettings, type AdfFake, FAKE_FACTORY, startAdfFake } from "../support/adf-fake/fake";
import { requestFor, writeAndSnapshot, writeLive } from "../support/blob-backup-fixtures";
import { type HostChild, startHostChild } from "../support/host-child";
import { afterSecondOf, waitFor } from "../support/wait-for";

const QUEUE = "backup-requests";
/** The virtual-clock host's own queue, so the two hosts never take each other's messages. */
const VIRTUAL_QUEUE = "backup-requests-virtual";
const ADF = FAKE_FACTORY;
const LEASE_SECONDS = 15;

interface Lane {
  readonly host: HostChild;
  readonly queue: QueueClient;
}

describe("blob backup through the local host (adf engine, lease mode)", { timeout: 600_000 }, () => {
  let azurite: AzuriteInstance;
  let cert: SelfSignedCert;
  let fake: AdfFake;
  /** Real durable timers, for runs that take real time. */
  let real: Lane;
  /** Durable timers fire as soon as the host is idle: a one-minute copy timeout passes in a moment. */
  let virtual: Lane;
  let lake: ContainerClient;
  let backup: ContainerClient;
  const container = "lake-adf-host";

  before(async () => {
    azurite = await startAzurite();
    cert = makeSelfSignedCert();
    fake = await startAdfFake({
      ...ADF,
      cert: cert.cert,
      key: cert.key,
      sourceConnectionString: azurite.settings.SourceStorage,
      backupConnectionString: azurite.settings.BackupStorage,
      queuedMs: 100,
      runMs: 400,
    });
    const settings = {
      ...azurite.settings,
      RECONCILE_SCHEDULE: "0 0 2 * * *",
      ...adfEngineSettings(fake),
      BLOB_LEASE: "true",
      LEASE_SECONDS: String(LEASE_SECONDS),
      COPY_POLL_SECONDS: "1",
      COPY_TIMEOUT_MINUTES: "1",
    };
    const env = { NODE_EXTRA_CA_CERTS: cert.certPath, IDENTITY_ENDPOINT: fake.identityEndpoint, IDENTITY_HEADER: fake.identityHeader };
    const lane = async (queueName: string, clock: "real" | "virtual"): Promise<Lane> => {
      const queue = new QueueClient(azurite.settings.AzureWebJobsStorage, queueName);
      await queue.createIfNotExists();
      return { host: await startHostChild({ ...settings, BACKUP_QUEUE: queueName }, env, { clock }), queue };
    };
    [real, virtual] = await Promise.all([lane(QUEUE, "real"), lane(VIRTUAL_QUEUE, "virtual")]);
    lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage).getContainerClient(container);
    await lake.create();
    backup = BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage).getContainerClient(container);
  });
  after(async () => {
    await Promise.all([real?.host.stop(), virtual?.host.stop()]);
    await fake?.stop();
    await azurite?.stop();
    cert?.remove();
  });

  /** Writes a live version and queues its request; returns the orchestration's instance id. */
  async function send(name: string, content = `content of ${name}`, lane = real) {
    const v = await writeLive(lake, name, content);
    const request = requestFor(azurite.accounts.lake.name, container, name, v);
    await lane.queue.sendMessage(encodeBackupRequest(request));
    return { id: blobBackupInstanceId(request), version: v, request };
  }

  /**
   * Waits for the outcome; checks that the version was copied under a lease and that no lease is left. A backup that
   * failed has runtime status Failed and its reason as the output.
   */
  async function settle(id: string, name: string, lane = real, timeoutMs = 60_000) {
    const status = await lane.host.waitForCompletion(id, timeoutMs);
    const lease = await lake.getBlobClient(name).getProperties();
    assert.equal(lease.leaseState, "available", "no lease left behind");
    // The polls and renewals of the run happen in AdfRunMonitor sub-orchestrations (<id>:adf:<n>): their activities count too.
    const names = (status.historyEvents ?? []).filter((e) => e.EventType === "TaskScheduled").map((e) => e.Name);
    const monitors = (status.historyEvents ?? []).filter((e) => e.EventType === "SubOrchestrationInstanceCreated");
    for (const monitor of monitors) {
      const child = await lane.host.status(monitor.InstanceId ?? "");
      names.push(...(child?.historyEvents ?? []).filter((e) => e.EventType === "TaskScheduled").map((e) => e.Name));
    }
    assert.ok(names.includes(Activities.acquireBlobLease) && names.includes(Activities.releaseBlobLease), names.join(","));
    return { status, names };
  }
  async function finish(id: string, name: string, lane = real) {
    const { status, names } = await settle(id, name, lane);
    assert.equal(status.runtimeStatus, "Completed", lane.host.log());
    return { output: status.output as BlobBackupOutput, names };
  }
  async function backupOf(name: string, content?: string, lane = real) {
    const sent = await send(name, content, lane);
    return { ...(await finish(sent.id, name, lane)), ...sent };
  }
  /** The failure reason of a backup that failed; its run id is in the custom status. */
  async function failureOf(name: string, content?: string, lane = real) {
    const sent = await send(name, content, lane);
    const { status, names } = await settle(sent.id, name, lane);
    assert.equal(status.runtimeStatus, "Failed", JSON.stringify(status.output));
    const runId = (status.customStatus as { runId?: string } | undefined)?.runId;
    return { ...sent, names, reason: String(status.output), runId };
  }
  const runsOf = (requestId: string | undefined) => [...fake.runs.values()].filter((r) => r.parameters.requestId === requestId);

  it("copies by an ADF run, holding the lease through a run longer than the lease, and releases it", async () => {
    let release: () => void = () => undefined;
    fake.nextRun({ outcome: "Held", release: new Promise<void>((resolve) => (release = resolve)) });
    const { id, version } = await send("slow.txt", "slow copy");
    try {
      // The run starts after the lease was acquired; once the lease's own duration has passed since then, the lease
      // must still be ours — renewed by the orchestration while the run goes on.
      const runStarted = await waitFor(
        async () => (await real.host.status(id))?.historyEvents?.find((e) => e.EventType === "TaskScheduled" && e.Name === Activities.startAdfCopyRun)?.Timestamp,
        { describe: "the ADF run to be started", timeoutMs: 30_000 },
      );
      await waitFor(() => Date.now() > Date.parse(runStarted ?? "") + (LEASE_SECONDS + 1) * 1000, {
        describe: "the first lease period to pass",
        timeoutMs: (LEASE_SECONDS + 10) * 1000,
        intervalMs: 250,
      });
      const during = await lake.getBlobClient("slow.txt").getProperties();
      assert.equal((await real.host.status(id))?.runtimeStatus, "Running", "the run was still going");
      assert.equal(during.leaseState, "leased");
      assert.equal(during.leaseStatus, "locked");
    } finally {
      release();
    }
    const { output, names } = await finish(id, "slow.txt");
    assert.equal(output.status, "Copied", output.reason);
    assert.equal(output.engine, "adf");
    assert.ok(output.runId);
    assert.ok(names.filter((n) => n === Activities.renewBlobLease).length >= 2, "renewed during the run");
    const p = await backup.getBlobClient("slow.txt").getProperties();
    assert.equal(p.metadata?.[BackupMetadata.etag], version.etag);
    assert.equal(p.metadata?.[BackupMetadata.engine], "adf");
    assert.equal((await backup.getBlobClient("slow.txt").downloadToBuffer()).toString(), "slow copy");
    const staging = BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage).getContainerClient(STAGING_CONTAINER);
    const staged = fake.runs.get(output.runId ?? "")?.parameters.backupPath ?? "";
    assert.equal(await staging.getBlobClient(staged).exists(), false, "the staging blob is removed after the commit");
  });

  it("duplicate messages start one ADF run (a snapshot: no lease); a second version keeps the first as a backup snapshot", async () => {
    const v1 = await writeAndSnapshot(lake, "versions.txt", "first");
    const r1 = requestFor(azurite.accounts.lake.name, container, "versions.txt", v1);
    const message = encodeBackupRequest(r1);
    await Promise.all([real.queue.sendMessage(message), real.queue.sendMessage(message)]);
    const first = await real.host.waitForCompletion(blobBackupInstanceId(r1), 60_000);
    assert.equal((first.output as BlobBackupOutput).status, "Copied");
    assert.ok(!(first.historyEvents ?? []).some((e) => e.Name === Activities.acquireBlobLease), "a snapshot is not leased");
    // Both deliveries were handled: the queue's count includes messages being processed (invisible), and a message
    // leaves the queue only when its function succeeded.
    await waitFor(async () => (await real.queue.getProperties()).approximateMessagesCount, { until: (n) => n === 0, describe: "both messages to be consumed", timeoutMs: 30_000 });
    assert.equal(runsOf(fake.runs.get((first.output as BlobBackupOutput).runId ?? "")?.parameters.requestId).length, 1);
    assert.equal([...fake.runs.values()].filter((r) => r.parameters.sourcePath === "versions.txt").length, 1, "one run for two messages");
    const again = await real.host.status(blobBackupInstanceId(r1));
    assert.equal(again?.historyEvents?.filter((e) => e.EventType === "TaskScheduled" && e.Name === Activities.startAdfCopyRun).length, 1, "the instance was not started again");

    await afterSecondOf(v1.lastModified);
    const { output } = await backupOf("versions.txt", "second");
    assert.equal(output.status, "Copied", output.reason);
    const snapshots = [];
    for await (const b of backup.listBlobsFlat({ prefix: "versions.txt", includeSnapshots: true, includeMetadata: true })) if (b.snapshot) snapshots.push(b);
    assert.equal(snapshots.length, 1);
    assert.equal(snapshots[0]?.metadata?.[BackupMetadata.etag], v1.etag);
  });

  it("two versions queued out of order end on the newer one; the older is Skipped as superseded without a run", async () => {
    const v1 = await writeAndSnapshot(lake, "order.txt", "older");
    await afterSecondOf(v1.lastModified);
    const v2 = await writeAndSnapshot(lake, "order.txt", "newer");
    const r1 = requestFor(azurite.accounts.lake.name, container, "order.txt", v1);
    const r2 = requestFor(azurite.accounts.lake.name, container, "order.txt", v2);
    await real.queue.sendMessage(encodeBackupRequest(r2));
    assert.equal(((await real.host.waitForCompletion(blobBackupInstanceId(r2), 60_000)).output as BlobBackupOutput).status, "Copied");
    await real.queue.sendMessage(encodeBackupRequest(r1));
    const late = (await real.host.waitForCompletion(blobBackupInstanceId(r1), 60_000)).output as BlobBackupOutput;
    assert.equal(late.status, "Skipped");
    assert.match(late.reason, /superseded/);
    assert.equal([...fake.runs.values()].filter((r) => r.parameters.sourcePath === "order.txt").length, 1);
    assert.equal((await backup.getBlobClient("order.txt").downloadToBuffer()).toString(), "newer");
  });

  it("ADF Failed → Failed with ADF's message, lease released", async () => {
    fake.nextRun({ outcome: "Failed", message: "ErrorCode=UserErrorFailedToConnectToHttpServer, Failed to connect" });
    const { reason, runId } = await failureOf("failed.txt");
    assert.match(reason, /ADF run Failed: ErrorCode=UserErrorFailedToConnectToHttpServer/);
    assert.ok(runId);
  });

  it("ADF Cancelled → Failed naming the cancellation, lease released", async () => {
    fake.nextRun({ outcome: "Cancelled" });
    const { reason } = await failureOf("cancelled.txt");
    assert.match(reason, /ADF run Cancelled/);
  });

  it("a run past COPY_TIMEOUT_MINUTES is cancelled → Failed, lease released (virtual clock)", async () => {
    fake.nextRun({ outcome: "Hang" });
    const { reason, runId, names } = await failureOf("timeout.txt", "never copied", virtual);
    assert.match(reason, /timed out after 1 min; the run was cancelled/);
    assert.ok(names.filter((n) => n === Activities.getAdfCopyRun).length >= 50, "polled every second of the minute");
    // The orchestration ends once ADF accepted the cancel; the run passes Canceling on its way to Cancelled.
    const run = fake.runs.get(runId ?? "");
    await waitFor(() => run?.status, { until: (status) => status === "Cancelled", describe: "the run to be cancelled", timeoutMs: 5_000, intervalMs: 20 });
  });

  it("a corrupt copy fails verification → Failed, lease released", async () => {
    fake.nextRun({ outcome: "Corrupt" });
    const { reason } = await failureOf("corrupt.txt");
    assert.match(reason, /verification failed: .*MD5/);
  });

  it("429 with Retry-After → waits as told, then copies", async () => {
    fake.injectFault("createRun", { kind: "status", status: 429, retryAfterSeconds: 2 });
    const { output, names } = await backupOf("throttled.txt");
    assert.equal(output.status, "Copied", output.reason);
    assert.equal(names.filter((n) => n === Activities.startAdfCopyRun).length, 2);
  });

  it("5xx → durable retry, then copies with a single run", async () => {
    fake.injectFault("createRun", { kind: "status", status: 500 });
    const { output } = await backupOf("5xx.txt");
    assert.equal(output.status, "Copied", output.reason);
    assert.equal(runsOf(fake.runs.get(output.runId ?? "")?.parameters.requestId).length, 1);
  });

  it("a lost createRun response → the retry finds the run: one run, Copied", async () => {
    fake.injectFault("createRun", { kind: "loseResponse" });
    const { output } = await backupOf("lost.txt");
    assert.equal(output.status, "Copied", output.reason);
    assert.equal(runsOf(fake.runs.get(output.runId ?? "")?.parameters.requestId).length, 1);
  });

  it("403 → Failed fast with the permission named", async () => {
    fake.injectFault("createRun", { kind: "status", status: 403 });
    const { reason, names, request } = await failureOf("forbidden.txt");
    assert.match(reason, /HTTP 403/);
    assert.equal(names.filter((n) => n === Activities.startAdfCopyRun).length, 1, "not retried");

    // Permission fixed, the request re-sent (as reconciliation would): the failed instance is started again.
    await real.queue.sendMessage(encodeBackupRequest(request));
    const id = blobBackupInstanceId(request);
    await waitFor(() => real.host.status(id), {
      until: (s) => (s?.output as BlobBackupOutput | undefined)?.status === "Copied",
      describe: "the re-sent request to copy",
      timeoutMs: 60_000,
      intervalMs: 200,
    });
  });

  it("unknown pipeline → Failed fast naming the setting to check", async () => {
    fake.setPipelineExists(false);
    try {
      const { reason } = await failureOf("nopipeline.txt");
      assert.match(reason, /HTTP 404.*ADF_PIPELINE/s);
    } finally {
      fake.setPipelineExists(true);
    }
  });
});
