/**
 * Orchestrations started with forged inputs through the Durable client (what a holder of the system key, or a bug in a
 * starter, could do), against the whole app in the local host and Azurite. Settings decide, not inputs: a forged input
 * cannot scan or reconcile an excluded container, choose its backup container, skip snapshots the settings require, or
 * widen the selection. Each attempt ends refused with its reason, and nothing is snapshotted or backed up.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { type LocalHost, startLocalHost } from "../../local-host";
import type { ContainerReport, ReconciliationReport } from "../../src/domain/reconciliation";
import { Orchestrators } from "../../src/function-names";
import { listSnapshots, seedBlobs } from "../support/scan-fixtures";

const QUEUE = "security-forged-requests";

let azurite: AzuriteInstance;
let host: LocalHost;
let lake: BlobServiceClient;
let backup: BlobServiceClient;
let secret: ContainerClient;
let raw: ContainerClient;
let counter = 0;

before(async () => {
  azurite = await startAzurite();
  host = await startLocalHost({
    settings: { ...azurite.settings, BACKUP_QUEUE: QUEUE, EXCLUDE_CONTAINERS: "secret", BACKUP_CONTAINER_TEMPLATE: "bk-{container}", SNAPSHOTS: "auto" },
    queuePollMs: 50,
    timerSchedules: false,
  });
  lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage);
  backup = BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage);
  secret = lake.getContainerClient("secret");
  raw = lake.getContainerClient("raw");
  await secret.create();
  await raw.create();
  await seedBlobs(secret, ["s/1", "s/2"], { content: () => "secret data" });
  await seedBlobs(raw, ["r/1", "r/2"]);
});

after(async () => {
  await host?.stop();
  await azurite?.stop();
});

async function run(name: string, input: unknown): Promise<{ runtimeStatus: string; output: unknown }> {
  counter += 1;
  const id = await host.client.startNew(name, { instanceId: `forged-${counter}`, input });
  const status = await host.client.waitForCompletion(id, { timeoutMs: 60_000 });
  await host.waitForIdle({ timeoutMs: 60_000 });
  return { runtimeStatus: status.runtimeStatus, output: status.output };
}

async function backupContainers(): Promise<string[]> {
  const names: string[] = [];
  for await (const c of backup.listContainers()) names.push(c.name);
  return names.sort();
}

/** Nothing snapshotted in the lake, no backup instance, nothing in the backup account (reports aside). */
async function assertUntouched(): Promise<void> {
  assert.deepEqual(await listSnapshots(secret), [], "no snapshot in the excluded container");
  assert.deepEqual(await listSnapshots(raw), [], "no snapshot in the selected container either");
  assert.deepEqual((await backupContainers()).filter((c) => c !== "backup-reports"), [], "nothing in the backup account");
  const backups = (await host.client.listInstances()).filter((i) => i.name === Orchestrators.blobBackup);
  assert.deepEqual(backups.map((b) => b.instanceId), [], "no backup instance");
}

describe("forged container scan inputs", { timeout: 120_000 }, () => {
  it("cannot scan an excluded container", async () => {
    const result = await run(Orchestrators.containerScan, { container: "secret", snapshots: "auto" });
    assert.equal(result.runtimeStatus, "Failed");
    assert.match(JSON.stringify(result.output), /refused: container \\"secret\\" is in EXCLUDE_CONTAINERS/);
    await assertUntouched();
  });

  it("cannot skip the snapshots the settings call for", async () => {
    const result = await run(Orchestrators.containerScan, { container: "raw", snapshots: "off" });
    assert.equal(result.runtimeStatus, "Failed");
    assert.match(JSON.stringify(result.output), /snapshot mode \\"off\\", which SNAPSHOTS=auto does not allow/);
    await assertUntouched();
  });

  it("cannot choose its backup container", async () => {
    const result = await run(Orchestrators.containerScan, { container: "raw", snapshots: "off", backupContainer: "victim" });
    assert.equal(result.runtimeStatus, "Failed");
    await assertUntouched();
  });

  it("cannot list through a prefix with dot segments", async () => {
    const result = await run(Orchestrators.containerScan, { container: "raw", snapshots: "auto", prefix: "../secret/" });
    assert.equal(result.runtimeStatus, "Failed");
    assert.match(JSON.stringify(result.output), /path segments/);
    await assertUntouched();
  });
});

describe("forged reconciliation inputs", { timeout: 120_000 }, () => {
  it("cannot bring its own selection, template, parallelism or accounts (the input carries none of them)", async () => {
    const result = await run(Orchestrators.reconciliation, {
      containers: ["secret"],
      excludeContainers: [],
      dryRun: false,
      snapshots: "off",
      parallelism: 64,
      backupContainerTemplate: "victim-{container}",
      account: "datalake1",
      backupAccount: "backup1",
      startedBy: "http",
    });
    assert.equal(result.runtimeStatus, "Failed");
    await assertUntouched();
  });

  it("naming an excluded container only narrows: it is reported excluded and left alone", async () => {
    const result = await run(Orchestrators.reconciliation, { containers: ["secret"], dryRun: true, startedBy: "http" });
    assert.equal(result.runtimeStatus, "Completed");
    const report = result.output as ReconciliationReport;
    assert.deepEqual(report.containers, []);
    assert.deepEqual(report.excluded, ["raw", "secret"]);
    await assertUntouched();
  });

  const child = (overrides: Record<string, unknown>) => ({
    container: "raw",
    backupContainer: "bk-raw",
    options: { dryRun: false, snapshots: "auto", sourcePages: 1 },
    ...overrides,
  });
  const cases: readonly [string, Record<string, unknown>, RegExp][] = [
    ["an excluded container", { container: "secret", backupContainer: "bk-secret" }, /refused: container "secret" is in EXCLUDE_CONTAINERS/],
    ["another backup container than the template's", { backupContainer: "victim" }, /refused: the run names backup container "victim", BACKUP_CONTAINER_TEMPLATE gives "bk-raw"/],
    ["a snapshot mode the settings do not allow", { options: { dryRun: false, snapshots: "off", sourcePages: 1 } }, /refused: the run asks for snapshot mode "off"/],
  ];
  for (const [what, overrides, reason] of cases) {
    it(`a container reconciliation started directly with ${what} is refused`, async () => {
      const result = await run(Orchestrators.containerReconciliation, child(overrides));
      assert.equal(result.runtimeStatus, "Completed");
      const report = result.output as ContainerReport;
      assert.equal(report.status, "failed");
      assert.match(report.error ?? "", reason);
      await assertUntouched();
    });
  }
});
