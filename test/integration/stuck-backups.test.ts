/**
 * Reconciliation sees what is stuck, through the local host (virtual clock) against Azurite: a blob backup that failed
 * and whose source blob is still leased with its lease id (a stray holder of the app's id), and a backup left Running
 * (its copy held in the storage pipeline) long past COPY_TIMEOUT_MINUTES while its copy activity keeps renewing the
 * lease. A dry run lists both, the leases and the counts in its status, and repairs nothing; a run that is not dry
 * terminates the stuck one, releases the leases and sends both requests again, the queue trigger restarts them, and
 * the next run finds the lake in sync with nothing stuck. The same for batch backups (the small versions' path): a
 * terminated batch and one left Running are found, and the repair sends each batch's own message again, so the same
 * batch instances restart and complete.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { type BlobClient, BlobServiceClient, type ContainerClient } from "@azure/storage-blob";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { type LocalHost, startLocalHost } from "../../local-host";
import { backupLeaseId } from "../../src/domain/backup-lease-id";
import type { BackupBatch } from "../../src/domain/backup-request";
import { BackupMetadata, blobBackupInstanceId } from "../../src/domain/blob-backup";
import { blobBatchInstanceId } from "../../src/domain/blob-batch-backup";
import type { ReconciliationReport } from "../../src/domain/reconciliation";
import { Orchestrators } from "../../src/function-names";
import type { ReconciliationInput } from "../../src/orchestrators/reconciliation";
import { runtime } from "../../src/runtime";
import { backupDestinationOf } from "../../src/storage/backup-target";
import { requestFor, writeAndSnapshot, writeLive } from "../support/blob-backup-fixtures";
import { addPipelinePolicy } from "../support/scan-fixtures";
import { isCopyWrite } from "../support/storage-faults";
import { waitFor } from "../support/wait-for";

const CONTAINER = "stuck-lake";
const BATCH_CONTAINER = "stuck-batches";
const FOREIGN_LEASE = "0f0f0f0f-0000-4000-8000-00000000beef";

describe("reconciliation reports and repairs failed and stuck backups (local host, virtual clock)", { timeout: 300_000 }, () => {
  let azurite: AzuriteInstance;
  let host: LocalHost;
  let lake: ContainerClient;
  let backup: ContainerClient;
  /**
   * The first copy write of each blob named here waits at its gate (the backup stays Running) until the test opens it;
   * the restarted backup's write goes through.
   */
  const holds = new Map<string, { reached: boolean; gate: Promise<void>; open: () => void }>();
  function hold(blob: string): { reached: boolean; open: () => void } {
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const held = { reached: false, gate, open };
    holds.set(blob, held);
    return held;
  }

  before(async () => {
    azurite = await startAzurite();
    host = await startLocalHost({
      settings: { ...azurite.settings, BACKUP_QUEUE: "stuck-requests", BLOB_LEASE: "true", LEASE_SECONDS: "15", COPY_TIMEOUT_MINUTES: "1" },
      queuePollMs: 50,
      timerSchedules: false,
      clock: "virtual",
    });
    lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage).getContainerClient(CONTAINER);
    backup = BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage).getContainerClient(backupDestinationOf(runtime().settings, CONTAINER).container);
    await lake.create();
    addPipelinePolicy(runtime().clients.backup.service, {
      name: "hold-a-copy",
      async sendRequest(request, next) {
        const blob = decodeURIComponent(new URL(request.url).pathname.split("/").slice(3).join("/"));
        const held = isCopyWrite(request) ? holds.get(blob) : undefined;
        if (held !== undefined && !held.reached) {
          held.reached = true;
          await held.gate;
        }
        return next(request);
      },
    });
  });
  after(async () => {
    for (const held of holds.values()) held.open();
    await host?.stop();
    await azurite?.stop();
  });

  const leaseState = async (blob: BlobClient) => (await blob.getProperties()).leaseState;
  async function reconcile(instanceId: string, dryRun: boolean, container = CONTAINER): Promise<{ report: ReconciliationReport; customStatus: unknown }> {
    const input: ReconciliationInput = { dryRun, startedBy: "http", containers: [container] };
    await host.client.startNew(Orchestrators.reconciliation, { instanceId, input });
    const status = await host.client.waitForCompletion(instanceId, { timeoutMs: 120_000 });
    assert.equal(status.runtimeStatus, "Completed", JSON.stringify(status.output));
    return { report: status.output as ReconciliationReport, customStatus: status.customStatus };
  }

  it("lists both with their leases, then restarts them and releases the leases; the next run is in sync", async () => {
    const account = azurite.accounts.lake.name;
    // A backup that failed: the blob was leased by someone else through every attempt.
    const a = lake.getBlobClient("a.csv");
    const requestA = requestFor(account, CONTAINER, "a.csv", await writeLive(lake, "a.csv", "content of a"));
    const idA = blobBackupInstanceId(requestA);
    await a.getBlobLeaseClient(FOREIGN_LEASE).acquireLease(-1);
    await host.client.startNew(Orchestrators.blobBackup, { instanceId: idA, input: { request: requestA } });
    assert.equal((await host.client.waitForCompletion(idA, { timeoutMs: 60_000 })).runtimeStatus, "Failed");
    await a.getBlobLeaseClient(FOREIGN_LEASE).releaseLease();
    // ...and a lease with that backup's own id outlives it (what a stray renewal would leave).
    await a.getBlobLeaseClient(backupLeaseId(idA)).acquireLease(-1);

    // A backup stuck in its copy, whose activity keeps renewing the lease.
    const b = lake.getBlobClient("b.csv");
    const requestB = requestFor(account, CONTAINER, "b.csv", await writeLive(lake, "b.csv", "content of b"));
    const idB = blobBackupInstanceId(requestB);
    const held = hold("b.csv");
    await host.client.startNew(Orchestrators.blobBackup, { instanceId: idB, input: { request: requestB } });
    await waitFor(() => held.reached, { describe: "the copy of b.csv to be held", timeoutMs: 60_000 });
    assert.equal(await leaseState(b), "leased");

    // Past COPY_TIMEOUT_MINUTES (1) and LEASE_SECONDS (15) on the host's clock.
    await host.advanceTime(3 * 60_000);

    const dry = await reconcile("reconciliation-dry", true);
    const found = dry.report.backups;
    assert.ok(found !== undefined);
    assert.deepEqual(
      { failed: found.failed, stuck: found.stuck, leasesHeld: found.leasesHeld, requested: found.requested, terminated: found.terminated, leasesReleased: found.leasesReleased },
      { failed: 1, stuck: 1, leasesHeld: 2, requested: 0, terminated: 0, leasesReleased: 0 },
    );
    assert.deepEqual(
      found.samples.map((s) => [s.instanceId, s.blob, s.why, s.runtimeStatus, s.leaseHeld, s.action]).sort(),
      [
        [idA, "a.csv", "failed", "Failed", true, undefined],
        [idB, "b.csv", "stuck", "Running", true, undefined],
      ].sort(),
    );
    assert.match(found.samples.find((s) => s.blob === "a.csv")?.error ?? "", /leased by someone else/);
    assert.equal(dry.report.inSync, false);
    const { failedBackups, stuckBackups, leasesHeld } = dry.customStatus as Record<string, unknown>;
    assert.deepEqual({ failedBackups, stuckBackups, leasesHeld }, { failedBackups: 1, stuckBackups: 1, leasesHeld: 2 }, "the counts are in the status");
    assert.equal((await host.client.getStatus(idB))?.runtimeStatus, "Running", "a dry run repairs nothing");
    assert.equal(await leaseState(a), "leased");

    const repaired = (await reconcile("reconciliation", false)).report.backups;
    assert.ok(repaired !== undefined);
    // The container's own requests may restart the failed backup first (the queue trigger restarts a Failed
    // instance), which then takes over its lease; the stuck one only this step can restart.
    assert.equal(repaired.stuck, 1);
    assert.equal(repaired.terminated, 1);
    assert.ok(repaired.leasesReleased >= 1, JSON.stringify(repaired));
    assert.equal(repaired.samples.find((s) => s.blob === "b.csv")?.action, "terminatedAndRequested");

    for (const [id, request] of [[idA, requestA], [idB, requestB]] as const) {
      await waitFor(() => host.client.getStatus(id), {
        describe: `the backup of ${request.blob} to be restarted and complete`,
        timeoutMs: 60_000,
        until: (s) => s?.runtimeStatus === "Completed",
      });
      // Copied by the restart (or, when the container's request restarted it once more, Skipped: already held).
      const copy = backup.getBlobClient(request.blob);
      assert.equal((await copy.getProperties()).metadata?.[BackupMetadata.etag], request.etag);
      assert.equal((await copy.downloadToBuffer()).toString(), `content of ${request.blob.slice(0, 1)}`);
    }
    // The stuck copy lets go; its lease renewals stop (the lease was released), so nothing of ours stays on the lake.
    held.open();
    for (const blob of [a, b]) {
      await waitFor(() => leaseState(blob), { describe: `no lease left on ${blob.name}`, timeoutMs: 60_000, until: (s) => s !== "leased" });
    }

    const after = await reconcile("reconciliation-after", false);
    assert.equal(after.report.inSync, true, JSON.stringify(after.report.backups));
    assert.deepEqual([after.report.backups?.failed, after.report.backups?.stuck, after.report.backups?.leasesHeld], [0, 0, 0]);
  });

  it("lists a terminated and a stuck batch backup, then sends each batch's own message again: the same instances restart and complete", async () => {
    const account = azurite.accounts.lake.name;
    const lakeB = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage).getContainerClient(BATCH_CONTAINER);
    const backupB = BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage).getContainerClient(backupDestinationOf(runtime().settings, BATCH_CONTAINER).container);
    await lakeB.create();
    // Snapshot versions, which a batch never leases: what is left to repair is the instances alone.
    const batchOf = async (blob: string): Promise<BackupBatch> => {
      const { v: _v, account: _a, container: _c, blob: name, reason, requestedAt, ...version } = requestFor(account, BATCH_CONTAINER, blob, await writeAndSnapshot(lakeB, blob, `content of ${blob}`));
      return { v: 2, account, container: BATCH_CONTAINER, reason, requestedAt, versions: [{ blob: name, ...version }] };
    };
    const terminatedBatch = await batchOf("c.csv");
    const stuckBatch = await batchOf("d.csv");
    const idC = blobBatchInstanceId(terminatedBatch);
    const idD = blobBatchInstanceId(stuckBatch);
    const heldC = hold("c.csv");
    const heldD = hold("d.csv");
    await host.client.startNew(Orchestrators.blobBatchBackup, { instanceId: idC, input: { batch: terminatedBatch } });
    await host.client.startNew(Orchestrators.blobBatchBackup, { instanceId: idD, input: { batch: stuckBatch } });
    await waitFor(() => heldC.reached && heldD.reached, { describe: "both batches' copies to be held", timeoutMs: 60_000 });
    await host.client.terminate(idC, "the test ends this batch");
    await waitFor(() => host.client.getStatus(idC), { describe: "the batch to show Terminated", timeoutMs: 60_000, until: (s) => s?.runtimeStatus === "Terminated" });

    // Past COPY_TIMEOUT_MINUTES (1) on the host's clock.
    await host.advanceTime(3 * 60_000);

    const dry = (await reconcile("reconciliation-batches-dry", true, BATCH_CONTAINER)).report.backups;
    assert.ok(dry !== undefined);
    assert.deepEqual([dry.failed, dry.stuck, dry.leasesHeld, dry.requested], [1, 1, 0, 0]);
    assert.deepEqual(
      dry.samples.map((s) => [s.instanceId, s.blob, s.batchVersions, s.why, s.runtimeStatus, s.leaseHeld, s.action]).sort(),
      [
        [idC, "c.csv", 1, "failed", "Terminated", false, undefined],
        [idD, "d.csv", 1, "stuck", "Running", false, undefined],
      ].sort(),
    );

    const repaired = (await reconcile("reconciliation-batches", false, BATCH_CONTAINER)).report.backups;
    assert.ok(repaired !== undefined);
    assert.deepEqual([repaired.failed, repaired.stuck, repaired.terminated, repaired.requested], [1, 1, 1, 2], JSON.stringify(repaired));
    assert.deepEqual(repaired.samples.map((s) => [s.blob, s.action]).sort(), [["c.csv", "requested"], ["d.csv", "terminatedAndRequested"]]);
    for (const [id, batch] of [[idC, terminatedBatch], [idD, stuckBatch]] as const) {
      // Restarted under the same id by the queue trigger (a batch sent again as single requests would leave it Terminated).
      await waitFor(() => host.client.getStatus(id), { describe: `batch ${batch.versions[0]?.blob} to be restarted and complete`, timeoutMs: 60_000, until: (s) => s?.runtimeStatus === "Completed" });
      const blob = batch.versions[0]?.blob ?? "";
      assert.equal((await backupB.getBlobClient(blob).downloadToBuffer()).toString(), `content of ${blob}`);
    }
    heldC.open();
    heldD.open();

    const after = await reconcile("reconciliation-batches-after", false, BATCH_CONTAINER);
    assert.deepEqual([after.report.backups?.failed, after.report.backups?.stuck], [0, 0], JSON.stringify(after.report.backups));
    assert.equal(after.report.inSync, true);
  });
});
