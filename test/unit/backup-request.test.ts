import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { type BackupRequest, encodeBackupMessages, encodeBackupRequest, parseBackupMessage, parseBackupRequest, requestsOf } from "../../src/domain/backup-request";

const request: BackupRequest = {
  v: 1,
  account: "datalake1",
  container: "raw",
  blob: "dir/file #1 ?.csv",
  etag: '"0x8DC1234567890AB"',
  snapshot: "2026-11-26T05:52:11.1234567Z",
  lastModified: "2026-11-26T05:50:00.000Z",
  contentLength: 42,
  reason: "producer",
  requestedAt: "2026-11-26T05:52:12.000Z",
};

describe("backup request message", { timeout: 30_000 }, () => {
  it("round-trips through base64 as the queue trigger decodes it", () => {
    const text = Buffer.from(encodeBackupRequest(request), "base64").toString("utf8");
    assert.deepEqual(parseBackupRequest(text), { ok: true, request });
    assert.deepEqual(parseBackupRequest(JSON.parse(text)), { ok: true, request });
  });

  it("carries the oldest-lake-snapshot hint through a batch message, and refuses one that is not a snapshot id", () => {
    const hinted = { ...request, oldestLakeSnapshot: "2026-11-20T01:02:03.1234567Z" };
    const [message] = encodeBackupMessages([hinted], 8 * 1024 * 1024).messages;
    assert.ok(message !== undefined);
    const parsed = parseBackupMessage(Buffer.from(message, "base64").toString("utf8"));
    assert.ok(parsed.ok && parsed.message.v === 2);
    assert.deepEqual(requestsOf(parsed.message), [hinted]);
    const bad = parseBackupRequest({ ...request, oldestLakeSnapshot: "yesterday" });
    assert.equal(bad.ok, false);
    assert.match(bad.ok ? "" : bad.reason, /oldestLakeSnapshot: must be a snapshot id/);
  });

  it("accepts a request without a snapshot (ETag-pinned)", () => {
    const { snapshot: _snapshot, ...live } = request;
    assert.equal(parseBackupRequest(live).ok, true);
  });

  const broken: ReadonlyArray<[string, unknown, RegExp]> = [
    ["not JSON", "{nope", /not JSON/],
    ["a future version", { ...request, v: 2 }, /^invalid backup request: v: /],
    ["a bad container", { ...request, container: "Raw_Data" }, /container: must be a container name/],
    ["a negative length", { ...request, contentLength: -1 }, /contentLength/],
    ["a bad snapshot id", { ...request, snapshot: "yesterday" }, /snapshot: must be a snapshot id/],
    ["an unknown reason", { ...request, reason: "manual" }, /reason/],
    ["an unknown field", { ...request, extra: true }, /extra/],
    ["a missing blob", { ...request, blob: undefined }, /blob/],
  ];
  for (const [what, body, reason] of broken) {
    it(`refuses ${what} with a reason`, () => {
      const parsed = parseBackupRequest(body);
      assert.equal(parsed.ok, false);
      if (!parsed.ok) assert.match(parsed.reason, reason);
    });
  }

  it("refuses to encode an invalid request", () => {
    assert.throws(() => encodeBackupRequest({ ...request, account: "UPPER" }));
  });
});
