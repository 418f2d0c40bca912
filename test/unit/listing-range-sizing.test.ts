import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { directoriesCovered, rangesMayPay, rangesPay } from "../../src/domain/listing-ranges";

describe("rangesPay (whether the ranges left after a container's first pages are worth their sub-orchestrations)", () => {
  it("splits when the first pages stayed inside few directories: the rest is many stretches, the batches few", () => {
    assert.equal(rangesPay(256, 0, 8), true, "10 million names in 256 directories, the first window inside the first");
    assert.equal(rangesPay(45, 4, 8), true, "about 9 stretches left, 6 batches");
    assert.equal(rangesPay(2, 0, 2), true, "two big directories, one batch");
  });

  it("goes on as one chain when the ranges left hold less than the batches they would take", () => {
    assert.equal(rangesPay(31, 19, 8), false, "50,000 names in 50 directories after a window of 20,000: 1.6 windows left, 4 batches");
    assert.equal(rangesPay(40, 10, 8), false, "100,000 in 50 after 20,000: 3.6 windows left, 5 batches");
    assert.equal(rangesPay(4, 1, 2), false, "at parallelism 2 a covered directory halves the stretches: never more than the batches");
    assert.equal(rangesPay(1, 0, 8), false, "one range is no split");
  });

  it("counts the directories a listing from the start covered wholly: all it met but the last name's", () => {
    const names = ["0.csv", "a/1", "a/2", "b/1", "b/c/2", "m.csv", "x/1"];
    assert.equal(directoriesCovered("", names), 2, "a/ and b/; x/ may go on");
    assert.equal(directoriesCovered("", names.slice(0, 6)), 2, "a name at the root after b/ closes it");
    assert.equal(directoriesCovered("", ["a/1", "a/2"]), 0, "still inside the first directory");
    assert.equal(directoriesCovered("", ["top.csv"]), 0);
    assert.equal(directoriesCovered("", []), 0);
    assert.equal(directoriesCovered("p/", ["p/a/1", "p/b/1", "p/b/2", "p/c/1"]), 2, "directories under the run's prefix");
    assert.equal(directoriesCovered("p/", ["p/x.csv", "p/a/1"]), 0);
    // Lower bound of the plan's count: at parallelism - 1 covered, no number of ranges left can pay.
    for (const remaining of [1, 2, 7, 8, 9, 100, 256]) assert.equal(rangesPay(remaining, 7, 8), false, `${remaining} ranges left`);
    // rangesMayPay: whether some number of ranges left pays, exactly.
    for (const parallelism of [1, 2, 3, 8, 64]) {
      for (const covered of [0, 1, 2, 6, 7, 8, 63, 64]) {
        const some = Array.from({ length: 512 }, (_, i) => i + 1).some((remaining) => rangesPay(remaining, covered, parallelism));
        assert.equal(rangesMayPay(covered, parallelism), some, `covered ${covered}, parallelism ${parallelism}`);
      }
    }
  });
});
