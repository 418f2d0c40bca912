/**
 * The queue trigger's instance logic (src/durable/instances.ts, startBlobBackup) against a scripted Durable client:
 * which deliveries start, restart or leave an instance alone, and what counts as a missing instance.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import type * as df from "durable-functions";

import type { BackupRequest } from "../../src/domain/backup-request";
import { startBlobBackup } from "../../src/durable/instances";
import { Orchestrators } from "../../src/function-names";

const request: BackupRequest = {
  v: 1,
  account: "datalake1",
  container: "raw",
  blob: "a.parquet",
  etag: '"0x1"',
  lastModified: "2024-05-01T12:00:00.000Z",
  contentLength: 1,
  reason: "producer",
  requestedAt: "2024-05-01T12:00:01.000Z",
};

/** The extension's answer for an unknown instance, as the durable-functions client reports it. */
const notFound = () => new Error("DurableClient error: Durable Functions extension replied with HTTP 404 response. This usually means we could not find any data associated with the instanceId provided: x.");

function client(statuses: (() => Partial<df.DurableOrchestrationStatus>)[], startNew: () => Promise<string> = () => Promise.resolve("id")) {
  const started: { name: string; options: unknown }[] = [];
  let call = 0;
  const fake = {
    getStatus: () => {
      const next = statuses[Math.min(call++, statuses.length - 1)];
      return next === undefined ? Promise.reject(notFound()) : Promise.resolve().then(next);
    },
    startNew: (name: string, options: unknown) => {
      started.push({ name, options });
      return startNew();
    },
  };
  return { fake: fake as unknown as df.DurableClient, started };
}

describe("startBlobBackup", () => {
  it("starts a missing instance with the request as its only input", async () => {
    const { fake, started } = client([() => { throw notFound(); }]);
    assert.deepEqual(await startBlobBackup(fake, "blob-backup-1", { request }), { action: "started" });
    assert.deepEqual(started, [{ name: Orchestrators.blobBackup, options: { instanceId: "blob-backup-1", input: { request } } }]);
  });

  it("leaves a running or completed instance alone and restarts a failed one", async () => {
    const running = client([() => ({ runtimeStatus: "Running" as df.OrchestrationRuntimeStatus })]);
    assert.deepEqual(await startBlobBackup(running.fake, "id", { request }), { action: "duplicate", runtimeStatus: "Running" });
    const failed = client([() => ({ runtimeStatus: "Failed" as df.OrchestrationRuntimeStatus, output: "the copy source is not readable" })]);
    assert.deepEqual(await startBlobBackup(failed.fake, "id", { request }), { action: "restarted" });
    assert.equal(failed.started.length, 1);
  });

  it("stands down when a racing delivery started the instance first", async () => {
    const { fake } = client(
      [() => { throw notFound(); }, () => ({ runtimeStatus: "Running" as df.OrchestrationRuntimeStatus })],
      () => Promise.reject(new Error("An instance with ID 'id' already exists.")),
    );
    assert.deepEqual(await startBlobBackup(fake, "id", { request }), { action: "duplicate", runtimeStatus: "Running" });
  });

  it("takes only the extension's 404 for a missing instance: any other error throws, even one that contains 404", async () => {
    const { fake, started } = client([() => { throw new Error("connect ETIMEDOUT 10.0.14.40:443 after 14045 ms"); }]);
    await assert.rejects(startBlobBackup(fake, "id", { request }), /ETIMEDOUT/);
    assert.equal(started.length, 0, "nothing started on a task hub error");
  });
});
