/** Pure rules of the blob backup: instance ids, version ordering, backup metadata, what a duplicate message does. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { BackupMetadata, backupMetadata, blobBackupInstanceId, compareWithHeld, heldVersion } from "../../src/domain/blob-backup";
import { existingInstanceAction } from "../../src/domain/blob-backup-instance";

const base = { account: "datalake1", container: "raw", blob: "a/b c#?.csv", etag: '"0x8DC1"' };

describe("blobBackupInstanceId", { timeout: 30_000 }, () => {
  it("is stable for the same version and differs between versions, blobs and accounts", () => {
    const id = blobBackupInstanceId(base);
    assert.equal(id, blobBackupInstanceId({ ...base }));
    assert.notEqual(id, blobBackupInstanceId({ ...base, etag: '"0x8DC2"' }));
    assert.notEqual(id, blobBackupInstanceId({ ...base, blob: "a/b c#?.csv2" }));
    assert.notEqual(id, blobBackupInstanceId({ ...base, account: "datalake2" }));
    assert.notEqual(id, blobBackupInstanceId({ ...base, snapshot: "2024-05-01T12:34:56.1234567Z" }));
  });
  it("is short and uses only characters instance ids allow, whatever the blob name", () => {
    const id = blobBackupInstanceId({ ...base, blob: `${"x/".repeat(500)}\\#?\u0001` });
    assert.match(id, /^blob-backup-[0-9a-f]{64}$/);
    assert.ok(id.length <= 100);
  });
});

describe("compareWithHeld", { timeout: 30_000 }, () => {
  const v = { etag: "e2", lastModified: "2024-05-01T12:00:01Z", snapshot: "2024-05-01T12:00:01.5Z" };
  it("knows the same version by its ETag", () => assert.equal(compareWithHeld(v, { etag: "e2", lastModified: "2020-01-01T00:00:00Z" }), "same"));
  it("orders by last-modified time", () => {
    assert.equal(compareWithHeld(v, { etag: "e1", lastModified: "2024-05-01T12:00:00Z" }), "newer");
    assert.equal(compareWithHeld(v, { etag: "e3", lastModified: "2024-05-01T12:00:02Z" }), "older");
  });
  it("breaks a one-second tie with the snapshot ids (padded to 7 digits)", () => {
    assert.equal(compareWithHeld(v, { etag: "e1", lastModified: v.lastModified, snapshot: "2024-05-01T12:00:01.4999999Z" }), "newer");
    assert.equal(compareWithHeld(v, { etag: "e3", lastModified: v.lastModified, snapshot: "2024-05-01T12:00:01.51Z" }), "older");
  });
  it("is unknown for a backup blob we did not write, or an unbreakable tie", () => {
    assert.equal(compareWithHeld(v, {}), "unknown");
    assert.equal(compareWithHeld({ ...v, snapshot: undefined }, { etag: "e1", lastModified: v.lastModified }), "unknown");
  });
});

describe("backupMetadata", { timeout: 30_000 }, () => {
  it("records the version and keeps the source's own metadata, but not keys posing as our record", () => {
    const m = backupMetadata(
      { account: "datalake1", container: "raw", blob: "x", etag: "e", lastModified: "2024-05-01T12:00:00.000Z", contentLength: 1, contentMd5: "md5==", metadata: { owner: "a", backup_source_etag: "forged" } },
      "server",
      "2024-05-02T00:00:00.000Z",
      "0b5c2a9e-1111-4222-8333-444455556666",
    );
    assert.equal(m.owner, "a");
    assert.equal(m[BackupMetadata.etag], "e");
    assert.equal(m[BackupMetadata.snapshot], "");
    assert.equal(m[BackupMetadata.contentMd5], "md5==");
    assert.equal(m[BackupMetadata.engine], "server");
    assert.equal(m[BackupMetadata.requestId], "0b5c2a9e-1111-4222-8333-444455556666");
    assert.deepEqual(heldVersion(m), { etag: "e", lastModified: "2024-05-01T12:00:00.000Z", requestId: "0b5c2a9e-1111-4222-8333-444455556666" });
  });
});

describe("existingInstanceAction", { timeout: 30_000 }, () => {
  it("starts a new instance, ignores duplicates, restarts what ended badly", () => {
    assert.equal(existingInstanceAction(undefined), "start");
    assert.equal(existingInstanceAction({ runtimeStatus: "Running" }), "duplicate");
    assert.equal(existingInstanceAction({ runtimeStatus: "Pending" }), "duplicate");
    assert.equal(existingInstanceAction({ runtimeStatus: "Completed", output: { status: "Copied" } }), "duplicate");
    assert.equal(existingInstanceAction({ runtimeStatus: "Completed", output: { status: "Skipped" } }), "duplicate");
    assert.equal(existingInstanceAction({ runtimeStatus: "Completed", output: { status: "Failed" } }), "restart");
    assert.equal(existingInstanceAction({ runtimeStatus: "Failed" }), "restart");
    assert.equal(existingInstanceAction({ runtimeStatus: "Terminated" }), "restart");
  });
});
