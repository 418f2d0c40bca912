/**
 * Batch messages (v2): small versions packed per container under the queue's limit, large ones alone, both shapes
 * accepted by the consumer's parser, and the batch instance id independent of when or in which order it was sent.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  type BackupRequest,
  encodeBackupMessages,
  MAX_BATCH_VERSIONS,
  MAX_ENCODED_MESSAGE_BYTES,
  parseBackupMessage,
  parseBackupRequest,
  requestsOf,
} from "../../src/domain/backup-request";
import { blobBatchInstanceId, chunksOf, versionRequestId } from "../../src/domain/blob-batch-backup";

const KiB = 1024;

function request(blob: string, contentLength = KiB, container = "raw"): BackupRequest {
  return {
    v: 1,
    account: "datalake1",
    container,
    blob,
    etag: '"0x8DC1234567890AB"',
    snapshot: "2026-11-26T05:52:11.1234567Z",
    lastModified: "2026-11-26T05:50:00.000Z",
    contentLength,
    reason: "producer",
    requestedAt: "2026-11-26T05:52:12.000Z",
  };
}

const decode = (m: string): unknown => JSON.parse(Buffer.from(m, "base64").toString("utf8"));

function expand(messages: readonly string[]): BackupRequest[] {
  return messages.flatMap((m) => {
    const parsed = parseBackupMessage(decode(m));
    assert.ok(parsed.ok, parsed.ok ? "" : parsed.reason);
    return parsed.message.v === 2 ? requestsOf(parsed.message) : [parsed.message];
  });
}

describe("batch backup messages", { timeout: 30_000 }, () => {
  it("packs small versions of one container into one message and keeps every request exactly", () => {
    const requests = ["a", "a/b", "a0", "with space", "ünï/código", "100%", "#x", "?y"].map((n) => request(n));
    const { messages, invalid } = encodeBackupMessages(requests, 8 * KiB * KiB);
    assert.equal(invalid, 0);
    assert.equal(messages.length, 1);
    assert.equal((decode(messages[0] ?? "") as { v: number }).v, 2);
    assert.deepEqual(expand(messages), requests);
  });

  it("carries the requester's first-version hint through a batch and a single message, and only as `true`", () => {
    const requests = [{ ...request("new"), firstVersion: true as const }, request("changed"), { ...request("big", 8 * KiB * KiB), firstVersion: true as const }];
    const { messages } = encodeBackupMessages(requests, 8 * KiB * KiB);
    assert.deepEqual(expand(messages).sort((a, b) => a.blob.localeCompare(b.blob)), [...requests].sort((a, b) => a.blob.localeCompare(b.blob)));
    const parsed = parseBackupRequest(JSON.stringify({ ...request("x"), firstVersion: false }));
    assert.ok(!parsed.ok && /firstVersion/.test(parsed.reason), JSON.stringify(parsed));
  });

  it("sends a version at or above the threshold on its own (v1), and batches per container", () => {
    const requests = [request("big", 8 * KiB * KiB), request("s1"), request("s2", KiB, "other"), request("s3")];
    const { messages } = encodeBackupMessages(requests, 8 * KiB * KiB);
    const shapes = messages.map((m) => decode(m) as { v: number; container: string; versions?: unknown[] });
    assert.deepEqual(shapes.map((s) => [s.v, s.container, s.versions?.length ?? 1]).sort(), [[1, "raw", 1], [2, "other", 1], [2, "raw", 2]]);
    assert.deepEqual(expand(messages).map((r) => r.blob).sort(), ["big", "s1", "s2", "s3"]);
  });

  it("cuts batches by count and by encoded size, each under the 64 KiB queue limit", () => {
    const many = Array.from({ length: 450 }, (_, i) => request(`p/${i}`));
    const byCount = encodeBackupMessages(many, 8 * KiB * KiB).messages;
    assert.deepEqual(byCount.map((m) => (decode(m) as { versions: unknown[] }).versions.length), [MAX_BATCH_VERSIONS, MAX_BATCH_VERSIONS, 50]);
    // 1,024-character names of three-byte characters: about 3 KiB of JSON per version.
    const long = Array.from({ length: 60 }, (_, i) => request(`${"語".repeat(1000)}${String(i).padStart(4, "0")}`));
    const bySize = encodeBackupMessages(long, 8 * KiB * KiB).messages;
    assert.ok(bySize.length > 1, `${bySize.length} messages`);
    for (const m of [...byCount, ...bySize]) assert.ok(m.length <= 48 * KiB && m.length < MAX_ENCODED_MESSAGE_BYTES, `${m.length} bytes of base64`);
    assert.deepEqual(expand(bySize), long);
  });

  it("counts a request that fails its schema and sends the rest; 0 as threshold sends each on its own", () => {
    const { messages, invalid } = encodeBackupMessages([request("a"), { ...request("b"), etag: "" }, request("c")], 0);
    assert.equal(invalid, 1);
    assert.deepEqual(messages.map((m) => (decode(m) as { v: number }).v), [1, 1]);
  });

  it("refuses a batch that is empty, too long, or carries an unsafe name, and accepts v1 as before", () => {
    const head = { v: 2, account: "datalake1", container: "raw", reason: "producer", requestedAt: "2026-11-26T05:52:12.000Z" };
    const version = { blob: "a", etag: '"0x1"', lastModified: "2026-11-26T05:50:00.000Z", contentLength: 1 };
    assert.equal(parseBackupMessage({ ...head, versions: [version] }).ok, true);
    for (const bad of [
      { ...head, versions: [] },
      { ...head, versions: Array.from({ length: MAX_BATCH_VERSIONS + 1 }, () => version) },
      { ...head, versions: [{ ...version, blob: "../other/x" }] },
      { ...head, versions: [{ ...version, extra: 1 }] },
    ]) {
      const parsed = parseBackupMessage(bad);
      assert.equal(parsed.ok, false);
      assert.match(parsed.ok ? "" : parsed.reason, /^invalid backup batch: /);
    }
    assert.equal(parseBackupMessage(JSON.stringify(request("a"))).ok, true);
    // The single-request parser does not take a batch for a request.
    assert.equal(parseBackupRequest({ ...head, versions: [version] }).ok, false);
  });

  it("gives a batch the same instance id whatever the order of its versions or its request time", () => {
    const batch = { account: "datalake1", container: "raw", reason: "producer" as const };
    const versions = [request("a"), request("b")].map(({ blob, etag, snapshot, lastModified, contentLength }) => ({ blob, etag, snapshot, lastModified, contentLength }));
    const id = blobBatchInstanceId({ ...batch, versions });
    assert.match(id, /^blob-batch-[0-9a-f]{64}$/);
    assert.equal(blobBatchInstanceId({ ...batch, versions: [...versions].reverse() }), id);
    assert.notEqual(blobBatchInstanceId({ ...batch, versions: versions.slice(1) }), id);
    assert.notEqual(blobBatchInstanceId({ ...batch, reason: "reconcile", versions }), id);
  });

  it("derives a stable GUID per version from the chunk's request id, and cuts chunks in order", () => {
    const chunk = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
    const a = versionRequestId(chunk, "a", '"0x1"', undefined);
    assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(versionRequestId(chunk, "a", '"0x1"', undefined), a);
    assert.notEqual(versionRequestId(chunk, "b", '"0x1"', undefined), a);
    assert.deepEqual(chunksOf([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
  });
});
