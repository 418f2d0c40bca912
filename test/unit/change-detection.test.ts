import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  classify,
  compareSnapshotIds,
  groupByName,
  isDirectoryMarker,
  type ListedEntry,
} from "../../src/domain/change-detection";

const entry = (name: string, etag: string, snapshot?: string, extra: Partial<ListedEntry> = {}): ListedEntry => ({
  name,
  etag,
  lastModified: "2026-01-01T00:00:00.000Z",
  contentLength: 1,
  isDirectory: false,
  ...(snapshot !== undefined && { snapshot }),
  ...extra,
});

const S1 = "2026-01-01T00:00:01.0000000Z";
const S2 = "2026-01-01T00:00:02.0000000Z";
const S3 = "2026-01-02T00:00:00.0000000Z";

describe("groupByName", { timeout: 30_000 }, () => {
  it("puts base and snapshots of a name together whatever their order, snapshots oldest first", () => {
    const groups = groupByName([entry("a", "e2", S3), entry("a", "e3"), entry("a", "e1", S1), entry("b", "x")]);
    assert.deepEqual(
      groups.map((g) => [g.name, g.base?.etag, g.snapshots.map((s) => s.snapshot)]),
      [
        ["a", "e3", [S1, S3]],
        ["b", "x", []],
      ],
    );
  });

  it("keeps names that are prefixes of each other apart", () => {
    const groups = groupByName([entry("a", "1"), entry("a/b", "2"), entry("a0", "3"), entry("a", "0", S1)]);
    assert.deepEqual(
      groups.map((g) => [g.name, g.snapshots.length]),
      [
        ["a", 1],
        ["a/b", 0],
        ["a0", 0],
      ],
    );
  });
});

describe("compareSnapshotIds", { timeout: 30_000 }, () => {
  it("orders ids by time even when written with different fractional digits", () => {
    assert.ok(compareSnapshotIds("2026-01-01T00:00:00.5Z", "2026-01-01T00:00:00.1234567Z") > 0);
    assert.ok(compareSnapshotIds("2026-01-01T00:00:00.123Z", "2026-01-01T00:00:00.1234567Z") < 0);
    assert.equal(compareSnapshotIds("2026-01-01T00:00:00Z", "2026-01-01T00:00:00.0000000Z"), 0);
  });
});

describe("classify", { timeout: 30_000 }, () => {
  const one = (...entries: ListedEntry[]) => {
    const [group] = groupByName(entries);
    assert.ok(group);
    return group;
  };

  it("a blob without snapshots is new", () => {
    assert.deepEqual(classify(one(entry("x", "e1"))), { kind: "new" });
  });

  it("a blob whose ETag differs from its newest snapshot's is changed, whatever the listing order", () => {
    // The older snapshot has the live ETag (an old version came back?) but the newest does not: changed.
    assert.deepEqual(classify(one(entry("x", "e1", S2), entry("x", "e3"), entry("x", "e3", S1))), {
      kind: "changed",
      previousSnapshot: S2,
    });
  });

  it("a blob whose ETag equals its newest snapshot's is unchanged", () => {
    assert.deepEqual(classify(one(entry("x", "e2"), entry("x", "e2", S2), entry("x", "e1", S1))), {
      kind: "unchanged",
      snapshot: S2,
      takenThisScan: false,
    });
  });

  it("marks an unchanged blob's snapshot taken at or after the scan's start as taken by this scan", () => {
    const group = one(entry("x", "e2"), entry("x", "e2", S2));
    assert.deepEqual(classify(group, "2026-01-01T00:00:01.500Z"), { kind: "unchanged", snapshot: S2, takenThisScan: true });
    assert.deepEqual(classify(group, "2026-01-01T00:00:02.001Z"), { kind: "unchanged", snapshot: S2, takenThisScan: false });
  });

  it("skips directory markers, archived blobs and names without a live blob, with the reason", () => {
    assert.deepEqual(classify(one(entry("d", "e", undefined, { isDirectory: true }))), { kind: "skipped", reason: "directory" });
    assert.deepEqual(classify(one(entry("z", "e", undefined, { accessTier: "Archive" }))), { kind: "skipped", reason: "archived" });
    assert.deepEqual(classify(one(entry("y", "e", S1))), { kind: "skipped", reason: "noLiveBlob" });
  });
});

describe("isDirectoryMarker", { timeout: 30_000 }, () => {
  it("recognises hdi_isfolder=true in any case, and nothing else", () => {
    assert.equal(isDirectoryMarker({ hdi_isfolder: "true" }), true);
    assert.equal(isDirectoryMarker({ Hdi_IsFolder: "TRUE" }), true);
    assert.equal(isDirectoryMarker({ hdi_isfolder: "false" }), false);
    assert.equal(isDirectoryMarker({ other: "true" }), false);
    assert.equal(isDirectoryMarker(undefined), false);
  });
});
