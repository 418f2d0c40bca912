/**
 * Chaos: the whole product (scan → queue → blob backups → reconciliation) in the local host, with the fault proxy
 * (test/support/fault-proxy.ts) between the app and Azurite for blobs and queues, faults drawn from a fixed seed
 * (CHAOS_SEED replays another). Each scenario runs its own host child (its own settings) on containers and a queue of
 * its own, then checks the end state in storage, not the app's own account of it:
 *
 * - every lake blob's current version is in the backup (`backup_source_etag` = the lake's ETag, same bytes), and no
 *   backup snapshot records a newer source version than the backup blob over it;
 * - no lease is left on a lake blob;
 * - the backup queue and its poison queue are empty;
 * - no blob backup or batch backup instance is Pending, Running, Failed or Terminated.
 *
 * Reconciliation rounds: none, except with concurrent writers, where versions written after the scan listed them are
 * requested by nobody else (a producer would scan again; reconciliation is the safety net that finds them).
 *
 * What the local host cannot fault: its task hub is in memory, so the Durable extension's own storage traffic (which
 * in Azure also sees 503s) is not proxied; its queue listener is.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { QueueClient } from "@azure/storage-queue";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { BackupMetadata } from "../../src/domain/blob-backup";
import { sameEtag } from "../../src/domain/etag";
import { mapBounded } from "../../src/domain/map-bounded";
import type { ReconciliationReport } from "../../src/domain/reconciliation";
import { followStatus, postJson } from "../support/durable-http";
import { type FaultPlan, type FaultProxy, startFaultProxy } from "../support/fault-proxy";
import { type HostChild, type HostChildOptions, startHostChild } from "../support/host-child";
import { seedBlobs } from "../support/scan-fixtures";
import { waitFor } from "../support/wait-for";

const SEED = Number(process.env.CHAOS_SEED ?? "17");
const ACTIVE = new Set(["Pending", "Running", "ContinuedAsNew", "Suspended"]);
/**
 * Lease mode on the versions it protects: without snapshots the scan requests live blobs pinned by ETag, batches are
 * off (every version gets its own blob backup orchestration, the path that takes leases), and each backup leases its blob for LEASE_SECONDS (renewed every 5 s) while it copies. Scenarios with copies slower than that
 * fail when the lease renewal is raced against the copy in the orchestrator (the copy task yielded again).
 */
const LEASE_MODE = { BLOB_LEASE: "true", LEASE_SECONDS: "15", SNAPSHOTS: "off", BATCH_MAX_BLOB_BYTES: "0" };
/** One blob backup orchestration per version (batches off): the path that leases, and whose outcome says Copied. */
const ONE_BY_ONE = { BATCH_MAX_BLOB_BYTES: "0" };

interface Listed {
  readonly instanceId: string;
  readonly name: string;
  readonly runtimeStatus: string;
  readonly output: unknown;
}

describe(`chaos through the local host (fault proxy, seed ${SEED})`, { timeout: 900_000 }, () => {
  let azurite: AzuriteInstance;
  let proxy: FaultProxy;
  let lake: BlobServiceClient;
  let backup: BlobServiceClient;
  const hosts: HostChild[] = [];
  const dirs: string[] = [];

  before(async () => {
    azurite = await startAzurite();
    proxy = await startFaultProxy(azurite, { seed: SEED });
    lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage);
    backup = BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage);
  });
  after(async () => {
    proxy?.release();
    for (const host of hosts) await host.stop().catch(() => undefined);
    await proxy?.stop();
    await azurite?.stop();
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A host child whose storage traffic goes through the proxy; the queue is the scenario's own. */
  async function startHost(queue: string, settings: Record<string, string> = {}, options: HostChildOptions = {}): Promise<HostChild> {
    const host = await startHostChild(proxy.throughProxy({ ...azurite.settings, BACKUP_QUEUE: queue, ...settings }), {}, options);
    hosts.push(host);
    return host;
  }

  async function seed(container: string, count: number): Promise<ContainerClient> {
    const c = lake.getContainerClient(container);
    await c.create();
    await seedBlobs(c, Array.from({ length: count }, (_, i) => `part-${String(i).padStart(4, "0")}.csv`), { content: (n) => `${container}/${n} v0` });
    return c;
  }

  /** Blob backup and batch backup instances (`blob-backup-…`, `blob-batch-…`), every page of the Durable API's query. */
  async function backups(host: HostChild): Promise<Listed[]> {
    const all: Listed[] = [];
    let token: string | null = null;
    do {
      const res: Response = await fetch(`${host.baseUrl}/runtime/webhooks/durabletask/instances?instanceIdPrefix=blob-&showInput=false`, {
        headers: token === null ? {} : { "x-ms-continuation-token": token },
      });
      assert.equal(res.status, 200);
      all.push(...((await res.json()) as Listed[]));
      token = res.headers.get("x-ms-continuation-token");
    } while (token !== null);
    return all;
  }

  async function start(host: HostChild, route: string, body?: unknown): Promise<unknown> {
    const started = await postJson(`${host.baseUrl}/api/${route}`, body);
    assert.equal(started.status, 202, await started.clone().text());
    const status = await followStatus(started.headers.get("location") ?? "", 300_000);
    assert.equal(status.runtimeStatus, "Completed", `${route}: ${JSON.stringify(status.output)}\n${host.log().slice(-3000)}`);
    return status.output;
  }

  /** Every request consumed (the count includes messages being processed) and every backup finished. */
  async function settle(host: HostChild, queue: string): Promise<void> {
    const q = new QueueClient(azurite.settings.AzureWebJobsStorage, queue);
    await waitFor(async () => (await q.getProperties()).approximateMessagesCount, { until: (n) => n === 0, describe: `${queue} to be consumed`, timeoutMs: 300_000, intervalMs: 200 });
    await waitFor(async () => (await backups(host)).filter((b) => ACTIVE.has(b.runtimeStatus)), {
      until: (active) => active.length === 0,
      describe: "every blob backup to finish",
      timeoutMs: 300_000,
      intervalMs: 200,
    });
  }

  async function reconcile(host: HostChild, queue: string, container: string): Promise<ReconciliationReport> {
    const report = (await start(host, "reconcile", { containers: [container] })) as ReconciliationReport;
    await settle(host, queue);
    return report;
  }

  /** The end state in storage (see the file comment). */
  async function assertEndState(host: HostChild, queue: string, container: string): Promise<void> {
    const q = new QueueClient(azurite.settings.AzureWebJobsStorage, queue);
    assert.equal((await q.getProperties()).approximateMessagesCount, 0, "backup queue empty");
    const poison = new QueueClient(azurite.settings.AzureWebJobsStorage, `${queue}-poison`);
    if (await poison.exists()) {
      const peeked = await poison.peekMessages({ numberOfMessages: 32 });
      assert.deepEqual(peeked.peekedMessageItems.map((m) => Buffer.from(m.messageText, "base64").toString("utf8")), [], "nothing poisoned");
    }
    const unfinished = (await backups(host)).filter((b) => b.runtimeStatus !== "Completed");
    assert.deepEqual(unfinished.map((b) => `${b.instanceId} ${b.runtimeStatus}: ${JSON.stringify(b.output)}`), [], "every blob backup Completed");

    const source = lake.getContainerClient(container);
    const target = backup.getContainerClient(container);
    const live = [];
    for await (const blob of source.listBlobsFlat()) live.push(blob);
    assert.deepEqual(live.filter((b) => b.properties.leaseState === "leased").map((b) => b.name), [], "no lease left on the lake");
    const wrong = await mapBounded(live, 16, async (blob) => {
      const copy = target.getBlobClient(blob.name);
      const props = await copy.getProperties().catch(() => undefined);
      if (props === undefined) return `${blob.name}: no backup`;
      if (!sameEtag(props.metadata?.[BackupMetadata.etag], blob.properties.etag)) return `${blob.name}: backup holds ${props.metadata?.[BackupMetadata.etag]}, lake has ${blob.properties.etag}`;
      const [a, b] = await Promise.all([source.getBlobClient(blob.name).downloadToBuffer(), copy.downloadToBuffer()]);
      return a.equals(b) ? undefined : `${blob.name}: backup bytes differ`;
    });
    assert.deepEqual(wrong.filter((w) => w !== undefined), [], "every current version in the backup");

    // Backup history: a snapshot (an earlier backup) never records a newer source version than the blob over it.
    const newest = new Map<string, number>();
    const snapshots: { name: string; at: number }[] = [];
    for await (const b of target.listBlobsFlat({ includeSnapshots: true, includeMetadata: true })) {
      const at = Date.parse(b.metadata?.[BackupMetadata.lastModified] ?? "");
      if (b.snapshot === undefined || b.snapshot === "") newest.set(b.name, at);
      else snapshots.push({ name: b.name, at });
    }
    assert.deepEqual(snapshots.filter((s) => s.at > (newest.get(s.name) ?? Infinity)), [], "no older version over a newer one");
  }

  it("5% of all storage requests answered 503 ServerBusy, in lease mode with some copies slower than the renewal: every version backed up, nothing lost", async () => {
    const queue = "chaos-busy";
    const container = "chaos-busy";
    await seed(container, 100);
    // 5% of every operation refused; one copy in ten also takes 6 s to answer (the lease is renewed every 5 s).
    proxy.set({ all: { serverBusy: 0.05 }, copy: { serverBusy: 0.05, latency: { rate: 0.1, beforeAnswerMs: 6_000 } } });
    proxy.resetCounts();
    try {
      const host = await startHost(queue, LEASE_MODE);
      const scan = (await start(host, `containers/${container}/backup`)) as { requests: number };
      assert.equal(scan.requests, 100);
      await settle(host, queue);
      const counts = proxy.counts();
      assert.ok(counts.lease.serverBusy + counts.copy.serverBusy + counts.queue.serverBusy + counts.read.serverBusy > 10, "faults were injected");
      assert.ok(counts.copy.delayed > 0, "some copies outlasted a renewal interval");
      proxy.clear();
      await assertEndState(host, queue, container);
      await host.stop();
    } finally {
      proxy.clear();
    }
  });

  it("lost responses to snapshots, copies and queue puts (applied, answer reset): no duplicate snapshot, nothing lost", async () => {
    const queue = "chaos-lost";
    const container = "chaos-lost";
    const lakeContainer = await seed(container, 100);
    const faults: FaultPlan = { snapshot: { lostResponse: 0.05 }, copy: { lostResponse: 0.05 }, queue: { lostResponse: 0.05, methods: ["POST"] } };
    proxy.set(faults);
    proxy.resetCounts();
    try {
      const host = await startHost(queue, ONE_BY_ONE);
      const scan = (await start(host, `containers/${container}/backup`)) as { snapshots: number };
      assert.equal(scan.snapshots, 100);
      await settle(host, queue);
      const counts = proxy.counts();
      assert.ok(counts.snapshot.lostResponse > 0 && counts.copy.lostResponse > 0 && counts.queue.lostResponse > 0, JSON.stringify(counts));
      proxy.clear();
      await assertEndState(host, queue, container);
      // One snapshot per blob: a snapshot whose answer was lost was adopted, not taken again.
      const perBlob = new Map<string, number>();
      for await (const b of lakeContainer.listBlobsFlat({ includeSnapshots: true })) if (b.snapshot) perBlob.set(b.name, (perBlob.get(b.name) ?? 0) + 1);
      assert.deepEqual([...perBlob.values()].filter((n) => n !== 1), [], "one snapshot per blob");
      assert.equal(perBlob.size, 100);
      // A copy whose answer was lost is this backup's own: Copied, not Skipped.
      const outcomes = (await backups(host)).map((b) => (b.output as { status?: string }).status);
      assert.equal(outcomes.length, 100);
      assert.deepEqual([...new Set(outcomes)], ["Copied"]);
      await host.stop();
    } finally {
      proxy.clear();
    }
  });

  it("lease mode with copies slower than the lease renewal (ETag-pinned requests): every copy keeps its lease, none is left", async () => {
    const queue = "chaos-lease";
    const container = "chaos-lease";
    await seed(container, 100);
    // LEASE_SECONDS=15 renews every 5 s; a third of the copies take 7 s to answer (applied at once, answered late).
    proxy.set({ copy: { latency: { rate: 0.3, beforeAnswerMs: 7_000 } } });
    proxy.resetCounts();
    try {
      const host = await startHost(queue, LEASE_MODE);
      const scan = (await start(host, `containers/${container}/backup`)) as { requests: number; snapshots: number };
      assert.deepEqual([scan.requests, scan.snapshots], [100, 0], "live, ETag-pinned requests: the versions lease mode protects");
      await settle(host, queue);
      assert.ok(proxy.counts().copy.delayed >= 20, JSON.stringify(proxy.counts().copy));
      const { lease, copy } = proxy.counts();
      assert.ok(lease.requests >= 2 * 100 + copy.delayed, `acquire and release, and a renewal during each slow copy: ${lease.requests} lease requests`);
      proxy.clear();
      await assertEndState(host, queue, container);
      const outputs = (await backups(host)).map((b) => b.output as { status: string; reason: string });
      assert.equal(outputs.length, 100, "one blob backup per version");
      assert.deepEqual(outputs.filter((o) => o.status !== "Copied" || /lease lost/.test(o.reason)), [], "every copy Copied under its lease");
      await host.stop();
    } finally {
      proxy.clear();
    }
  });

  it("the host killed (SIGKILL) mid-backup and started again on its state directory: the backups resume, nothing lost", async () => {
    const queue = "chaos-kill";
    const container = "chaos-kill";
    await seed(container, 100);
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "chaos-kill-"));
    dirs.push(stateDir);
    // Lease mode; one copy in five answers after 6 s (past a renewal), so the kill finds copies in
    // flight under leases; the rest of the traffic is unharmed.
    proxy.set({ copy: { latency: { rate: 0.2, beforeAnswerMs: 6_000 } } });
    const options: HostChildOptions = { stateDir, queueMessageLeaseSeconds: 5 };
    try {
      const first = await startHost(queue, LEASE_MODE, options);
      const started = await postJson(`${first.baseUrl}/api/containers/${container}/backup`);
      assert.equal(started.status, 202, await started.clone().text());
      const scanId = ((await started.json()) as { id: string }).id;
      await waitFor(async () => (await backups(first)).filter((b) => b.runtimeStatus === "Completed").length, {
        until: (n) => n >= 30,
        describe: "30 backups done before the kill",
        timeoutMs: 120_000,
        intervalMs: 100,
      });
      const inFlight = (await backups(first)).filter((b) => ACTIVE.has(b.runtimeStatus)).length;
      await first.kill();
      assert.ok(inFlight > 0, "backups were running when the host was killed");

      const second = await startHost(queue, LEASE_MODE, options);
      const scan = await second.waitForCompletion(scanId, 300_000);
      assert.equal(scan.runtimeStatus, "Completed", JSON.stringify(scan.output));
      await settle(second, queue);
      proxy.clear();
      await assertEndState(second, queue, container);
      await second.stop();
    } finally {
      proxy.clear();
    }
  });

  it("producers rewrite blobs while they are scanned and backed up: after one reconciliation every current version is backed up", async () => {
    const queue = "chaos-writers";
    const container = "chaos-writers";
    const lakeContainer = await seed(container, 100);
    // Copies slowed a little, so rewrites land between a backup's listing, snapshot, copy and verification.
    proxy.set({ copy: { latency: { rate: 0.5, beforeForwardMs: 200 } } });
    try {
      const host = await startHost(queue);
      const rewritten = Array.from({ length: 20 }, (_, i) => `part-${String(i * 5).padStart(4, "0")}.csv`);
      let writes = 0;
      const writer = (async () => {
        for (let round = 1; round <= 8; round++) {
          await mapBounded(rewritten, 4, async (name) => {
            const body = `${container}/${name} v${round}`;
            await lakeContainer.getBlockBlobClient(name).upload(body, Buffer.byteLength(body));
            writes += 1;
          });
        }
      })();
      await start(host, `containers/${container}/backup`);
      await writer;
      await settle(host, queue);
      assert.equal(writes, 160);
      // Versions written after the scan listed them were requested by nobody: reconciliation finds them.
      const report = await reconcile(host, queue, container);
      assert.ok(report.totals.missing + report.totals.outdated > 0, "the writers left versions behind for reconciliation");
      proxy.clear();
      await assertEndState(host, queue, container);
      await host.stop();
    } finally {
      proxy.clear();
    }
  });
});
