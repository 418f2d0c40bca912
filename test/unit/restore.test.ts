/** Pure rules of restore: the request made concrete, the version chosen as of a time, and what overwrite allows. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { isValidContainerName } from "../../src/domain/names";
import {
  type BackupVersion,
  chooseVersion,
  decideTarget,
  defaultTargetContainer,
  planRestore,
  restoreBodySchema,
  restoreInstanceId,
  restoreReportBlobs,
} from "../../src/domain/restore";
import { isCallerVisibleInstance } from "../../src/durable/status-response";

const now = new Date("2026-11-30T12:00:00.000Z");

function version(over: Partial<BackupVersion> = {}): BackupVersion {
  return {
    name: "a.csv",
    etag: '"0xB1"',
    sourceEtag: '"0x1"',
    sourceLastModified: "2026-11-01T00:00:00.000Z",
    contentLength: 10,
    contentMd5: "md5-1",
    archived: false,
    metadata: {},
    ...over,
  };
}

const v1 = version({ snapshot: "2026-11-02T00:00:00.0000000Z", etag: '"0xB1"', sourceEtag: '"0x1"', sourceLastModified: "2026-11-01T00:00:00.000Z" });
const v2 = version({ etag: '"0xB2"', sourceEtag: '"0x2"', sourceLastModified: "2026-11-10T00:00:00.000Z", contentMd5: "md5-2" });

describe("chooseVersion", () => {
  it("picks the newest version modified at or before asOf, whatever the listing order", () => {
    assert.deepEqual(chooseVersion([v2, v1], "2026-11-05T00:00:00Z"), chooseVersion([v1, v2], "2026-11-05T00:00:00Z"));
    const between = chooseVersion([v2, v1], "2026-11-05T00:00:00Z");
    assert.equal(between.kind === "chosen" ? between.version.sourceEtag : between.reason, '"0x1"');
    const at = chooseVersion([v1, v2], "2026-11-10T00:00:00.000Z");
    assert.equal(at.kind === "chosen" ? at.version.sourceEtag : at.reason, '"0x2"', "a version modified exactly at asOf counts");
  });
  it("restores nothing for a blob created after asOf", () => {
    assert.deepEqual(chooseVersion([v1, v2], "2026-10-01T00:00:00Z"), { kind: "skipped", reason: "noVersionAsOf" });
  });
  it("leaves out a blob that reconciliation saw deleted at or before asOf, and restores it before that", () => {
    const deleted = { ...v2, deletedAt: "2026-11-20T00:00:00.000Z" };
    const after = chooseVersion([v1, deleted], "2026-11-25T00:00:00Z");
    assert.equal(after.kind === "skipped" && after.reason, "deleted");
    const before = chooseVersion([v1, deleted], "2026-11-15T00:00:00Z");
    assert.equal(before.kind === "chosen" && before.version.sourceEtag, '"0x2"');
  });
  it("takes a deletion recorded on any entry of the same source version (blob versions of one backup blob)", () => {
    const current = { ...v2, versionId: "v-current", deletedAt: "2026-11-20T00:00:00.000Z" };
    const previous = { ...v2, versionId: "v-previous" };
    const choice = chooseVersion([previous, current], "2026-11-21T00:00:00Z");
    assert.equal(choice.kind === "skipped" && choice.reason, "deleted");
  });
  it("breaks a one-second tie by the source snapshot id", () => {
    const a = version({ sourceEtag: '"0xA"', sourceLastModified: "2026-11-01T00:00:00.000Z", sourceSnapshot: "2026-11-01T00:00:00.1Z" });
    const b = version({ sourceEtag: '"0xB"', sourceLastModified: "2026-11-01T00:00:00.000Z", sourceSnapshot: "2026-11-01T00:00:00.0999999Z" });
    const choice = chooseVersion([b, a], "2026-11-02T00:00:00Z");
    assert.equal(choice.kind === "chosen" && choice.version.sourceEtag, '"0xA"');
  });
  it("prefers a readable copy of the chosen version, and skips an archived one", () => {
    const archived = { ...v1, archived: true };
    const only = chooseVersion([archived], "2026-11-05T00:00:00Z");
    assert.equal(only.kind === "skipped" && only.reason, "archived");
    const copy = { ...v1, snapshot: undefined, etag: '"0xB9"' };
    const choice = chooseVersion([archived, copy], "2026-11-05T00:00:00Z");
    assert.equal(choice.kind === "chosen" && choice.version.etag, '"0xB9"');
  });
  it("tells a name the backup does not hold from entries the app did not write", () => {
    assert.deepEqual(chooseVersion([], now.toISOString()), { kind: "skipped", reason: "notInBackup" });
    const foreign = version({ sourceEtag: undefined, sourceLastModified: undefined });
    assert.deepEqual(chooseVersion([foreign], now.toISOString()), { kind: "skipped", reason: "unrecorded" });
  });
});

describe("decideTarget", () => {
  const target = { etag: '"0xT"', lastModified: "2026-11-15T00:00:00.000Z", contentLength: 10, contentMd5: "md5-other" };
  it("writes a missing blob only if it is still missing", () => {
    for (const mode of ["never", "older", "always"] as const) {
      assert.deepEqual(decideTarget(v1, undefined, mode, false), { kind: "write", conditions: { ifNoneMatch: "*" } });
    }
  });
  it("never replaces an existing blob under never", () => {
    assert.deepEqual(decideTarget(v1, target, "never", true), { kind: "skipped", reason: "exists" });
  });
  it("replaces only an older blob under older, conditional on its ETag", () => {
    assert.deepEqual(decideTarget(v1, target, "older", true), { kind: "skipped", reason: "newerInTarget" }, "the lake blob is newer");
    assert.deepEqual(decideTarget(v2, { ...target, lastModified: "2026-11-10T00:00:00.000Z" }, "older", true), { kind: "skipped", reason: "newerInTarget" }, "as new is not older");
    assert.deepEqual(decideTarget(v2, { ...target, lastModified: "2026-11-09T23:59:59.000Z" }, "older", true), { kind: "write", conditions: { ifMatch: '"0xT"' } });
  });
  it("replaces any differing blob under always, conditional on its ETag", () => {
    assert.deepEqual(decideTarget(v1, target, "always", true), { kind: "write", conditions: { ifMatch: '"0xT"' } });
  });
  it("leaves a blob that already holds the content alone in every mode", () => {
    for (const mode of ["never", "older", "always"] as const) {
      assert.deepEqual(decideTarget(v1, { ...target, contentMd5: "md5-1" }, mode, false), { kind: "skipped", reason: "identical" });
      assert.deepEqual(decideTarget(v1, { ...target, etag: '"0x1"', contentMd5: undefined }, mode, true), { kind: "skipped", reason: "identical" }, "in place, the same ETag is the same version");
    }
    assert.deepEqual(decideTarget(v1, { ...target, etag: '"0x1"', contentMd5: undefined }, "always", false), { kind: "write", conditions: { ifMatch: '"0x1"' } }, "another container's ETag says nothing");
  });
});

describe("planRestore", () => {
  const parse = (body: unknown) => restoreBodySchema.safeParse(body);
  const plan = (body: unknown, restoreConfigured = false) => {
    const parsed = parse(body);
    assert.ok(parsed.success, JSON.stringify(parsed.error?.issues));
    return planRestore(parsed.data, now, restoreConfigured);
  };

  it("defaults to now, never, and a new lake container named after the source and the restore", () => {
    const p = plan({ container: "sales" });
    assert.ok(p.ok);
    assert.deepEqual(p.plan, {
      container: "sales",
      asOf: now.toISOString(),
      target: { account: "lake", container: "sales-restore-20261130-120000" },
      overwrite: "never",
      dryRun: false,
      inPlace: false,
    });
  });
  it("needs an explicit overwrite mode to restore into the live container", () => {
    const p = plan({ container: "sales", target: { container: "sales" } });
    assert.ok(!p.ok && p.code === "OverwriteRequired");
    const q = plan({ container: "sales", target: { container: "sales" }, overwrite: "never" });
    assert.ok(q.ok && q.plan.inPlace);
  });
  it("restores into the same container name of the restore account by default, when it is configured", () => {
    const refused = plan({ container: "sales", target: { account: "restore" } });
    assert.ok(!refused.ok && refused.code === "RestoreAccountNotConfigured");
    const p = plan({ container: "sales", target: { account: "restore" } }, true);
    assert.ok(p.ok && p.plan.target.container === "sales" && !p.plan.inPlace);
  });
  it("refuses a time in the future", () => {
    const p = plan({ container: "sales", asOf: "2026-11-30T12:00:01Z" });
    assert.ok(!p.ok && /future/.test(p.message));
  });
  it("drops duplicate names and refuses a target prefix that makes a name too long", () => {
    const p = plan({ container: "sales", blobs: ["a", "b", "a"] });
    assert.ok(p.ok && p.plan.blobs?.join() === "a,b");
    const q = plan({ container: "sales", blobs: ["x".repeat(1000)], target: { prefix: "y".repeat(100) } });
    assert.ok(!q.ok);
  });
  for (const [what, body] of [
    ["an unknown key", { container: "sales", everything: true }],
    ["an unknown target key", { container: "sales", target: { accountName: "x" } }],
    ["a bad container name", { container: "Sales_1" }],
    ["a bad target container", { container: "sales", target: { container: "a--b" } }],
    ["prefix and blobs together", { container: "sales", prefix: "p/", blobs: ["p/a"] }],
    ["an empty blob list", { container: "sales", blobs: [] }],
    ["an empty blob name", { container: "sales", blobs: [""] }],
    ["a time without a zone", { container: "sales", asOf: "2026-11-01T00:00:00" }],
    ["an unknown overwrite mode", { container: "sales", overwrite: "sometimes" }],
    ["an unknown account", { container: "sales", target: { account: "backup" } }],
  ] as const) {
    it(`refuses ${what}`, () => assert.equal(parse(body).success, false));
  }
});

describe("names", () => {
  it("default target containers are valid and at most 63 characters, even for long or hyphenated sources", () => {
    for (const source of ["abc", "a".repeat(63), `${"a".repeat(38)}-b${"c".repeat(20)}`, `${"a".repeat(39)}-bc`]) {
      const name = defaultTargetContainer(source, now);
      assert.ok(isValidContainerName(name), name);
    }
  });
  it("restore instance ids are served by the status route", () => {
    assert.ok(isCallerVisibleInstance(restoreInstanceId("datalake1", "a".repeat(63))));
    assert.ok(isCallerVisibleInstance(restoreInstanceId("restore1", "sales-restore-20261130-120000")));
  });
  it("every run keeps its own report, under restore/yyyy/mm/dd", () => {
    const a = restoreReportBlobs("restore-datalake1-sales", "2026-11-30T12:00:00.123Z");
    assert.deepEqual(a, { report: "restore/2026/11/30/120000123-restore-datalake1-sales.json", details: "restore/2026/11/30/120000123-restore-datalake1-sales.blobs.jsonl" });
    assert.notEqual(restoreReportBlobs("restore-datalake1-sales", "2026-11-30T12:00:00.124Z").report, a.report);
  });
});
