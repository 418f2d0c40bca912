import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { backupState, joinBackupPage } from "../../src/domain/backup-join";
import { addReconcileCounts, selectContainers, zeroReconcileCounts } from "../../src/domain/reconciliation";

const entry = (name: string, etag?: string) => ({ name, ...(etag !== undefined && { metadata: { backup_source_etag: etag } }) });

describe("merge-join of a backup page with a window of source names", { timeout: 30_000 }, () => {
  it("matches names in the window, counts the rest of the window as orphans, stops at the window's end", () => {
    const page = [entry("a", "1"), entry("a/b", "2"), entry("a0"), entry("b", "3"), entry("c", "4")];
    const joined = joinBackupPage(page, new Set(["a", "a0", "b"]), undefined, "b");
    assert.deepEqual([...joined.held.keys()], ["a", "a0", "b"]);
    assert.equal(joined.held.get("a")?.etag, "1");
    assert.equal(joined.held.get("a0")?.etag, undefined);
    assert.deepEqual(joined.orphans, ["a/b"]);
    assert.equal(joined.consumed, 4);
    assert.equal(joined.reachedEnd, true);
  });

  it("drops what an earlier window consumed when the page is read again", () => {
    const page = [entry("a"), entry("b"), entry("c"), entry("d")];
    const joined = joinBackupPage(page, new Set(["c"]), "b", "c");
    assert.deepEqual([...joined.held.keys()], ["c"]);
    assert.deepEqual(joined.orphans, []);
    assert.equal(joined.consumed, 3);
  });

  it("knows a page that ends with the window's last name ends the window (no page read beyond it)", () => {
    const aligned = joinBackupPage([entry("a"), entry("a/b"), entry("b")], new Set(["a", "a/b", "b"]), undefined, "b");
    assert.deepEqual([aligned.consumed, aligned.reachedEnd, aligned.endsAtWindowEnd], [3, false, true]);
    // The page stops short of the window's end ("b" may be on the next page): read on.
    const short = joinBackupPage([entry("a"), entry("a/b")], new Set(["a", "b"]), undefined, "b");
    assert.deepEqual([short.consumed, short.reachedEnd, short.endsAtWindowEnd], [2, false, false]);
    // A page that went beyond the window's end is re-read by the next window, not skipped.
    const beyond = joinBackupPage([entry("a"), entry("a/b"), entry("a0")], new Set(["a", "a/b"]), undefined, "a/b");
    assert.deepEqual([beyond.consumed, beyond.reachedEnd, beyond.endsAtWindowEnd], [2, true, false]);
    assert.equal(joinBackupPage([entry("x")], new Set(["x"]), undefined, undefined).endsAtWindowEnd, false, "the last window has no end");
  });

  it("consumes everything in the last window (no end)", () => {
    const joined = joinBackupPage([entry("x"), entry("y")], new Set(["x"]), undefined, undefined);
    assert.deepEqual(joined.orphans, ["y"]);
    assert.equal(joined.reachedEnd, false);
    assert.equal(joined.consumed, 2);
  });

  it("calls a blob in sync only when the backup records the source's current ETag", () => {
    assert.equal(backupState('"e1"', { etag: '"e1"' }), "inSync");
    assert.equal(backupState('"e2"', { etag: '"e1"' }), "outdated");
    assert.equal(backupState('"e2"', {}), "outdated");
    assert.equal(backupState('"e2"', undefined), "missing");
  });
});

describe("container selection", { timeout: 30_000 }, () => {
  const lake = ["logs", "raw", "curated", "tmp"];
  const policy = { excludeContainers: ["tmp"], backupContainerTemplate: "{container}", reportsContainer: "backup-reports" };
  const to = (...names: string[]) => names.map((container) => ({ container, backupContainer: container }));
  it("takes every container of the lake, less the excluded ones", () => {
    assert.deepEqual(selectContainers(lake, undefined, policy), { selected: to("curated", "logs", "raw"), refused: [], excluded: ["tmp"], notFound: [] });
  });
  it("takes only the containers asked for, and reports those the lake lacks", () => {
    assert.deepEqual(selectContainers(lake, ["raw", "gone", "tmp"], policy), {
      selected: to("raw"),
      refused: [],
      excluded: ["curated", "logs", "tmp"],
      notFound: ["gone"],
    });
  });
  it("lets a request narrow CONTAINERS, never widen it", () => {
    const only = { ...policy, containers: ["raw", "logs"] };
    assert.deepEqual(selectContainers(lake, undefined, only).selected, to("logs", "raw"));
    assert.deepEqual(selectContainers(lake, ["raw", "curated"], only).selected, to("raw"));
  });
  it("refuses, with the reason, a container whose backup would land in a reserved container", () => {
    const selection = selectContainers([...lake, "backup-reports", "datalake-backup-staging"], undefined, policy);
    assert.deepEqual(selection.refused.map((r) => r.container), ["backup-reports", "datalake-backup-staging"]);
    assert.match(selection.refused[0]?.reason ?? "", /reserves/);
    assert.ok(!selection.selected.some((s) => s.container === "backup-reports"));
  });
});

describe("reconciliation counts", { timeout: 30_000 }, () => {
  it("add up field by field, skip reasons included", () => {
    const a = { ...zeroReconcileCounts(), blobs: 2, inSync: 1, skipped: { ...zeroReconcileCounts().skipped, directory: 1 } };
    const b = { ...zeroReconcileCounts(), blobs: 3, missing: 2, skipped: { ...zeroReconcileCounts().skipped, directory: 2, archived: 1 } };
    const sum = addReconcileCounts(a, b);
    assert.equal(sum.blobs, 5);
    assert.equal(sum.inSync, 1);
    assert.equal(sum.missing, 2);
    assert.equal(sum.skipped.directory, 3);
    assert.equal(sum.skipped.archived, 1);
  });
});
