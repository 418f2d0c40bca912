/**
 * Reconciliation sees what is stuck, through the local host (virtual clock) against Azurite: a blob backup that failed
 * and whose source blob is still leased with its lease id (a stray holder of the app's id), and a backup left Running
 * (its copy held in the storage pipeline) long past COPY_TIMEOUT_MINUTES while its copy activity keeps renewing the
 * lease. A dry run lists both, the leases and the counts in its status, and repairs nothing; a run that is not dry
 * terminates the stuck one, releases the leases and sends both requests again, the queue trigger restarts them, and
 * the next run finds the lake in sync with nothing stuck.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { type BlobClient, BlobServiceClient, type ContainerClient } from "@azure/storage-blob";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { type LocalHost, startLocalHost } from "../../local-host";
import { backupLeaseId } from "../../src/domain/backup-lease-id";
import { BackupMetadata, blobBackupInstanceId } from "../../src/domain/blob-backup";
import type { ReconciliationReport } from "../../src/domain/reconciliation";
import { Orchestrators } from "../../src/function-names";
import type { ReconciliationInput } from "../../src/orchestrators/reconciliation";
import { runtime } from "../../src/runtime";
import { backupDestinationOf } from "../../src/storage/backup-target";
import { requestFor, writeLive } from "../support/blob-backup-fixtures";
import { addPipelinePolicy } from "../support/scan-fixtures";
import { isCopyWrite } from "../support/storage-faults";
import { waitFor } from "../support/wait-for";

const CONTAINER = "stuck-lake";
const FOREIGN_LEASE = "0f0f0f0f-0000-4000-8000-00000000beef";

describe("reconciliation reports and repairs failed and stuck backups (local host, virtual clock)", { timeout: 300_000 }, () => {
  let azurite: AzuriteInstance;
  let host: LocalHost;
  let lake: ContainerClient;
  let backup: ContainerClient;
  /** A copy write of this blob waits at the gate (the backup stays Running); the test opens it at the end. */
  let hold: { blob: string; reached: boolean } | undefined;
  let openGate: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (openGate = resolve));

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
        if (hold !== undefined && isCopyWrite(request) && blob === hold.blob) {
          hold.reached = true;
          hold = undefined; // only the first copy is held: the restarted backup's goes through
          await gate;
        }
        return next(request);
      },
    });
  });
  after(async () => {
    openGate();
    await host?.stop();
    await azurite?.stop();
  });

  const leaseState = async (blob: BlobClient) => (await blob.getProperties()).leaseState;
  async function reconcile(instanceId: string, dryRun: boolean): Promise<{ report: ReconciliationReport; customStatus: unknown }> {
    const input: ReconciliationInput = { dryRun, startedBy: "http", containers: [CONTAINER] };
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
    const held = { blob: "b.csv", reached: false };
    hold = held;
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
    openGate();
    for (const blob of [a, b]) {
      await waitFor(() => leaseState(blob), { describe: `no lease left on ${blob.name}`, timeoutMs: 60_000, until: (s) => s !== "leased" });
    }

    const after = await reconcile("reconciliation-after", false);
    assert.equal(after.report.inSync, true, JSON.stringify(after.report.backups));
    assert.deepEqual([after.report.backups?.failed, after.report.backups?.stuck, after.report.backups?.leasesHeld], [0, 0, 0]);
  });
});
