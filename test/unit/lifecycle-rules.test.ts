/**
 * The lifecycle's pure rules: which lake snapshots may go under each LAKE_SNAPSHOTS policy (never one whose version
 * the backup lacks), which backup entries retention deletes (never a live blob's current backup, never inside the
 * retention or the minimum count, orphans only after their own retention), and how the settings are read.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { loadSettings } from "../../src/config/settings";
import { type BackupHistoryEntry, decideBackupVersions } from "../../src/domain/backup-retention";
import { BackupMetadata } from "../../src/domain/blob-backup";
import type { ListedEntry } from "../../src/domain/change-detection";
import { type BackupCopy, decideLakeSnapshots, isInBackup, type LakeSnapshotPolicy, releaseMayDelete } from "../../src/domain/lake-snapshots";

const NOW = new Date("2026-03-01T00:00:00.000Z");
const daysAgo = (d: number): string => new Date(NOW.getTime() - d * 86_400_000).toISOString().replace(/\.(\d{3})Z$/, ".$10000Z");

function snap(id: string, etag: string, contentLength = 10, contentMd5?: string): ListedEntry {
  return { name: "a.csv", snapshot: id, etag, lastModified: id, contentLength, ...(contentMd5 !== undefined && { contentMd5 }), isDirectory: false };
}
const copy = (etag: string, contentLength = 10, contentMd5?: string): BackupCopy => ({ sourceEtag: etag, contentLength, ...(contentMd5 !== undefined && { contentMd5 }) });

const decide = (policy: LakeSnapshotPolicy, snapshots: ListedEntry[], copies: BackupCopy[]) =>
  decideLakeSnapshots(policy, snapshots, copies, NOW).map((d) => `${d.action}:${d.reason}`);

describe("lake snapshot policy", () => {
  const s1 = snap(daysAgo(10), '"e1"');
  const s2 = snap(daysAgo(5), '"e2"');
  const s3 = snap(daysAgo(1), '"e3"');

  it("newest: deletes backed-up snapshots once a newer one exists, keeps the newest", () => {
    assert.deepEqual(decide({ mode: "newest" }, [s3, s1, s2], [copy('"e1"'), copy('"e2"'), copy('"e3"')]), ["delete:superseded", "delete:superseded", "keep:newest"]);
  });

  it("never deletes a snapshot whose version is not in the backup, in any mode", () => {
    for (const policy of [{ mode: "newest" }, { mode: "none" }, { mode: "keepDays", days: 1 }] as const) {
      assert.deepEqual(decide(policy, [s1, s2, s3], [copy('"e1"'), copy('"e3"')])[1], "keep:notInBackup", policy.mode);
      assert.deepEqual(decide(policy, [s1, s2, s3], []), ["keep:notInBackup", "keep:notInBackup", "keep:notInBackup"], policy.mode);
    }
  });

  it("none: deletes the newest too once it is backed up", () => {
    assert.deepEqual(decide({ mode: "none" }, [s1, s3], [copy('"e1"'), copy('"e3"')]), ["delete:backedUp", "delete:backedUp"]);
  });

  it("keep-days: keeps every snapshot younger than N days, then behaves like newest", () => {
    assert.deepEqual(decide({ mode: "keepDays", days: 7 }, [s1, s2, s3], [copy('"e1"'), copy('"e2"'), copy('"e3"')]), ["delete:superseded", "keep:withinDays", "keep:newest"]);
  });

  it("the release after a backup is skipped only when it could delete nothing: keep-days with every older listed snapshot young", () => {
    const policies: LakeSnapshotPolicy[] = [{ mode: "newest" }, { mode: "none" }, { mode: "keepDays", days: 7 }];
    const ages = [0.5, 6.9, 7.1, 10];
    for (const policy of policies) {
      for (const age of ages) {
        // The scan listed an older snapshot of that age; the backed-up version's snapshot was taken now. All backed up.
        const older = snap(daysAgo(age), '"old"');
        const newest = snap(daysAgo(0), '"new"');
        const mayDelete = releaseMayDelete(policy, older.snapshot, NOW);
        const deletes = decideLakeSnapshots(policy, [older, newest], [copy('"old"'), copy('"new"')], NOW).filter((d) => d.action === "delete");
        if (!mayDelete) assert.equal(deletes.length, 0, `${policy.mode} ${age} days: skipped, so the release must have had nothing to delete`);
        assert.equal(mayDelete, policy.mode !== "keepDays" || age > 7, `${policy.mode} ${age} days`);
      }
      // Nobody listed the blob's snapshots: the release looks for itself.
      assert.equal(releaseMayDelete(policy, undefined, NOW), true);
    }
    assert.equal(releaseMayDelete({ mode: "keepDays", days: 7 }, "not a snapshot id", NOW), true, "an unreadable id never saves the release");
  });

  it("a backup entry counts only with the same ETag, length and (when both have one) Content-MD5", () => {
    const s = snap(daysAgo(1), '"e"', 10, "md5a");
    assert.equal(isInBackup(s, [copy('"e"', 10, "md5a")]), true);
    assert.equal(isInBackup(s, [copy("e", 10)]), true, "bare and quoted ETags, a block-wise copy without MD5");
    assert.equal(isInBackup(s, [copy('"e"', 11, "md5a")]), false, "another length");
    assert.equal(isInBackup(s, [copy('"e"', 10, "md5b")]), false, "another MD5");
    assert.equal(isInBackup(s, [copy('"f"', 10, "md5a")]), false, "another version");
    assert.equal(isInBackup(s, [{ contentLength: 10 }]), false, "a blob without our record");
  });
});

function entry(overrides: Partial<BackupHistoryEntry>): BackupHistoryEntry {
  return { isCurrent: false, lastModified: NOW.toISOString(), contentLength: 5, ...overrides };
}

describe("backup retention", () => {
  const current = entry({ isCurrent: true });
  const h = (d: number) => entry({ snapshot: daysAgo(d) });
  const rules = { retentionDays: 30, minVersions: 1 };
  const decide = (entries: BackupHistoryEntry[], live: boolean, r: Parameters<typeof decideBackupVersions>[2] = rules) => {
    const result = decideBackupVersions(entries, live, r, NOW);
    return { orphan: result.orphan, decisions: result.decisions.map((d) => `${d.entry.snapshot === undefined ? "current" : d.entry.snapshot.slice(0, 10)}:${d.action}:${d.reason}`) };
  };

  it("deletes history superseded longer ago than the retention, never the current backup", () => {
    assert.deepEqual(decide([h(40), current, h(10), h(31)], true).decisions, [
      "current:keep:current",
      `${daysAgo(10).slice(0, 10)}:keep:withinRetention`,
      `${daysAgo(31).slice(0, 10)}:delete:expired`,
      `${daysAgo(40).slice(0, 10)}:delete:expired`,
    ]);
  });

  it("keeps the newest BACKUP_MIN_VERSIONS whatever their age (the current one counts)", () => {
    assert.deepEqual(decide([h(40), current, h(50)], true, { retentionDays: 30, minVersions: 2 }).decisions.map((d) => d.split(":").slice(1).join(":")), [
      "keep:current",
      "keep:minVersions",
      "delete:expired",
    ]);
  });

  it("keeps everything without BACKUP_RETENTION_DAYS", () => {
    assert.deepEqual(decide([h(400), current], true, { minVersions: 1 }).decisions.map((d) => d.split(":").slice(1).join(":")), ["keep:current", "keep:noRetention"]);
  });

  it("under versioning a previous version's age is when the next one replaced it", () => {
    const v = (d: number, isCurrent = false) => entry({ versionId: daysAgo(d), isCurrent });
    // v(100) was replaced at 20 days ago (v(20) written): within 30 days, so kept; v(200) replaced at 100 days: deleted.
    const result = decideBackupVersions([v(200), v(100), v(20), v(0, true)], true, rules, NOW).decisions.map((d) => `${d.action}:${d.reason}`);
    assert.deepEqual(result, ["keep:current", "keep:withinRetention", "keep:withinRetention", "delete:expired"]);
  });

  it("an orphan goes entirely only after ORPHAN_RETENTION_DAYS from its recorded deletion", () => {
    const deleted = (d: number) => entry({ isCurrent: true, metadata: { [BackupMetadata.deletedAt]: daysAgo(d) } });
    const r = { minVersions: 1, orphanRetentionDays: 90 };
    assert.deepEqual(decide([deleted(100), h(200)], false, r), { orphan: "expired", decisions: ["current:delete:orphanExpired", `${daysAgo(200).slice(0, 10)}:delete:orphanExpired`] });
    assert.equal(decide([deleted(10), h(200)], false, r).orphan, "waiting");
    assert.deepEqual(decide([deleted(10)], false, r).decisions, ["current:keep:current"]);
    assert.equal(decide([current], false, r).orphan, "unrecorded", "no deletion recorded: kept");
    assert.equal(decide([deleted(1000)], false, { minVersions: 1 }).orphan, "noRetention", "ORPHAN_RETENTION_DAYS unset: kept");
    assert.equal(decide([deleted(1000)], true, r).orphan, undefined, "a live blob is no orphan, whatever its old record says");
  });
});

describe("lifecycle settings", () => {
  const base = {
    SourceStorage: "DefaultEndpointsProtocol=http;AccountName=lake;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:1/lake;",
    BackupStorage: "DefaultEndpointsProtocol=http;AccountName=bak;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:1/bak;",
    AzureWebJobsStorage: "UseDevelopmentStorage=true",
  };

  it("defaults keep everything but the older lake snapshots, and purge instances after 30 days", () => {
    const s = loadSettings(base);
    assert.deepEqual(s.lakeSnapshots, { mode: "newest" });
    assert.equal(s.backupRetentionDays, undefined);
    assert.equal(s.orphanRetentionDays, undefined);
    assert.equal(s.backupMinVersions, 1);
    assert.equal(s.instanceRetentionDays, 30);
    assert.equal(s.retentionSchedule, "0 0 3 * * 0");
  });

  it("reads every mode and refuses what it cannot read, naming each setting", () => {
    assert.deepEqual(loadSettings({ ...base, LAKE_SNAPSHOTS: "none" }).lakeSnapshots, { mode: "none" });
    assert.deepEqual(loadSettings({ ...base, LAKE_SNAPSHOTS: "keep-days:7" }).lakeSnapshots, { mode: "keepDays", days: 7 });
    assert.throws(
      () => loadSettings({ ...base, LAKE_SNAPSHOTS: "keep-days:0", BACKUP_RETENTION_DAYS: "0", INSTANCE_RETENTION_DAYS: "x", RETENTION_SCHEDULE: "daily" }),
      (err: Error) => ["LAKE_SNAPSHOTS", "BACKUP_RETENTION_DAYS", "INSTANCE_RETENTION_DAYS", "RETENTION_SCHEDULE"].every((k) => err.message.includes(k)),
    );
  });
});
