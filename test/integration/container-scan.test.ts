/**
 * The container scan end to end: HTTP starter → orchestration → page activity, in the local Durable host, against
 * Azurite. Only the scan's own function files are loaded (the backup queue trigger is not), so the requests stay in
 * the queue for the test to read.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import { createHttpHeaders, type PipelinePolicy } from "@azure/core-rest-pipeline";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { QueueClient } from "@azure/storage-queue";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { type LocalHost, startLocalHost } from "../../local-host";
import type { BackupRequest } from "../../src/domain/backup-request";
import { type ContainerScanInput, type ContainerScanOutput, DEFAULT_MAX_PASSES } from "../../src/domain/container-scan";
import { Orchestrators } from "../../src/function-names";
import { runtime } from "../../src/runtime";
import { followStatus, type StatusBody } from "../support/durable-http";
import { addPipelinePolicy, drainRequests, listSnapshots, seedBlobs } from "../support/scan-fixtures";

const QUEUE = "scan-e2e-requests";
const SCAN_FILES = [
  "src/triggers/http-start-container-scan.js",
  "src/triggers/http-get-status.js",
  "src/orchestrators/container-scan.js",
  "src/activities/scan-source-page.js",
  "src/activities/plan-listing-ranges.js",
];

let azurite: AzuriteInstance;
let host: LocalHost;
let lake: BlobServiceClient;
let queue: QueueClient;
let counter = 0;

/** Per-test behaviour of the policy added to the app's own source client (fault injection through the real stack). */
let onSnapshot: ((blobName: string) => Promise<"refuse" | "forward">) | undefined;

/**
 * The backup requests queued for this container (all tests share the host's queue; each reads only its own container's
 * requests, so a scan another test left running cannot change what this one sees).
 */
async function requestsFor(container: ContainerClient): Promise<BackupRequest[]> {
  return (await drainRequests(queue)).filter((r) => r.container === container.containerName);
}

async function freshContainer(): Promise<ContainerClient> {
  counter += 1;
  const container = lake.getContainerClient(`scan-e2e-${counter}`);
  await container.create();
  return container;
}

async function post(container: string, body?: string): Promise<Response> {
  return fetch(`${host.baseUrl}/api/containers/${container}/backup`, {
    method: "POST",
    ...(body !== undefined && { body, headers: { "content-type": "application/json" } }),
  });
}

/** What ADF's Web activity does: POST, then follow Location until the run is no longer running. */
async function runLikeAdf(container: string, body?: string): Promise<{ id: string; status: StatusBody }> {
  const started = await post(container, body);
  assert.equal(started.status, 202);
  const location = started.headers.get("location");
  assert.ok(location, "202 carries Location");
  const payload = (await started.json()) as { id: string; statusQueryGetUri: string };
  assert.equal(payload.statusQueryGetUri, location);
  return { id: payload.id, status: await followStatus(location, 240_000) };
}

function output(status: Pick<StatusBody, "runtimeStatus" | "output">): ContainerScanOutput {
  assert.equal(status.runtimeStatus, "Completed", JSON.stringify(status.output));
  return status.output as ContainerScanOutput;
}

describe("container scan through the local host", { timeout: 600_000 }, () => {
  before(async () => {
    azurite = await startAzurite();
    host = await startLocalHost({
      settings: { ...azurite.settings, BACKUP_QUEUE: QUEUE, SNAPSHOTS: "auto" },
      functions: SCAN_FILES.map((f) => path.resolve(__dirname, "../..", f)),
    });
    lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage);
    queue = new QueueClient(azurite.settings.AzureWebJobsStorage, QUEUE);
    const faults: PipelinePolicy = {
      name: "scan-e2e-faults",
      async sendRequest(request, next) {
        const url = new URL(request.url);
        if (onSnapshot !== undefined && request.method === "PUT" && url.searchParams.get("comp") === "snapshot") {
          const blobName = decodeURIComponent(url.pathname.split("/").slice(3).join("/"));
          if ((await onSnapshot(blobName)) === "refuse") {
            return {
              request,
              status: 409,
              headers: createHttpHeaders({
                "x-ms-error-code": "FeatureNotYetSupportedForHierarchicalNamespaceAccounts",
                "content-type": "application/xml",
              }),
              bodyAsText:
                '<?xml version="1.0" encoding="utf-8"?><Error><Code>FeatureNotYetSupportedForHierarchicalNamespaceAccounts</Code>' +
                "<Message>This feature is not yet supported for accounts with hierarchical namespace.</Message></Error>",
            };
          }
        }
        return next(request);
      },
    };
    // The app runs in this process: this is the very client its activity uses.
    addPipelinePolicy(runtime().clients.source.service, faults);
    addPipelinePolicy(runtime().clients.source.singleAttempt, faults);
  });
  after(async () => {
    await host?.stop();
    await azurite?.stop();
  });

  it("ADF flow: POST → 202 + Location → Completed with totals; one snapshot and one request per new version; a second scan creates nothing", async () => {
    const container = await freshContainer();
    await seedBlobs(container, ["raw/a.csv", "raw/b.csv", "raw/c.csv"]);
    const first = output((await runLikeAdf(container.containerName)).status);
    assert.deepEqual([first.blobsSeen, first.new, first.snapshots, first.requests], [3, 3, 3, 3]);
    assert.equal(first.snapshotMode, "snapshots");
    const snaps = await listSnapshots(container);
    const requests = await requestsFor(container);
    assert.deepEqual(requests.map((r) => `${r.blob}@${r.snapshot}`).sort(), snaps.map((s) => `${s.name}@${s.snapshot}`).sort());

    await container.getBlockBlobClient("raw/b.csv").upload("new b", 5);
    await seedBlobs(container, ["raw/d.csv"]);
    const second = output((await runLikeAdf(container.containerName)).status);
    assert.deepEqual([second.new, second.changed, second.unchanged, second.snapshots, second.requests], [1, 1, 2, 2, 2]);
    const changed = await requestsFor(container);
    assert.deepEqual(changed.map((r) => r.blob).sort(), ["raw/b.csv", "raw/d.csv"]);
    // The changed blob's request names its older lake snapshot (the release after its backup may skip its listings);
    // a new blob has none.
    const firstB = snaps.find((s) => s.name === "raw/b.csv")?.snapshot;
    assert.ok(firstB !== undefined);
    assert.deepEqual(changed.map((r) => [r.blob, r.oldestLakeSnapshot]).sort(), [["raw/b.csv", firstB], ["raw/d.csv", undefined]]);

    const third = output((await runLikeAdf(container.containerName)).status);
    assert.deepEqual([third.unchanged, third.snapshots, third.requests, third.storageRequests.snapshot], [4, 0, 0, 0]);
    assert.equal((await requestsFor(container)).length, 0);
    assert.equal((await listSnapshots(container)).length, 5);
  });

  it("names with spaces, Unicode, %, #, ? and prefixes of each other, across many pages and continueAsNew", async () => {
    const container = await freshContainer();
    const names = ["a", "a/b", "a0", "a b/c d.txt", "ünï/cödé ✓.txt", "50%.csv", "x#1", "why?.json", "a/b/c", "zz"];
    await seedBlobs(container, names);
    const input: ContainerScanInput = { container: container.containerName, snapshots: "auto", pageSize: 2, pagesPerExecution: 2 };
    const id = await host.client.startNew(Orchestrators.containerScan, { input });
    const status = await host.client.waitForCompletion(id, { timeoutMs: 60_000 });
    const out = output(status);
    assert.equal(out.blobsSeen, names.length);
    assert.equal(out.requests, names.length);
    assert.ok(out.pages >= 5);
    assert.deepEqual((await requestsFor(container)).map((r) => r.blob).sort(), [...names].sort());
    assert.deepEqual((await listSnapshots(container)).map((s) => s.name).sort(), [...names].sort());
  });

  it("concurrent starts for one container join one scan: one snapshot per version, one request each", async () => {
    const container = await freshContainer();
    const names = Array.from({ length: 300 }, (_, i) => `c/${i}`);
    await seedBlobs(container, names);
    const responses = await Promise.all([post(container.containerName), post(container.containerName), post(container.containerName)]);
    assert.deepEqual(responses.map((r) => r.status), [202, 202, 202]);
    const ids = await Promise.all(responses.map(async (r) => ((await r.json()) as { id: string }).id));
    assert.deepEqual(new Set(ids), new Set([`scan-${container.containerName}`]));
    const status = await host.client.waitForCompletion(ids[0] ?? "", { timeoutMs: 60_000 });
    assert.equal(output(status).snapshots, 300);
    assert.equal((await listSnapshots(container)).length, 300);
    assert.equal((await requestsFor(container)).length, 300);
  });

  it("a start that joins a running scan gets its blobs covered: one more pass before Completed, no duplicates", async () => {
    const container = await freshContainer();
    const names = Array.from({ length: 40 }, (_, i) => `m/${i}`);
    await seedBlobs(container, names);
    let joined: Promise<Response> | undefined;
    let fired = false;
    onSnapshot = async () => {
      // The first snapshot means the page was listed: a producer now writes a blob the scan has already passed
      // ("a-late" sorts before "m/") and starts the scan again.
      if (!fired) {
        fired = true;
        await container.getBlockBlobClient("a-late").upload("late", 4);
        joined = post(container.containerName);
        assert.equal((await joined).status, 202);
      }
      return "forward";
    };
    try {
      const { id, status } = await runLikeAdf(container.containerName);
      const out = output(status);
      assert.ok(joined, "the second start happened during the scan");
      assert.equal(((await (await joined).json()) as { id: string }).id, id, "the second start joined the running scan");
      assert.equal(out.passes, 2);
      assert.equal(out.snapshots, 41);
      assert.equal(out.requests, 41);
    } finally {
      onSnapshot = undefined;
    }
    const requests = await requestsFor(container);
    assert.deepEqual(requests.map((r) => r.blob).sort(), ["a-late", ...names].sort());
    assert.equal((await listSnapshots(container)).length, 41);
  });

  it("a scan joined faster than it can finish a pass still completes; each joined caller waits for the pass that covers it", async () => {
    const container = await freshContainer();
    await seedBlobs(container, ["j/0"]);
    const joins: { status: number; coveredByPass?: number; location: string | null }[] = [];
    let written = 0;
    onSnapshot = async () => {
      // Every pass snapshots the blob written during the pass before, and each snapshot brings another producer that
      // writes a blob and starts the scan: the joins never stop (bounded here only so a broken cap cannot hang).
      if (written >= 10) return "forward";
      written += 1;
      await container.getBlockBlobClient(`j/${written}`).upload("x", 1);
      const answer = await post(container.containerName);
      const body = (await answer.json()) as { coveredByPass?: number };
      joins.push({ status: answer.status, ...(body.coveredByPass !== undefined && { coveredByPass: body.coveredByPass }), location: answer.headers.get("location") });
      return "forward";
    };
    try {
      const out = output((await runLikeAdf(container.containerName)).status);
      assert.equal(out.passes, DEFAULT_MAX_PASSES, "the passes joining starts were offered, then completed");
      assert.deepEqual(
        joins.map((j) => [j.status, j.coveredByPass]),
        [[202, 2], [202, 3], [409, undefined]],
        "joins told their pass while the scan offers one; the one needing a fourth pass told to come back",
      );
      for (const join of joins.filter((j) => j.status === 202)) {
        assert.match(join.location ?? "", new RegExp(`[?&]pass=${join.coveredByPass}(&|$)`));
        const answer = await fetch(join.location ?? "");
        assert.equal(answer.status, 200);
        const body = (await answer.json()) as { coveredByPass: number; passesDone: number };
        assert.equal(body.coveredByPass, join.coveredByPass);
        assert.ok(body.passesDone >= body.coveredByPass);
      }
    } finally {
      onSnapshot = undefined;
    }
    // j/0 .. j/3: j/3 was written by the refused producer, whose own start will cover it.
    assert.deepEqual((await requestsFor(container)).map((r) => r.blob).sort(), ["j/0", "j/1", "j/2"]);
  });

  it("a start the running scan cannot cover (other prefix) gets 409; a dry run joins a real scan", async () => {
    const container = await freshContainer();
    await seedBlobs(container, ["p/1", "p/2", "q/1"]);
    const answers: number[] = [];
    let fired = false;
    onSnapshot = async () => {
      if (!fired) {
        fired = true;
        const wider = await post(container.containerName);
        answers.push(wider.status);
        const json = (await wider.json()) as { error?: { code: string } };
        assert.equal(json.error?.code, "ScanInProgress");
        answers.push((await post(container.containerName, JSON.stringify({ prefix: "p/", dryRun: true }))).status);
      }
      return "forward";
    };
    try {
      const out = output((await runLikeAdf(container.containerName, JSON.stringify({ prefix: "p/" }))).status);
      assert.deepEqual(answers, [409, 202]);
      assert.deepEqual([out.passes, out.snapshots], [1, 2], "a dry run asks for no second pass");
    } finally {
      onSnapshot = undefined;
    }
  });

  it("rejects invalid container names and bodies with 400 and a JSON error", async () => {
    const container = await freshContainer();
    const cases: [string, string | undefined, string][] = [
      ["Upper", undefined, "InvalidContainerName"],
      ["ab", undefined, "InvalidContainerName"],
      ["bad--name", undefined, "InvalidContainerName"],
      [container.containerName, "{not json", "InvalidJson"],
      [container.containerName, '{"dryRun":"yes"}', "InvalidBody"],
      [container.containerName, '{"prefix":""}', "InvalidBody"],
      [container.containerName, '{"unknown":1}', "InvalidBody"],
      [container.containerName, "[]", "InvalidBody"],
    ];
    for (const [name, body, code] of cases) {
      const res = await post(name, body);
      assert.equal(res.status, 400, `${name} ${body ?? ""}`);
      const json = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(json.error.code, code);
      assert.ok(json.error.message.length > 0);
    }
    assert.equal(await host.client.getStatus(`scan-${container.containerName}`), undefined, "nothing started");
  });

  it("dry run reports what it would do and writes nothing", async () => {
    const container = await freshContainer();
    await seedBlobs(container, ["p/1", "p/2", "q/1"]);
    const out = output((await runLikeAdf(container.containerName, JSON.stringify({ dryRun: true, prefix: "p/" }))).status);
    assert.deepEqual([out.dryRun, out.prefix, out.blobsSeen, out.new, out.snapshots, out.requests], [true, "p/", 2, 2, 0, 0]);
    assert.equal((await listSnapshots(container)).length, 0);
    assert.equal((await requestsFor(container)).length, 0);
  });

  it("an orchestration started with invalid input fails and names the problem", async () => {
    const id = await host.client.startNew(Orchestrators.containerScan, { input: { container: "Not_Valid", snapshots: "sometimes" } });
    const status = await host.client.waitForCompletion(id, { timeoutMs: 30_000 });
    assert.equal(status.runtimeStatus, "Failed");
    assert.match(JSON.stringify(status.output), /container.*must be a container name/);
    assert.match(JSON.stringify(status.output), /snapshots/);
  });

  it("a missing container fails the run with a clear reason", async () => {
    const { status } = await runLikeAdf("no-such-container");
    assert.equal(status.runtimeStatus, "Failed");
    assert.match(JSON.stringify(status.output), /container \\?"no-such-container\\?" does not exist in storage account \\?"datalake1\\?"/);
  });

  it("a blob changed between listing and snapshot is reported and not snapshotted", async () => {
    const container = await freshContainer();
    await seedBlobs(container, ["stable", "busy"]);
    onSnapshot = async (name) => {
      // Another writer gets in between the scan's listing and its snapshot of "busy".
      if (name === "busy") await container.getBlockBlobClient("busy").upload("rewritten", 9);
      return "forward";
    };
    try {
      const out = output((await runLikeAdf(container.containerName)).status);
      assert.equal(out.skipped.changedSinceListing, 1);
      assert.equal(out.snapshots, 1);
      assert.ok(out.notes.some((n) => /changed or were deleted after they were listed/.test(n)));
    } finally {
      onSnapshot = undefined;
    }
    assert.deepEqual((await listSnapshots(container)).map((s) => s.name), ["stable"]);
    assert.deepEqual((await requestsFor(container)).map((r) => r.blob), ["stable"]);
  });

  it("SNAPSHOTS=auto falls back to ETag-pinned requests when the account refuses snapshots, and says so; on fails clearly", async () => {
    const container = await freshContainer();
    await seedBlobs(container, ["h/1", "h/2"]);
    onSnapshot = () => Promise.resolve("refuse");
    try {
      const out = output((await runLikeAdf(container.containerName)).status);
      assert.equal(out.snapshotMode, "etagPinned");
      assert.deepEqual([out.snapshots, out.requests], [0, 2]);
      assert.ok(out.notes.some((n) => /refused snapshots.*FeatureNotYetSupportedForHierarchicalNamespaceAccounts.*ETag-pinned/.test(n)));
      const requests = await requestsFor(container);
      assert.ok(requests.length === 2 && requests.every((r) => r.snapshot === undefined));

      const input: ContainerScanInput = { container: container.containerName, snapshots: "on" };
      const id = await host.client.startNew(Orchestrators.containerScan, { input });
      const failed = await host.client.waitForCompletion(id, { timeoutMs: 60_000 });
      assert.equal(failed.runtimeStatus, "Failed");
      assert.match(JSON.stringify(failed.output), /refuses blob snapshots.*SNAPSHOTS=on requires them/);
      assert.equal((await requestsFor(container)).length, 0);
    } finally {
      onSnapshot = undefined;
    }
  });

  it("keeps its history small: two events per page and no plan for a container its first pages finish, progress in customStatus", async () => {
    const container = await freshContainer();
    await seedBlobs(container, Array.from({ length: 20 }, (_, i) => `h/${i}`));
    const input: ContainerScanInput = { container: container.containerName, snapshots: "auto", pageSize: 5, dryRun: true };
    const id = await host.client.startNew(Orchestrators.containerScan, { input });
    const status = await host.client.waitForCompletion(id, { timeoutMs: 60_000, showHistory: true });
    const out = output(status);
    assert.equal(out.pages, 4);
    const activityEvents = (status.historyEvents ?? []).filter((e) => /Task(Scheduled|Completed)/.test(String(e.EventType)));
    assert.equal(activityEvents.length, 2 * out.pages, "the pages only: four pages finish the container, so it is never planned");
    assert.equal(status.historyEvents?.length, 2 * out.pages + 2, "ExecutionStarted, 2 per page, ExecutionCompleted");
    assert.deepEqual(status.customStatus, { phase: "done", pass: 1, passesDone: 1, pages: 4, blobsSeen: 20, snapshots: 0, requests: 0, skipped: 0, dryRun: true });
  });
});
