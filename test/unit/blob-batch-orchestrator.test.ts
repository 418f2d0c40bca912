/**
 * The batch backup orchestrator, driven through the real durable-functions replay engine with scripted activities
 * (test/support/orchestrator-driver.ts): chunks copied in parallel, per-version outcomes counted, the versions a
 * batch could not do handed to the single-blob backup (and only those), a chunk that failed as a whole handed off
 * entirely, and a history that does not grow with the versions.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import type { BackupBatch, BackupRequest } from "../../src/domain/backup-request";
import { BATCH_CHUNK_VERSIONS, type BatchCopyInput, batchCopyInputSchema, type BlobBatchOutput, type RequestBackupsInput, requestBackupsInputSchema, type VersionOutcome } from "../../src/domain/blob-batch-backup";
import { Activities } from "../../src/function-names";
import { blobBatchBackupOrchestrator } from "../../src/orchestrators/blob-batch-backup";
import { type Answer, runOrchestration, type Scheduled } from "../support/orchestrator-driver";

function batchOf(count: number): BackupBatch {
  return {
    v: 2,
    account: "datalake1",
    container: "raw",
    reason: "producer",
    requestedAt: "2026-01-05T07:59:01.000Z",
    versions: Array.from({ length: count }, (_, i) => ({
      blob: `in/part-${i}.csv`,
      etag: `"0x${i}"`,
      snapshot: "2026-01-05T07:59:00.1234567Z",
      lastModified: "2026-01-05T07:58:59.000Z",
      contentLength: 1024,
    })),
  };
}

/** Copies everything except the blobs `outcome` decides for. */
/** Copies everything except the blobs `outcome` decides for; the input must be what the activity parses. */
function copier(outcome: (blob: string) => VersionOutcome | undefined = () => undefined) {
  return (raw: BatchCopyInput): Answer => {
    const input = batchCopyInputSchema.parse(raw);
    return { result: { outcomes: input.versions.map((v) => outcome(v.blob) ?? { status: "Copied", bytes: v.contentLength }) } };
  };
}

const activities = (scheduled: readonly Scheduled[], name: string) =>
  scheduled.flatMap((s) => (s.kind === "activity" && s.name === name ? [s] : []));

describe("batch backup orchestrator", { timeout: 30_000 }, () => {
  it("copies a batch in chunks of BATCH_CHUNK_VERSIONS, in parallel, and counts the outcomes", async () => {
    const batch = batchOf(120);
    const run = await runOrchestration(blobBatchBackupOrchestrator, {
      input: { batch },
      activities: {
        [Activities.copyBlobBatch]: copier((blob) => (blob.endsWith("7.csv") ? { status: "Skipped", reason: "the backup already holds this version" } : undefined)),
      },
    });
    assert.equal(run.status, "Completed", run.error);
    const copies = activities(run.scheduled, Activities.copyBlobBatch);
    assert.deepEqual(copies.map((c) => (c.input as BatchCopyInput).versions.length), [BATCH_CHUNK_VERSIONS, BATCH_CHUNK_VERSIONS, 20]);
    // Scheduled together (one episode), each with its own request id and the same copy time.
    assert.equal(new Set(copies.map((c) => c.at)).size, 1);
    assert.equal(new Set(copies.map((c) => (c.input as BatchCopyInput).requestId)).size, 3);
    assert.deepEqual(copies.flatMap((c) => (c.input as BatchCopyInput).versions.map((v) => v.blob)), batch.versions.map((v) => v.blob));
    assert.equal(activities(run.scheduled, Activities.requestBlobBackups).length, 0);
    const output = run.output as BlobBatchOutput;
    // Skipped: part-7, part-17, …, part-117 (twelve names end in 7.csv).
    assert.deepEqual([output.versions, output.copied, output.skipped, output.handedOff, output.bytes], [120, 108, 12, 0, 108 * 1024]);
  });

  it("hands exactly the versions it could not do to the single-blob backup, as v1 requests, and names them", async () => {
    const batch = batchOf(10);
    const failing = new Set(["in/part-2.csv", "in/part-5.csv"]);
    let handed: RequestBackupsInput | undefined;
    const run = await runOrchestration(blobBatchBackupOrchestrator, {
      input: { batch },
      activities: {
        [Activities.copyBlobBatch]: copier((blob) => (failing.has(blob) ? { status: "HandedOff", reason: `transient failure: 503 on ${blob}` } : undefined)),
        [Activities.requestBlobBackups]: (input: RequestBackupsInput) => {
          handed = requestBackupsInputSchema.parse(input);
          return { result: { sent: input.requests.length } };
        },
      },
    });
    assert.equal(run.status, "Completed", run.error);
    const expected: BackupRequest[] = batch.versions
      .filter((v) => failing.has(v.blob))
      .map((v) => ({ v: 1, account: batch.account, container: batch.container, ...v, reason: batch.reason, requestedAt: batch.requestedAt }));
    assert.deepEqual(handed?.requests, expected);
    const output = run.output as BlobBatchOutput;
    assert.deepEqual([output.copied, output.skipped, output.handedOff], [8, 0, 2]);
    assert.deepEqual(output.handOffs, [
      { blob: "in/part-2.csv", reason: "transient failure: 503 on in/part-2.csv" },
      { blob: "in/part-5.csv", reason: "transient failure: 503 on in/part-5.csv" },
    ]);
  });

  it("retries a copy activity that throws, and hands its whole chunk off when it keeps failing — neighbours' chunks stay copied", async () => {
    const batch = batchOf(60);
    let handed: RequestBackupsInput | undefined;
    const run = await runOrchestration(blobBatchBackupOrchestrator, {
      input: { batch },
      activities: {
        [Activities.copyBlobBatch]: (input: BatchCopyInput, call) => {
          // The second chunk's activity dies every time; the first answers on its second attempt.
          if (input.versions[0]?.blob === "in/part-50.csv") return { error: "worker lost" };
          return call.attempt === 1 ? { error: "worker lost" } : copier()(input);
        },
        [Activities.requestBlobBackups]: (input: RequestBackupsInput) => {
          handed = requestBackupsInputSchema.parse(input);
          return { result: { sent: input.requests.length } };
        },
      },
    });
    assert.equal(run.status, "Completed", run.error);
    assert.equal(activities(run.scheduled, Activities.copyBlobBatch).length, 2 + 5);
    // Task.all fails as a whole, so the whole batch goes the single-blob way; versions already copied are found there.
    assert.equal(handed?.requests.length, 60);
    const output = run.output as BlobBatchOutput;
    assert.equal(output.handedOff, 60);
    assert.equal(output.handOffs.length, 20);
    assert.match(output.handOffs[0]?.reason ?? "", /the batch copy failed after retries: .*worker lost/);
  });

  it("fails the batch when the hand-off itself cannot be enqueued (the message is then delivered again)", async () => {
    const run = await runOrchestration(blobBatchBackupOrchestrator, {
      input: { batch: batchOf(3) },
      activities: {
        [Activities.copyBlobBatch]: copier(() => ({ status: "HandedOff", reason: "the source blob is leased by someone else" })),
        [Activities.requestBlobBackups]: () => ({ error: "503 ServerBusy" }),
      },
    });
    assert.equal(run.status, "Failed");
    assert.match(run.error ?? "", /ServerBusy/);
  });

  it("keeps the history to the chunks: a full batch is four copy activities and no per-version task", async () => {
    const run = await runOrchestration(blobBatchBackupOrchestrator, {
      input: { batch: batchOf(200) },
      activities: { [Activities.copyBlobBatch]: copier() },
    });
    assert.equal(run.status, "Completed", run.error);
    assert.deepEqual(run.trail, Array.from({ length: 4 }, () => Activities.copyBlobBatch));
  });
});
