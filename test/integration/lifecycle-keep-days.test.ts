/**
 * LAKE_SNAPSHOTS=keep-days:N through the local host and Azurite: every snapshot stays N days (fast restores inside the
 * lake), change detection is the snapshot comparison as in the default mode, and once older than N days a backed-up
 * snapshot that a newer one superseded goes (at the next backup of the blob, or the retention run).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { containerCounts, DAY_MS, type LifecycleHarness, startLifecycleHarness } from "../support/lifecycle-fixtures";

let h: LifecycleHarness;

describe("lifecycle through the local host (LAKE_SNAPSHOTS=keep-days:7)", { timeout: 600_000 }, () => {
  before(async () => {
    h = await startLifecycleHarness({ LAKE_SNAPSHOTS: "keep-days:7" });
  });
  after(async () => {
    await h?.stop();
  });

  it("keeps every snapshot for N days, detects changes as before, and lets superseded ones go after N days", async () => {
    const c = await h.lakeContainer("days", { "k.csv": "k1", "still.csv": "s" });
    await h.backUp("days");
    await h.write(c, "k.csv", "k2");
    const second = await h.backUp("days");
    assert.deepEqual([second.snapshots, second.changed, second.unchanged], [1, 1, 1], "exactly the changed blob");
    assert.deepEqual(await h.snapshotCounts(c), { "k.csv": 2, "still.csv": 1 }, "both versions stay in the lake for 7 days");
    const third = await h.backUp("days");
    assert.deepEqual([third.snapshots, third.changed, third.unchanged], [0, 0, 2], "an unchanged blob is never snapshotted again");

    const young = await h.retain({ containers: ["days"] });
    assert.equal(containerCounts(young, "days").snapshots.kept.withinDays, 1);
    // The retention run judges ages by orchestration time, which follows the host's virtual clock.
    await h.host.advanceTime(8 * DAY_MS);
    const old = await h.retain({ containers: ["days"] });
    assert.equal(containerCounts(old, "days").snapshots.deleted.superseded, 1);
    assert.deepEqual(await h.snapshotCounts(c), { "k.csv": 1, "still.csv": 1 });
  });
});
