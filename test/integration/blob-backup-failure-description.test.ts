/**
 * The product's own failure, as an operator first met it: PrepareBlobBackup's HEAD of the source snapshot answered
 * 503 (no body) on every SDK try. The host's line and the app's log now name the status, the service's error code, the
 * operation and the instance; once storage answers again, the durable retry completes the backup.
 * Slow on purpose: the app's storage clients keep the SDK's default retries (4 tries over 16 s) before the activity fails.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { BlobServiceClient } from "@azure/storage-blob";
import { QueueClient } from "@azure/storage-queue";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { type LocalHost, startLocalHost } from "../../local-host";
import { describeInvocationError } from "../../local-host/invoke";
import { encodeBackupRequest } from "../../src/domain/backup-request";
import { blobBackupInstanceId, type BlobBackupOutput } from "../../src/domain/blob-backup";
import { Activities } from "../../src/function-names";
import { requestFor, writeAndSnapshot } from "../support/blob-backup-fixtures";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy";

const QUEUE = "backup-requests";

async function waitFor<T>(what: string, find: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("a blob backup whose source HEAD gets 503s says so", () => {
  let azurite: AzuriteInstance;
  let proxy: FaultProxy;
  let host: LocalHost;
  const failures: { fn: string; instanceId?: string; description: string }[] = [];
  const errorLogs: string[] = [];
  const container = "lake-503";

  before(async () => {
    azurite = await startAzurite();
    proxy = await startFaultProxy(azurite);
    host = await startLocalHost({
      settings: proxy.throughProxy({ ...azurite.settings, BACKUP_QUEUE: QUEUE }),
      clock: "virtual",
      queuePollMs: 50,
      timerSchedules: false,
      onInvocation: (fn, outcome, _ms, error, instanceId) => {
        if (outcome === "Failed") failures.push({ fn: fn.name, ...(instanceId !== undefined && { instanceId }), description: describeInvocationError(error) });
      },
      functionLogs: (_fn, level, message) => {
        if (level === "error") errorLogs.push(message);
      },
    });
  });
  after(async () => {
    await host.stop();
    await proxy.stop();
    await azurite.stop();
  });

  it("logs PrepareBlobBackup's failure as 503 ServerBusy on HEAD <snapshot URL> with the instance id, then recovers", async () => {
    const lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage).getContainerClient(container);
    await lake.create();
    const v = await writeAndSnapshot(lake, "dir/data.csv", "a,b\n1,2\n");
    const request = requestFor(azurite.accounts.lake.name, container, "dir/data.csv", v);
    const id = blobBackupInstanceId(request);

    proxy.set({ read: { serverBusy: 1, methods: ["HEAD"] } });
    const queue = new QueueClient(azurite.settings.AzureWebJobsStorage, QUEUE);
    await queue.createIfNotExists();
    await queue.sendMessage(encodeBackupRequest(request));

    const failed = await waitFor("PrepareBlobBackup to fail", () => failures.find((f) => f.fn === Activities.prepareBlobBackup), 90_000);
    const operation = `HEAD http://127.0.0.1:${proxy.blobPort}/${azurite.accounts.lake.name}/${container}/dir/data.csv?snapshot=${encodeURIComponent(v.snapshot ?? "")}`;
    assert.equal(failed.instanceId, id);
    assert.equal(failed.description, `503 ServerBusy on ${operation}`);
    assert.ok(errorLogs.includes(`${Activities.prepareBlobBackup} failed (instance ${id}): 503 ServerBusy on ${operation}`), errorLogs.join("\n"));

    proxy.clear();
    const status = await host.client.waitForCompletion(id, { timeoutMs: 60_000 });
    assert.equal(status.runtimeStatus, "Completed");
    assert.equal((status.output as BlobBackupOutput).status, "Copied", (status.output as BlobBackupOutput).reason);
  });
});
