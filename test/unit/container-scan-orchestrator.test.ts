/**
 * The container scan orchestrator, branch by branch, driven through the real durable-functions replay engine with a
 * scripted page activity (test/support/orchestrator-driver.ts): paging, continueAsNew with cursors and totals carried,
 * passes joined by rescan events, the failures it reports, and dry runs.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import type { PlanRangesResult } from "../../src/activities/plan-listing-ranges";
import {
  type ContainerScanInput,
  type ContainerScanOutput,
  coveringPass,
  type PageCounts,
  type ScanPageInput,
  type ScanPageResult,
  zeroScanCounts,
} from "../../src/domain/container-scan";
import { Activities, Events } from "../../src/function-names";
import { containerScan } from "../../src/orchestrators/container-scan";
import { type Call, type DriverOptions, OrchestrationDriver, runOrchestration, type Scheduled } from "../support/orchestrator-driver";

const START = "2026-01-05T08:00:00.000Z";

function counts(blobs: number, extra: Partial<PageCounts> = {}): PageCounts {
  return { ...zeroScanCounts(), blobsSeen: blobs, new: blobs, snapshots: blobs, requests: blobs, listRequests: 1, snapshotRequests: blobs, ...extra };
}

/** A container listed in pages of the given sizes: page i answers with token `t<i+1>` unless it is the last. */
function pages(sizes: readonly number[], extra: (i: number) => Partial<Extract<ScanPageResult, { kind: "page" }>> = () => ({})) {
  return (input: ScanPageInput): { result: ScanPageResult } => {
    const i = input.continuationToken === undefined ? 0 : Number(input.continuationToken.slice(1));
    const last = i === sizes.length - 1;
    return { result: { kind: "page", counts: counts(sizes[i] ?? 0), ...(!last && { continuationToken: `t${i + 1}` }), ...extra(i) } };
  };
}

/** PlanListingRanges finding nothing to split: the container is listed as one chain of pages, as before ranges. */
const unsplit = { [Activities.planListingRanges]: () => ({ result: { kind: "ranges", parallelism: 8 } satisfies PlanRangesResult }) };

/** `firstPages: 0`: the plan first, as before first pages (the tests of first pages say otherwise). */
const scanInput = (overrides: Partial<ContainerScanInput> = {}): ContainerScanInput => ({ container: "raw", snapshots: "auto", firstPages: 0, ...overrides });

function pageInputs(scheduled: readonly Scheduled[]): ScanPageInput[] {
  return scheduled.flatMap((s) => (s.kind === "activity" && s.name === Activities.scanSourcePage ? [s.input as ScanPageInput] : []));
}

const run = (input: ContainerScanInput, page: (input: ScanPageInput, call: Call) => { result: ScanPageResult } | { error: string }, options: Partial<DriverOptions> = {}) =>
  runOrchestration(containerScan, { input, startAt: START, activities: { ...unsplit, [Activities.scanSourcePage]: page }, ...options });

describe("container scan orchestrator", { timeout: 30_000 }, () => {
  it("scans page after page, carrying the listing cursor, and completes with the totals and no second pass", async () => {
    const result = await run(scanInput({ prefix: "in/" }), pages([3, 2]));
    assert.equal(result.status, "Completed", result.error);
    const inputs = pageInputs(result.scheduled);
    assert.deepEqual(inputs.map((p) => p.continuationToken), [undefined, "t1"]);
    assert.ok(inputs.every((p) => p.prefix === "in/" && p.scanStartedAt === START && p.snapshotsRefused === false && !p.dryRun));
    // After the last page: one look for a buffered rescan request (event raced with a timer due now), none found.
    assert.deepEqual(result.trail, [Activities.planListingRanges, Activities.scanSourcePage, Activities.scanSourcePage, `wait ${Events.rescanContainer}`, "timer +0s"]);
    const out = result.output as ContainerScanOutput;
    assert.deepEqual(
      { passes: out.passes, pages: out.pages, blobsSeen: out.blobsSeen, snapshots: out.snapshots, requests: out.requests, mode: out.snapshotMode, startedAt: out.startedAt },
      { passes: 1, pages: 2, blobsSeen: 5, snapshots: 5, requests: 5, mode: "snapshots", startedAt: START },
    );
    assert.deepEqual(out.storageRequests, { list: 2, backupList: 0, snapshot: 5, enqueue: 5 });
    assert.deepEqual(out.notes, []);
    assert.deepEqual(result.customStatus, { phase: "done", pass: 1, passesDone: 1, pages: 2, blobsSeen: 5, snapshots: 5, requests: 5, skipped: 0, dryRun: false });
  });

  it("continues as new every pagesPerExecution pages with the cursor, skip name, backup cursor and totals carried", async () => {
    const backupCursor = (i: number) => ({ token: `b${i}`, after: `name-${i}` });
    const result = await run(
      scanInput({ pagesPerExecution: 2, snapshots: "off" }),
      pages([1, 2, 3, 4, 5], (i) => ({ skipName: `skip-${i}`, backupCursor: backupCursor(i) })),
    );
    assert.equal(result.status, "Completed", result.error);
    assert.equal(result.inputs.length, 3, "two continueAsNew for five pages at two per execution");
    const second = result.inputs[1] as ContainerScanInput;
    assert.deepEqual(second.progress && { ...second.progress, totals: second.progress.totals.blobsSeen }, {
      scanStartedAt: START,
      startedAt: START,
      pass: 1,
      rescanRequested: false,
      continuationToken: "t2",
      skipName: "skip-1",
      backupCursor: backupCursor(1),
      whole: true,
      passPages: 2,
      pages: 2,
      executions: 2,
      totals: 3,
    });
    const inputs = pageInputs(result.scheduled);
    assert.deepEqual(inputs.map((p) => [p.continuationToken, p.skipName, p.backupCursor?.token]), [
      [undefined, undefined, undefined],
      ["t1", "skip-0", "b0"],
      ["t2", "skip-1", "b1"],
      ["t3", "skip-2", "b2"],
      ["t4", "skip-3", "b3"],
    ]);
    assert.ok(inputs.every((p) => p.snapshots === "off"));
    const out = result.output as ContainerScanOutput;
    assert.deepEqual([out.pages, out.blobsSeen, out.passes, out.snapshotMode], [5, 15, 1, "etagPinned"]);
    assert.ok(out.notes.some((n) => /SNAPSHOTS=off/.test(n)));
  });

  it("a rescan request raised during the pass makes one more pass from the top, with a new pass start", async () => {
    const driver = new OrchestrationDriver(containerScan, {
      input: scanInput(),
      startAt: START,
      activities: {
        ...unsplit,
        [Activities.scanSourcePage]: (input: ScanPageInput, call) => {
          // A second start joins while the first pass lists its first page; the page takes ten seconds.
          if (input.continuationToken === undefined && input.scanStartedAt === START) call.driver.raiseEvent(Events.rescanContainer);
          return { ...pages([2, 1])(input), afterMs: 10_000 };
        },
      },
    });
    const result = await driver.run();
    assert.equal(result.status, "Completed", result.error);
    const inputs = pageInputs(result.scheduled);
    assert.deepEqual(inputs.map((p) => [p.continuationToken, p.scanStartedAt]), [
      [undefined, START],
      ["t1", START],
      [undefined, "2026-01-05T08:00:20.000Z"],
      ["t1", "2026-01-05T08:00:20.000Z"],
    ]);
    const out = result.output as ContainerScanOutput;
    assert.deepEqual([out.passes, out.pages, out.blobsSeen, out.startedAt], [2, 4, 6, START]);
    assert.equal((result.inputs[1] as ContainerScanInput).progress?.pass, 2);
  });

  it("a rescan request raised in an execution that continues as new is carried into the next execution", async () => {
    let raised = false;
    const result = await run(scanInput({ pagesPerExecution: 1 }), (input, call) => {
      if (!raised) {
        raised = true;
        call.driver.raiseEvent(Events.rescanContainer);
      }
      return pages([1, 1])(input);
    });
    assert.equal(result.status, "Completed", result.error);
    assert.equal((result.inputs[1] as ContainerScanInput).progress?.rescanRequested, true, "recorded before continueAsNew");
    const out = result.output as ContainerScanOutput;
    assert.deepEqual([out.passes, out.pages], [2, 4]);
    assert.deepEqual(pageInputs(result.scheduled).map((p) => p.continuationToken), [undefined, "t1", undefined, "t1"]);
  });

  it("consumes every buffered rescan request at once: two joins make one extra pass, not two", async () => {
    let raised = false;
    const result = await run(scanInput(), (input, call) => {
      if (!raised) {
        raised = true;
        call.driver.raiseEvent(Events.rescanContainer);
        call.driver.raiseEvent(Events.rescanContainer);
      }
      return pages([1])(input);
    });
    const out = result.output as ContainerScanOutput;
    assert.deepEqual([out.passes, out.pages], [2, 2]);
  });

  it("caps the passes under continuous joins: a rescan after the last offered pass gets one more pass, then it completes", async () => {
    // Every page brings a join: without the cap the scan would never finish.
    const result = await run(scanInput({ maxPasses: 2 }), (input, call) => {
      call.driver.raiseEvent(Events.rescanContainer);
      return pages([1])(input);
    });
    assert.equal(result.status, "Completed", result.error);
    const out = result.output as ContainerScanOutput;
    assert.deepEqual([out.passes, out.pages], [3, 3]);
    assert.deepEqual(result.customStatus, { phase: "done", pass: 3, passesDone: 3, pages: 3, blobsSeen: 3, snapshots: 3, requests: 3, skipped: 0, dryRun: false });
  });

  it("shows the pass running and the passes done, from the first moment of each pass", async () => {
    const seen: unknown[] = [];
    const driver = new OrchestrationDriver(containerScan, {
      input: scanInput(),
      startAt: START,
      activities: {
        ...unsplit,
        [Activities.scanSourcePage]: (input: ScanPageInput, call) => {
          seen.push(call.driver.customStatus);
          if (seen.length === 1) call.driver.raiseEvent(Events.rescanContainer);
          return pages([1, 1])(input);
        },
      },
    });
    const result = await driver.run();
    assert.equal(result.status, "Completed", result.error);
    const shown = seen.map((s) => {
      const { phase, pass, passesDone } = s as { phase: string; pass: number; passesDone: number };
      return [phase, pass, passesDone];
    });
    assert.deepEqual(shown, [
      ["scanning", 1, 0],
      ["scanning", 1, 0],
      ["scanning", 2, 1],
      ["scanning", 2, 1],
    ]);
  });

  it("tells a joining start which pass covers it: the next, or the one after when the pass shown may have ended", () => {
    assert.equal(coveringPass({ phase: "scanning", pass: 1 }), 2);
    assert.equal(coveringPass({ phase: "done", pass: 1 }), 3);
    assert.equal(coveringPass(null), 2);
  });

  it("a dry run never looks for rescan requests (joined starts ask it for nothing), even at continueAsNew", async () => {
    let raised = false;
    const result = await run(scanInput({ dryRun: true, pagesPerExecution: 1 }), (input, call) => {
      if (!raised) {
        raised = true;
        call.driver.raiseEvent(Events.rescanContainer);
      }
      return { result: { kind: "page", counts: counts(2, { snapshots: 0, requests: 0, snapshotRequests: 0 }), ...(input.continuationToken === undefined && { continuationToken: "t1" }) } };
    });
    assert.equal(result.status, "Completed", result.error);
    assert.deepEqual(result.trail, [Activities.planListingRanges, Activities.scanSourcePage, "continueAsNew", Activities.scanSourcePage]);
    assert.ok(pageInputs(result.scheduled).every((p) => p.dryRun));
    const out = result.output as ContainerScanOutput;
    assert.deepEqual([out.dryRun, out.passes, out.pages, out.snapshots, out.requests], [true, 1, 2, 0, 0]);
    assert.ok(out.notes.includes("dry run: nothing was snapshotted or requested"));
  });

  it("fails with the account named when the container does not exist", async () => {
    const result = await run(scanInput({ container: "gone" }), () => ({ result: { kind: "containerNotFound", account: "datalake1" } }));
    assert.equal(result.status, "Failed");
    assert.match(result.error ?? "", /container "gone" does not exist in storage account "datalake1"/);
    assert.deepEqual(result.trail, [Activities.planListingRanges, Activities.scanSourcePage]);
  });

  it("fails, naming SNAPSHOTS=auto, when SNAPSHOTS=on meets an account that refuses snapshots", async () => {
    const result = await run(scanInput({ snapshots: "on" }), () => ({ result: { kind: "snapshotsRefused", account: "datalake1", reason: "FeatureNotYetSupportedForHierarchicalNamespaceAccounts" } }));
    assert.equal(result.status, "Failed");
    assert.match(result.error ?? "", /"datalake1" refuses blob snapshots \(FeatureNotYetSupportedForHierarchicalNamespaceAccounts\); SNAPSHOTS=on requires them.*SNAPSHOTS=auto/);
  });

  it("SNAPSHOTS=auto: once a page reports refused snapshots, later pages are told, and the output says ETag-pinned", async () => {
    const result = await run(scanInput({ pagesPerExecution: 2 }), pages([1, 1, 1], (i) => (i === 0 ? { snapshotsRefusedReason: "FeatureNotYetSupported" } : {})));
    assert.equal(result.status, "Completed", result.error);
    assert.deepEqual(pageInputs(result.scheduled).map((p) => p.snapshotsRefused), [false, true, true], "carried across continueAsNew too");
    const out = result.output as ContainerScanOutput;
    assert.equal(out.snapshotMode, "etagPinned");
    assert.ok(out.notes.some((n) => /refused snapshots \(FeatureNotYetSupported\).*ETag-pinned/.test(n)));
  });

  it("notes blobs that changed or vanished after listing", async () => {
    const result = await run(scanInput(), () => ({ result: { kind: "page", counts: counts(3, { skipped: { ...zeroScanCounts().skipped, changedSinceListing: 1 } }) } }));
    const out = result.output as ContainerScanOutput;
    assert.equal(out.skipped.changedSinceListing, 1);
    assert.ok(out.notes.some((n) => /changed or were deleted after they were listed/.test(n)));
  });

  it("retries a failing page with the storage retry policy, then fails the scan with the activity's error", async () => {
    const flaky = await run(scanInput(), (input, call) => (call.attempt < 3 ? { error: "ECONNRESET" } : pages([4])(input)));
    assert.equal(flaky.status, "Completed", flaky.error);
    assert.deepEqual(flaky.trail.slice(1, 6), [Activities.scanSourcePage, "retry timer +5s", `${Activities.scanSourcePage} (attempt 2)`, "retry timer +10s", `${Activities.scanSourcePage} (attempt 3)`]);
    assert.equal((flaky.output as ContainerScanOutput).blobsSeen, 4);

    const broken = await run(scanInput(), () => ({ error: "ECONNRESET" }));
    assert.equal(broken.status, "Failed");
    assert.match(broken.error ?? "", /Activity function 'ScanSourcePage' failed: ECONNRESET/);
    assert.equal(broken.scheduled.filter((s) => s.kind === "activity" && s.name === Activities.scanSourcePage).length, 5);
  });

  it("fails on an invalid input and names the fields", async () => {
    const result = await runOrchestration(containerScan, { input: { container: "Not_Valid", snapshots: "sometimes" } });
    assert.equal(result.status, "Failed");
    assert.match(result.error ?? "", /must be a container name/);
    assert.match(result.error ?? "", /snapshots/);
    assert.deepEqual(result.trail, []);
  });
});
