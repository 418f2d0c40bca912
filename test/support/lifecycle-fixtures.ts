/**
 * A lake, a backup account and the app under the local host (virtual clock), with the helpers the lifecycle tests
 * share: seed and rewrite blobs, list entries with snapshots, scan and wait for the backups, run retention.
 */
import assert from "node:assert/strict";

import { type BlobItem, BlobServiceClient, type ContainerClient } from "@azure/storage-blob";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { type LocalHost, startLocalHost } from "../../local-host";
import type { ContainerScanOutput } from "../../src/domain/container-scan";
import type { RetentionCounts, RetentionReport } from "../../src/domain/retention";
import { Orchestrators } from "../../src/function-names";
import { followStatus, postJson } from "./durable-http";
import { afterSecondOf } from "./wait-for";

export const DAY_MS = 86_400_000;

export interface LifecycleHarness {
  readonly azurite: AzuriteInstance;
  readonly host: LocalHost;
  readonly lake: BlobServiceClient;
  readonly backup: BlobServiceClient;
  lakeContainer(name: string, blobs: Record<string, string>): Promise<ContainerClient>;
  /** Rewrites a blob in a later second than its current version (Last-Modified has one-second resolution). */
  write(c: ContainerClient, blob: string, content: string): Promise<void>;
  /** Every entry of the container (with snapshots and metadata), by name. */
  entries(c: ContainerClient): Promise<Record<string, BlobItem[]>>;
  snapshotCounts(c: ContainerClient): Promise<Record<string, number>>;
  /** Every entry of a backup container as `name@snapshot#etag`: any copy changes it (new ETag, a history snapshot). */
  backupFingerprint(container: string): Promise<string[]>;
  /** The producer's starter for a container, followed to the end, then every backup it requested. */
  scan(container: string): Promise<ContainerScanOutput>;
  /** `scan`, and no backup may have failed. */
  backUp(container: string): Promise<ContainerScanOutput>;
  /** Until every backup request is taken and every instance is done. */
  settle(): Promise<void>;
  retain(body: unknown): Promise<RetentionReport>;
  stop(): Promise<void>;
}

export function containerCounts(report: RetentionReport, container: string): RetentionCounts {
  const found = report.containers.find((c) => c.container === container);
  assert.ok(found, `${container} is in the report`);
  assert.equal(found.status, "done", found.error);
  return found.counts;
}

export async function startLifecycleHarness(settings: Record<string, string>): Promise<LifecycleHarness> {
  const azurite = await startAzurite();
  const host = await startLocalHost({ settings: { ...azurite.settings, BACKUP_QUEUE: "lifecycle-requests", ...settings }, clock: "virtual", timerSchedules: false });
  const lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage);
  const backup = BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage);

  // The host's idle check includes its watched queues, so every requested backup has run when it returns.
  const settle = (): Promise<void> => host.waitForIdle({ timeoutMs: 120_000 });
  const scan = async (container: string): Promise<ContainerScanOutput> => {
    const started = await postJson(`${host.baseUrl}/api/containers/${container}/backup`);
    assert.equal(started.status, 202, await started.clone().text());
    const status = await followStatus(started.headers.get("location") ?? "");
    assert.equal(status.runtimeStatus, "Completed", JSON.stringify(status.output));
    await settle();
    return status.output as ContainerScanOutput;
  };
  const entries = async (c: ContainerClient): Promise<Record<string, BlobItem[]>> => {
    const out: Record<string, BlobItem[]> = {};
    if (!(await c.exists())) return out;
    for await (const item of c.listBlobsFlat({ includeSnapshots: true, includeMetadata: true })) (out[item.name] ??= []).push(item);
    return out;
  };
  return {
    azurite,
    host,
    lake,
    backup,
    async lakeContainer(name, blobs) {
      const c = lake.getContainerClient(name);
      await c.create();
      for (const [blob, content] of Object.entries(blobs)) await c.getBlockBlobClient(blob).upload(content, content.length);
      return c;
    },
    async write(c, blob, content) {
      const p = await c.getBlobClient(blob).getProperties();
      await afterSecondOf((p.lastModified ?? new Date()).toISOString());
      await c.getBlockBlobClient(blob).upload(content, content.length);
    },
    entries,
    async snapshotCounts(c) {
      return Object.fromEntries(Object.entries(await entries(c)).map(([name, items]) => [name, items.filter((i) => i.snapshot).length]));
    },
    async backupFingerprint(container) {
      const all = await entries(backup.getContainerClient(container));
      return Object.values(all).flat().map((i) => `${i.name}@${i.snapshot ?? ""}#${i.properties.etag ?? ""}`).sort();
    },
    scan,
    async backUp(container) {
      const output = await scan(container);
      const failed = (await host.client.listInstances({ runtimeStatus: ["Failed"] })).filter((f) => f.name === Orchestrators.blobBackup || f.name === Orchestrators.blobBatchBackup);
      assert.deepEqual(failed.map((f) => JSON.stringify(f.output)), []);
      return output;
    },
    settle,
    async retain(body) {
      const started = await postJson(`${host.baseUrl}/api/retention`, body);
      assert.equal(started.status, 202, await started.clone().text());
      const status = await followStatus(started.headers.get("location") ?? "");
      assert.equal(status.runtimeStatus, "Completed", JSON.stringify(status.output));
      return status.output as RetentionReport;
    },
    async stop() {
      await host.stop();
      await azurite.stop();
    },
  };
}
