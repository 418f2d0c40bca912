/**
 * A large copy in steps through the local host (the real durable-functions libraries, BlobCopySteps sub-orchestrations,
 * durable retries on the virtual clock) and the fault proxy: once eight ranges were sent, every Put Block From URL is
 * answered 503 until a step activity has failed; then the faults stop, the durable retry resumes from the uncommitted
 * block list, and the backup completes verified — with every range sent exactly once (the proxy counts them).
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";

import { BlobServiceClient } from "@azure/storage-blob";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { type LocalHost, startLocalHost } from "../../local-host";
import type { BackupRequest } from "../../src/domain/backup-request";
import { BackupMetadata, blobBackupInstanceId, type BlobBackupOutput } from "../../src/domain/blob-backup";
import { Activities, Orchestrators } from "../../src/function-names";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy";
import { waitFor } from "../support/wait-for";

const MiB = 1024 * 1024;
const BLOCK_MIB = 8;
/** Just over the 256 MiB of one Copy Blob From URL, so the plan copies in steps: 33 blocks of 8 MiB. */
const SIZE = 264 * MiB;

describe("blob backup, a large copy in steps through the local host, a step failing mid-way", { timeout: 300_000 }, () => {
  let azurite: AzuriteInstance;
  let proxy: FaultProxy;
  let host: LocalHost;
  const failedSteps: string[] = [];
  const container = "lake-steps-host";

  before(async () => {
    azurite = await startAzurite();
    proxy = await startFaultProxy(azurite, { seed: 21 });
    host = await startLocalHost({
      settings: proxy.throughProxy({ ...azurite.settings, BACKUP_QUEUE: "steps-host", COPY_BLOCK_MIB: String(BLOCK_MIB), COPY_STEP_SECONDS: "30" }),
      clock: "virtual",
      queuePollMs: 50,
      timerSchedules: false,
      onInvocation: (fn, outcome) => {
        if (outcome === "Failed") failedSteps.push(fn.name);
      },
    });
  });
  after(async () => {
    await host.stop();
    await proxy.stop();
    await azurite.stop();
  });

  it("resumes after the failed step without sending a staged range again, then commits and verifies", async () => {
    const lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage).getContainerClient(container);
    await lake.create();
    const source = lake.getBlockBlobClient("big/264mib.bin");
    const seed = randomBytes(BLOCK_MIB * MiB);
    const hash = createHash("md5");
    const ids: string[] = [];
    for (let i = 0; i < SIZE / (BLOCK_MIB * MiB); i++) {
      seed.writeUInt32BE(i, 0);
      hash.update(seed);
      ids.push(Buffer.from(`upload-${String(i).padStart(6, "0")}`).toString("base64"));
      await source.stageBlock(ids[i] ?? "", seed, seed.length);
    }
    await source.commitBlockList(ids);
    const snap = await source.createSnapshot();
    const p = await source.withSnapshot(snap.snapshot ?? "").getProperties();
    const request: BackupRequest = {
      v: 1,
      account: azurite.accounts.lake.name,
      container,
      blob: "big/264mib.bin",
      etag: p.etag ?? "",
      snapshot: snap.snapshot ?? "",
      lastModified: (p.lastModified ?? new Date()).toISOString(),
      contentLength: SIZE,
      reason: "producer",
      requestedAt: new Date().toISOString(),
    };
    const id = blobBackupInstanceId(request);
    proxy.resetCounts();
    await host.client.startNew(Orchestrators.blobBackup, { instanceId: id, input: { request } });

    await waitFor(() => proxy.counts().copy.requests, { until: (n) => n >= 8, describe: "eight ranges sent", timeoutMs: 120_000, intervalMs: 20 });
    proxy.set({ copy: { serverBusy: 1 } });
    await waitFor(() => failedSteps.includes(Activities.stageBackupBlocks), { describe: "a copy step to fail", timeoutMs: 120_000, intervalMs: 50 });
    proxy.set({ copy: {} });

    const status = await host.client.waitForCompletion(id, { timeoutMs: 180_000 });
    assert.equal(status.runtimeStatus, "Completed", JSON.stringify(status.output));
    const output = status.output as BlobBackupOutput;
    assert.equal(output.status, "Copied", output.reason);
    const counts = proxy.counts().copy;
    assert.ok(counts.serverBusy > 0, "the faults were injected");
    assert.equal(counts.requests - counts.serverBusy, SIZE / (BLOCK_MIB * MiB), "every range forwarded exactly once");
    const found = /(\d+) found staged/.exec(output.reason);
    assert.ok(found !== null && Number(found[1]) >= 8, `the retry found the staged blocks: ${output.reason}`);
    assert.match(output.reason, /verified: length and version, 33 committed blocks of this version checked/);

    const backup = BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage).getContainerClient(container).getBlobClient("big/264mib.bin");
    assert.equal((await backup.getProperties()).metadata?.[BackupMetadata.etag], request.etag);
    const copied = createHash("md5");
    for await (const chunk of (await backup.download()).readableStreamBody ?? []) copied.update(chunk as Buffer);
    assert.equal(copied.digest("hex"), hash.digest("hex"), "the backup holds the source's bytes");
  });
});
