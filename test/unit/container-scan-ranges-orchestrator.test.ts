/**
 * The container scan split into name ranges, driven through the real durable-functions replay engine, the ranges'
 * sub-orchestrations run for real (test/support/orchestrator-driver.ts) with a scripted plan and page activity: the
 * fan-out at the planned parallelism, continueAsNew carrying the ranges (never their cursors) and each range's own
 * cursors, a rescan that lists every range again, SNAPSHOTS=auto decided once across ranges, a failing range, and the
 * unsplit container listed as one chain.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import type { PlanRangesInput, PlanRangesResult } from "../../src/activities/plan-listing-ranges";
import { type ContainerScanInput, type ContainerScanOutput, type PageCounts, type ScanPageInput, type ScanPageResult, zeroScanCounts } from "../../src/domain/container-scan";
import type { ListingRange } from "../../src/domain/listing-ranges";
import { Activities, Events, Orchestrators } from "../../src/function-names";
import { containerScan } from "../../src/orchestrators/container-scan";
import { type Answer, OrchestrationDriver, type RunResult, type Script } from "../support/orchestrator-driver";

const START = "2026-01-05T08:00:00.000Z";
const RANGES: ListingRange[] = [{ prefix: "", level: true }, { prefix: "a/" }, { prefix: "b/" }, { prefix: "c/" }, { prefix: "d/" }];

function counts(blobs: number, extra: Partial<PageCounts> = {}): PageCounts {
  return { ...zeroScanCounts(), blobsSeen: blobs, new: blobs, snapshots: blobs, requests: blobs, listRequests: 1, snapshotRequests: blobs, ...extra };
}

const plan = (ranges: ListingRange[] | undefined, parallelism: number, seen: PlanRangesInput[] = []): Script =>
  ((input: PlanRangesInput): Answer => {
    seen.push(input);
    return { result: { kind: "ranges", ...(ranges !== undefined && { ranges }), parallelism } satisfies PlanRangesResult };
  });

/** Every range (or the whole container) in two pages of one blob each, a second apart. */
function twoPages(calls: ScanPageInput[], extra: (input: ScanPageInput) => Partial<Extract<ScanPageResult, { kind: "page" }>> = () => ({})): Script {
  return ((input: ScanPageInput): Answer => {
    calls.push(input);
    const first = input.continuationToken === undefined;
    return { result: { kind: "page", counts: counts(1), ...(first && { continuationToken: `${input.range?.prefix ?? ""}t1` }), ...extra(input) } satisfies ScanPageResult, afterMs: 1000 };
  });
}

/** `firstPages: 0` unless a test says otherwise: the plan comes first, as these tests are about the ranges. */
function driverFor(input: ContainerScanInput, activities: Record<string, Script>): OrchestrationDriver {
  return new OrchestrationDriver(containerScan, {
    input: { firstPages: 0, ...input },
    instanceId: "scan-raw",
    startAt: START,
    activities,
    childOrchestrators: { [Orchestrators.containerScan]: containerScan },
  });
}

const subs = (result: RunResult) => result.scheduled.flatMap((s) => (s.kind === "subOrchestration" ? [s] : []));
const rangeOf = (p: ScanPageInput): string => (p.range === undefined ? "(whole)" : `${p.range.prefix}${p.range.level === true ? "|level" : ""}`);

describe("container scan in name ranges", { timeout: 30_000 }, () => {
  it("lists a container its first pages finish as one chain and never plans it", async () => {
    const calls: ScanPageInput[] = [];
    const planned: PlanRangesInput[] = [];
    const result = await driverFor({ container: "raw", snapshots: "auto", firstPages: 4 }, { [Activities.planListingRanges]: plan(RANGES, 2, planned), [Activities.scanSourcePage]: twoPages(calls) }).run();
    assert.equal(result.status, "Completed", result.error);
    assert.deepEqual(planned, [], "no plan");
    assert.deepEqual(calls.map(rangeOf), ["(whole)", "(whole)"]);
    assert.equal((result.output as ContainerScanOutput).ranges, undefined);
  });

  it("plans after the first pages: ranges wholly before their last name are left out, the others start after it, on both sides; the page count survives continueAsNew", async () => {
    const calls: ScanPageInput[] = [];
    const lastNames = ["a/1", "a/9", "b/x"];
    const page: Script = (input: ScanPageInput): Answer => {
      calls.push(input);
      if (input.range !== undefined) return { result: { kind: "page", counts: counts(1) } satisfies ScanPageResult };
      const i = input.continuationToken === undefined ? 0 : Number(input.continuationToken.slice(1));
      return { result: { kind: "page", counts: counts(2), continuationToken: `t${i + 1}`, skipName: lastNames[i] ?? "?" } satisfies ScanPageResult };
    };
    const result = await driverFor({ container: "raw", snapshots: "off", firstPages: 3, pagesPerExecution: 2 }, { [Activities.planListingRanges]: plan(RANGES, 8), [Activities.scanSourcePage]: page }).run();
    assert.equal(result.status, "Completed", result.error);
    assert.deepEqual(result.trail.slice(0, 5), [Activities.scanSourcePage, Activities.scanSourcePage, "wait " + Events.rescanContainer, "timer +0s", "continueAsNew"]);
    assert.deepEqual(calls.filter((c) => c.range === undefined).map((c) => c.continuationToken ?? null), [null, "t1", "t2"], "three first pages across two executions");
    const started = subs(result).map((s) => s.input as ContainerScanInput);
    assert.deepEqual(started.map((i) => i.range?.prefix), ["", "b/", "c/", "d/"], "a/ sorts wholly before b/x");
    for (const i of started) assert.deepEqual([i.progress?.skipName, i.progress?.backupCursor], ["b/x", { after: "b/x" }]);
    const out = result.output as ContainerScanOutput;
    assert.deepEqual([out.ranges, out.pages, out.blobsSeen], [4, 7, 10]);
  });

  it("goes on as one chain after the first pages when the ranges left would not pay for their sub-orchestrations", async () => {
    const calls: ScanPageInput[] = [];
    const lastNames = ["a/1", "a/9", "b/x"];
    const page: Script = (input: ScanPageInput): Answer => {
      calls.push(input);
      const i = input.continuationToken === undefined ? 0 : Number(input.continuationToken.slice(1));
      const more = i < 3 ? { continuationToken: `t${i + 1}`, skipName: lastNames[i] ?? "?" } : {};
      return { result: { kind: "page", counts: counts(2), ...more } satisfies ScanPageResult };
    };
    // The first pages covered a/ and part of b/: at that pace the four ranges left are two stretches, and at
    // parallelism 2 they would take two batches.
    const planned: PlanRangesInput[] = [];
    const result = await driverFor({ container: "raw", snapshots: "off", firstPages: 3 }, { [Activities.planListingRanges]: plan(RANGES, 2, planned), [Activities.scanSourcePage]: page }).run();
    assert.equal(result.status, "Completed", result.error);
    assert.equal(planned.length, 1);
    assert.deepEqual(subs(result), [], "no range");
    assert.deepEqual(calls.map((c) => [rangeOf(c), c.continuationToken ?? null]), [["(whole)", null], ["(whole)", "t1"], ["(whole)", "t2"], ["(whole)", "t3"]]);
    const out = result.output as ContainerScanOutput;
    assert.deepEqual([out.ranges, out.pages, out.blobsSeen], [undefined, 4, 8]);
  });

  it("fans the ranges out at the planned parallelism, one batch per execution, each range paged with its own cursor", async () => {
    const calls: ScanPageInput[] = [];
    const planned: PlanRangesInput[] = [];
    const result = await driverFor({ container: "raw", snapshots: "auto" }, {
      [Activities.planListingRanges]: plan(RANGES, 2, planned),
      [Activities.scanSourcePage]: twoPages(calls),
    }).run();
    assert.equal(result.status, "Completed", result.error);
    assert.deepEqual(planned, [{ container: "raw" }], "planned from the lake alone: no backup container");
    // Two ranges at a time, started together; a new execution per batch.
    assert.deepEqual(subs(result).map((s) => [s.execution, s.at, (s.input as ContainerScanInput).range?.prefix]), [
      [1, START, ""],
      [1, START, "a/"],
      [2, "2026-01-05T08:00:02.000Z", "b/"],
      [2, "2026-01-05T08:00:02.000Z", "c/"],
      [3, "2026-01-05T08:00:04.000Z", "d/"],
    ]);
    assert.equal(new Set(subs(result).map((s) => s.instanceId)).size, RANGES.length, "one instance per range");
    assert.ok(subs(result).every((s) => s.instanceId.startsWith("scan-raw:p1-")));
    assert.equal(result.trail.filter((t) => t === "continueAsNew").length, 2);
    // Each range listed alone, from its own first page to its own second.
    assert.deepEqual(calls.map((p) => [rangeOf(p), p.continuationToken ?? null]), [
      ["|level", null], ["|level", "t1"], ["a/", null], ["a/", "a/t1"],
      ["b/", null], ["b/", "b/t1"], ["c/", null], ["c/", "c/t1"], ["d/", null], ["d/", "d/t1"],
    ]);
    assert.ok(calls.every((p) => p.scanStartedAt === START && p.prefix === undefined));
    const out = result.output as ContainerScanOutput;
    assert.deepEqual([out.passes, out.ranges, out.pages, out.blobsSeen, out.snapshots, out.requests, out.startedAt], [1, 5, 10, 10, 10, 10, START]);
    assert.deepEqual(out.storageRequests, { list: 10, backupList: 0, snapshot: 10, enqueue: 10 });
    assert.deepEqual(result.customStatus, {
      phase: "done", pass: 1, passesDone: 1, pages: 10, ranges: 5, rangesDone: 5, blobsSeen: 10, snapshots: 10, requests: 10, skipped: 0, dryRun: false,
    });
  });

  it("continues as new with the ranges and the sums only; each range continues as new with its own cursors", async () => {
    const calls: ScanPageInput[] = [];
    const backupCursor = (p: ScanPageInput) => ({ token: `${p.range?.prefix ?? ""}b`, after: `${p.range?.prefix ?? ""}x` });
    const driver = driverFor({ container: "raw", snapshots: "off", pagesPerExecution: 1 }, {
      [Activities.planListingRanges]: plan(RANGES, 2),
      [Activities.scanSourcePage]: twoPages(calls, (p) => ({ backupCursor: backupCursor(p), skipName: `${p.range?.prefix ?? ""}s` })),
    });
    const result = await driver.run();
    assert.equal(result.status, "Completed", result.error);
    const second = result.inputs[1] as ContainerScanInput;
    assert.deepEqual(second.fanOut, { ranges: RANGES, next: 2, parallelism: 2 });
    const carried = second.progress;
    assert.ok(carried !== undefined);
    assert.deepEqual([carried.pages, carried.totals.blobsSeen, carried.executions, carried.rescanRequested], [4, 4, 2, false]);
    assert.deepEqual([carried.continuationToken, carried.skipName, carried.backupCursor], [undefined, undefined, undefined], "no range's cursor in the scan");
    // A range's own second execution: its listing and backup-join cursors, its range.
    const child = result.children.find((c) => (c.inputs[0] as ContainerScanInput).range?.prefix === "b/");
    assert.ok(child);
    assert.equal(child.inputs.length, 2);
    const resumed = child.inputs[1] as ContainerScanInput;
    assert.deepEqual([resumed.range, resumed.progress?.continuationToken, resumed.progress?.skipName, resumed.progress?.backupCursor], [
      { prefix: "b/" }, "b/t1", "b/s", { token: "b/b", after: "b/x" },
    ]);
    assert.deepEqual(calls.filter((p) => p.range?.prefix === "b/").map((p) => p.backupCursor), [undefined, { token: "b/b", after: "b/x" }]);
    assert.ok(child.historyLength < 12, "a range's execution holds one page");
    assert.ok(result.historyLength < 20, "the scan's execution holds one batch");
    assert.equal((result.output as ContainerScanOutput).pages, 10);
  });

  it("a rescan requested while ranges run makes one more pass that plans again and lists every range", async () => {
    const calls: ScanPageInput[] = [];
    const scan: { driver?: OrchestrationDriver } = {};
    let planCalls = 0;
    const activities: Record<string, Script> = {
      [Activities.planListingRanges]: ((input: PlanRangesInput): Answer => {
        planCalls += 1;
        return plan(RANGES, 2)(input as never, undefined as never);
      }),
      [Activities.scanSourcePage]: ((input: ScanPageInput, call): Answer => {
        // A start joins the scan while its first range lists its first page.
        if (calls.length === 0) scan.driver?.raiseEvent(Events.rescanContainer);
        return twoPages(calls)(input as never, call);
      }),
    };
    scan.driver = driverFor({ container: "raw", snapshots: "auto" }, activities);
    const result = await scan.driver.run();
    assert.equal(result.status, "Completed", result.error);
    assert.equal((result.inputs[1] as ContainerScanInput).progress?.rescanRequested, true, "recorded before the batch's continueAsNew");
    assert.equal(planCalls, 2, "each pass plans its ranges");
    const passTwo = calls.filter((p) => p.scanStartedAt !== START);
    assert.deepEqual([...new Set(passTwo.map(rangeOf))], ["|level", "a/", "b/", "c/", "d/"], "the second pass lists every range");
    assert.ok(passTwo.every((p) => p.scanStartedAt === passTwo[0]?.scanStartedAt));
    const ids = subs(result).map((s) => s.instanceId);
    assert.equal(new Set(ids).size, 10, "the second pass's ranges are new instances");
    const out = result.output as ContainerScanOutput;
    assert.deepEqual([out.passes, out.pages, out.blobsSeen, out.startedAt], [2, 20, 20, START]);
    assert.deepEqual(result.customStatus, {
      phase: "done", pass: 2, passesDone: 2, pages: 20, ranges: 5, rangesDone: 5, blobsSeen: 20, snapshots: 20, requests: 20, skipped: 0, dryRun: false,
    });
  });

  it("SNAPSHOTS=auto: the first range that meets a refusal switches the ranges started after it, and the report names it", async () => {
    const calls: ScanPageInput[] = [];
    const result = await driverFor({ container: "raw", snapshots: "auto" }, {
      [Activities.planListingRanges]: plan(RANGES, 2),
      [Activities.scanSourcePage]: twoPages(calls, (p) => (p.range?.prefix === "a/" && !p.snapshotsRefused ? { snapshotsRefusedReason: "FeatureNotYetSupported" } : {})),
    }).run();
    assert.equal(result.status, "Completed", result.error);
    assert.deepEqual(calls.map((p) => [rangeOf(p), p.snapshotsRefused]), [
      ["|level", false], ["|level", false], ["a/", false], ["a/", true],
      ["b/", true], ["b/", true], ["c/", true], ["c/", true], ["d/", true], ["d/", true],
    ]);
    const out = result.output as ContainerScanOutput;
    assert.equal(out.snapshotMode, "etagPinned");
    assert.ok(out.notes.some((n) => /refused snapshots in range "a\/" \(FeatureNotYetSupported\).*ETag-pinned.*every range listed after it/.test(n)), out.notes.join("\n"));
  });

  it("a failing range fails the scan, naming the range and the cause, and starts no later batch", async () => {
    const calls: ScanPageInput[] = [];
    const result = await driverFor({ container: "raw", snapshots: "auto" }, {
      [Activities.planListingRanges]: plan(RANGES, 2),
      [Activities.scanSourcePage]: ((input: ScanPageInput, call): Answer =>
        input.range?.prefix === "b/" ? { error: "ECONNRESET" } : twoPages(calls)(input as never, call)),
    }).run();
    assert.equal(result.status, "Failed");
    assert.match(result.error ?? "", /scan of "raw" failed: .*range "b\/": .*ScanSourcePage.*ECONNRESET/);
    assert.deepEqual(subs(result).map((s) => (s.input as ContainerScanInput).range?.prefix), ["", "a/", "b/", "c/"], "d/ never started");
  });

  it("a dry run in ranges never looks for rescan requests", async () => {
    const calls: ScanPageInput[] = [];
    const result = await driverFor({ container: "raw", snapshots: "auto", dryRun: true }, {
      [Activities.planListingRanges]: plan(RANGES, 8),
      [Activities.scanSourcePage]: twoPages(calls, () => ({ counts: counts(1, { snapshots: 0, requests: 0, snapshotRequests: 0 }) })),
    }).run();
    assert.equal(result.status, "Completed", result.error);
    assert.ok(!result.trail.some((t) => t.startsWith("wait")), result.trail.join(", "));
    assert.ok(calls.every((p) => p.dryRun));
    assert.deepEqual([(result.output as ContainerScanOutput).ranges, (result.output as ContainerScanOutput).pages], [5, 10]);
  });

  it("a container the plan does not split is listed as one chain, as before ranges: no sub-orchestration, no range", async () => {
    const calls: ScanPageInput[] = [];
    const result = await driverFor({ container: "raw", snapshots: "auto", pagesPerExecution: 1 }, {
      [Activities.planListingRanges]: plan(undefined, 8),
      [Activities.scanSourcePage]: twoPages(calls),
    }).run();
    assert.equal(result.status, "Completed", result.error);
    assert.deepEqual(subs(result), []);
    assert.deepEqual(calls.map((p) => [rangeOf(p), p.continuationToken ?? null]), [["(whole)", null], ["(whole)", "t1"]]);
    assert.equal(result.trail.filter((t) => t === Activities.planListingRanges).length, 1, "planned once per pass, not again after continueAsNew");
    const out = result.output as ContainerScanOutput;
    assert.deepEqual([out.ranges, out.pages, out.passes], [undefined, 2, 1]);
  });
});
