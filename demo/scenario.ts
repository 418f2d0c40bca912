/**
 * The demo's story: seed a lake, back it up the way producer pipelines do, change it, lose a backup and a request on
 * purpose, let reconciliation repair it, then overwrite a partition by mistake and restore it as of the moment before —
 * checking the backup account (and the restored bytes) after every step.
 */
import { BlobServiceClient } from "@azure/storage-blob";
import { QueueClient } from "@azure/storage-queue";

import { type AzuriteInstance, startAzurite } from "../dev/azurite";
import { type LocalHost, startLocalHost } from "../local-host";
import type { BlobBackupOutput } from "../src/domain/blob-backup";
import type { BlobBatchOutput } from "../src/domain/blob-batch-backup";
import type { ContainerScanOutput } from "../src/domain/container-scan";
import type { ReconciliationReport } from "../src/domain/reconciliation";
import type { RestoreReport } from "../src/domain/restore-contracts";
import { totalSkipped } from "../src/domain/skip-counts";
import { adfEngineSettings, type AdfFake, FAKE_FACTORY, startAdfFake } from "../test/support/adf-fake/fake";
import { type FinalStatus, startAndFollow } from "./http";
import { type ContainerCheck, lakeLayout, readPartition, type SeedBlob, upload, verifyContainer } from "./lake";

export type Engine = "server" | "adf";

export interface ScenarioOptions {
  readonly engine: Engine;
  /** The ARM fake's certificate and key (adf engine; this process trusts it through NODE_EXTRA_CA_CERTS). */
  readonly adfCert?: { readonly cert: string; readonly key: string };
}

const QUEUE = "backup-requests";
const ADF = FAKE_FACTORY;

/** A failed check: the demo stops and exits non-zero with this message. */
export class CheckFailed extends Error {}

const started = Date.now();
const clock = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s`;
const say = (line: string) => console.log(`${clock()}  ${line}`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
/** Waits until the wall clock is in the next second (one-second last-modified resolution). */
const nextSecond = async (): Promise<void> => {
  const next = Math.floor(Date.now() / 1000) * 1000 + 1000;
  while (Date.now() < next) await new Promise((r) => setTimeout(r, next - Date.now() + 5));
};

function check(ok: boolean, what: string): void {
  if (!ok) throw new CheckFailed(what);
  say(`  ✔ ${what}`);
}

interface Resources {
  azurite?: AzuriteInstance;
  fake?: AdfFake;
  host?: LocalHost;
}

/** Everything the demo started, so a failure or Ctrl-C can stop it all. */
export const resources: Resources = {};
/** Host diagnostics, printed only when the demo fails. */
export const hostLog: string[] = [];

export async function stopAll(): Promise<void> {
  const { host, fake, azurite } = resources;
  resources.host = resources.fake = resources.azurite = undefined;
  const within = (p: Promise<void> | undefined) => Promise.race([p?.catch(() => undefined), new Promise((r) => setTimeout(r, 10_000).unref())]);
  await within(host?.stop());
  await within(fake?.stop());
  await within(azurite?.stop());
}

interface Timing {
  scanMs: number;
  backupMs: number;
}

export async function runScenario(options: ScenarioOptions): Promise<void> {
  const layout = lakeLayout();
  const containers = Object.keys(layout);
  console.log(`datalake-backup demo — copy engine: ${options.engine}${options.engine === "adf" ? " (local HTTPS fake of the Data Factory API)" : " (server-side copy)"}\n`);

  // ── 1. Azurite and the app under the local Durable host ─────────────────────────────────────────────────────────
  say("starting Azurite (in memory) …");
  const azurite = (resources.azurite = await startAzurite());
  say(`Azurite: blob :${azurite.blobPort}, queue :${azurite.queuePort}; accounts ${azurite.accounts.lake.name} (lake), ${azurite.accounts.backup.name} (backup), ${azurite.accounts.functions.name} (task hub, queue)`);
  const engineSettings: Record<string, string> = {};
  if (options.engine === "adf") {
    if (options.adfCert === undefined) throw new Error("the adf engine needs the fake's certificate");
    const fake = (resources.fake = await startAdfFake({
      ...ADF,
      ...options.adfCert,
      sourceConnectionString: azurite.settings.SourceStorage,
      backupConnectionString: azurite.settings.BackupStorage,
      queuedMs: 100,
      runMs: 300,
    }));
    say(`Data Factory fake: ${fake.endpoint} (pipeline ${ADF.pipeline}; runs really copy in Azurite)`);
    Object.assign(engineSettings, { ...adfEngineSettings(fake), COPY_POLL_SECONDS: "1" });
  }
  const host = (resources.host = await startLocalHost({
    settings: { ...azurite.settings, BACKUP_QUEUE: QUEUE, ...engineSettings },
    port: 0,
    queuePollMs: 50,
    timerSchedules: false,
    log: (m) => hostLog.push(m),
  }));
  say(`app under the local Durable host: ${host.baseUrl} (${host.functions.length} functions)`);

  const lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage);
  const backup = BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage);
  const queue = new QueueClient(azurite.settings.AzureWebJobsStorage, QUEUE);

  // ── 2. Seed ─────────────────────────────────────────────────────────────────────────────────────────────────────
  console.log("\n── seed the lake");
  for (const c of containers) {
    const blobs = layout[c] ?? [];
    await lake.getContainerClient(c).create();
    await upload(lake.getContainerClient(c), blobs);
    const markers = blobs.filter((b) => b.directoryMarker === true).length;
    say(`${c}: ${blobs.length - markers} blobs${markers > 0 ? ` + ${markers} directory markers` : ""}${blobs.some((b) => b.metadata && !b.directoryMarker) ? " (with metadata)" : ""}`);
  }

  // ── 3. Producers' last step: one scan per container, as an ADF Web activity ─────────────────────────────────────
  console.log("\n── producer pipelines call POST /api/containers/{c}/backup and follow Location (in parallel)");
  const first = await scanAll(host, containers);
  for (const c of containers) {
    const out = first.outputs.get(c);
    const blobs = layout[c] ?? [];
    const files = blobs.filter((b) => b.directoryMarker !== true).length;
    const markers = blobs.length - files;
    check(out !== undefined && out.new === files && out.snapshots === files && out.requests === files && out.changed === 0, `${c}: ${files} new blobs → ${files} snapshots, ${files} backup requests`);
    if (markers > 0) check(out?.skipped.directory === markers, `${c}: ${markers} directory markers skipped`);
  }
  const firstBackup = await settle(host, queue, first.postedAt);
  await verifyAll(lake, backup, containers, "after the first scans");

  // ── 4. Change the lake; a second scan picks up only the changes ─────────────────────────────────────────────────
  console.log("\n── change the lake: modify some blobs, add others");
  const changes: Record<string, { modified: SeedBlob[]; added: SeedBlob[] }> = {
    raw: {
      modified: (layout.raw ?? []).slice(0, 5).map((b) => ({ ...b, content: `${b.content}corrected,0.00\n` })),
      added: Array.from({ length: 12 }, (_, i) => ({ name: `ingest/2026/11/26/orders-late-${String(i).padStart(3, "0")}.csv`, content: `order_id,amount\n9${i},1.00\n` })),
    },
    curated: {
      modified: (layout.curated ?? []).filter((b) => b.directoryMarker !== true).slice(10, 13).map((b) => ({ ...b, content: `${b.content} recomputed`, metadata: { ...b.metadata, schema: "v4" } })),
      added: [],
    },
    logs: {
      modified: [],
      added: Array.from({ length: 6 }, (_, i) => ({ name: `app/2026-11-26/${String(i).padStart(2, "0")}-late.log`, content: `late entry ${i}\n` })),
    },
  };
  for (const c of containers) {
    const { modified, added } = changes[c] ?? { modified: [], added: [] };
    await upload(lake.getContainerClient(c), [...modified, ...added]);
    say(`${c}: ${modified.length} modified, ${added.length} added`);
  }
  const second = await scanAll(host, containers);
  for (const c of containers) {
    const out = second.outputs.get(c);
    const { modified, added } = changes[c] ?? { modified: [], added: [] };
    const before = (layout[c] ?? []).filter((b) => b.directoryMarker !== true).length;
    check(
      out !== undefined && out.new === added.length && out.changed === modified.length && out.requests === added.length + modified.length && out.unchanged === before - modified.length,
      `${c}: only the changes are picked up — ${added.length} new, ${modified.length} changed, ${before - modified.length} unchanged → ${added.length + modified.length} requests`,
    );
  }
  const secondBackup = await settle(host, queue, second.postedAt);
  const secondChecks = await verifyAll(lake, backup, containers, "after the second scans");
  const modifiedTotal = Object.values(changes).reduce((n, ch) => n + ch.modified.length, 0);
  const historyTotal = secondChecks.reduce((n, r) => n + r.backupHistory, 0);
  check(historyTotal === modifiedTotal, `the ${modifiedTotal} replaced backup versions are kept as snapshots in the backup account`);

  // ── 5. Lose a backup and a request on purpose; reconciliation repairs both ──────────────────────────────────────
  console.log("\n── lose things on purpose: a backup blob is deleted, a blob changes without a producer call (no request sent)");
  const lostBackup = (layout.logs ?? [])[7]?.name ?? "";
  await backup.getContainerClient("logs").getBlobClient(lostBackup).delete({ deleteSnapshots: "include" });
  say(`deleted the backup of logs/${lostBackup}`);
  const silent = (layout.curated ?? []).filter((b) => b.directoryMarker !== true)[30];
  if (silent === undefined) throw new Error("layout too small");
  await upload(lake.getContainerClient("curated"), [{ ...silent, content: `${silent.content} rewritten by a job that never calls the starter` }]);
  say(`rewrote curated/${silent.name} without calling the starter`);
  const broken = await verifyAll(lake, backup, containers, "", false);
  const brokenProblems = broken.flatMap((r) => r.problems);
  check(brokenProblems.length === 2, `the checks see exactly the 2 gaps: ${brokenProblems.map((p) => p.replace(/:.*/, "")).join(", ")}`);

  console.log("\n── POST /api/reconcile and follow Location");
  const reconcileAt = Date.now();
  const rec = await startAndFollow(`${host.baseUrl}/api/reconcile`, undefined, (s) => say(`  reconcile: ${summariseProgress(s)}`));
  expectCompleted(rec, "reconciliation");
  const report = rec.output as ReconciliationReport;
  const t = report.totals;
  say(`reconciliation report: ${t.blobs} blobs, ${t.inSync} in sync, ${t.missing} missing, ${t.outdated} outdated, ${t.snapshots} snapshots, ${t.requests} requests, ${t.orphans} orphans, ${totalSkipped(t.skipped)} skipped (${secs(Date.now() - reconcileAt)})`);
  check(t.missing === 1 && t.outdated === 1 && t.requests === 2 && t.snapshots === 1, "reconciliation found the deleted backup (missing) and the silent change (outdated, snapshotted) and requested both");
  const reportName = report.reportBlob ?? "";
  check(reportName !== "" && (await backup.getContainerClient("backup-reports").getBlobClient(reportName.replace(/^backup-reports\//, "")).exists()), `its report is in the backup account: ${reportName}`);
  const repairBackup = await settle(host, queue, reconcileAt);
  const finalChecks = await verifyAll(lake, backup, containers, "after reconciliation");

  // ── 6. A producer overwrites a partition by mistake; restore it as of the moment before ────────────────────────
  const restored = await restorePartition(host, lake, queue, "raw", "ingest/2026/11/21/");
  await verifyAll(lake, backup, ["raw"], "after the restore and the producer's next scan");

  await assertNoFailedBackups(host);
  printSummary(options.engine, containers, finalChecks, first, firstBackup, second, secondBackup, repairBackup, restored);
}

interface RestoreRound {
  readonly partition: string;
  readonly blobs: number;
  readonly ms: number;
}

/**
 * The bad day: a producer rewrites every file of a partition with wrong data and, as producers do, calls its starter,
 * so the wrong versions are backed up too. The partition is restored in place as of the moment before the mistake,
 * then compared byte for byte with what it held.
 */
async function restorePartition(host: LocalHost, lake: BlobServiceClient, queue: QueueClient, container: string, partition: string): Promise<RestoreRound> {
  console.log(`\n── a producer overwrites ${container}/${partition} by mistake (and backs the mistake up); restore it as of the moment before`);
  const c = lake.getContainerClient(container);
  const before = await readPartition(c, partition);
  // Last-modified times have one-second resolution: the moment must fall strictly between the two versions.
  await nextSecond();
  const asOf = new Date().toISOString();
  await nextSecond();
  await upload(c, [...before.keys()].map((name) => ({ name, content: "order_id,amount\n-1,WRONG\n" })));
  say(`overwrote ${before.size} blobs of ${container}/${partition}; the moment before: ${asOf}`);
  const mistake = await scanAll(host, [container]);
  check(mistake.outputs.get(container)?.changed === before.size, `the producer's scan backed the ${before.size} wrong versions up too (the backup keeps the good ones as history)`);
  await settle(host, queue, mistake.postedAt);

  console.log(`\n── POST /api/restore { container: "${container}", prefix: "${partition}", asOf, target: { container: "${container}" }, overwrite: "always" } and follow Location`);
  const t0 = Date.now();
  const status = await startAndFollow(
    `${host.baseUrl}/api/restore`,
    { container, prefix: partition, asOf, target: { container }, overwrite: "always" },
    (s) => say(`  restore: ${summariseProgress(s)}`),
  );
  expectCompleted(status, "restore");
  const report = status.output as RestoreReport;
  const ms = Date.now() - t0;
  say(`restore: ${report.counts.considered} considered, ${report.counts.restored} restored (${report.counts.bytes} bytes), ${report.counts.failed} failed in ${secs(ms)}; report ${report.reportBlob ?? "?"}`);
  check(report.status === "completed" && report.counts.restored === before.size, `all ${before.size} blobs of the partition restored and verified (length, MD5)`);
  const after = await readPartition(c, partition);
  const same = [...before].filter(([name, bytes]) => after.get(name)?.equals(bytes) === true).length;
  check(same === before.size && after.size === before.size, `${container}/${partition} is byte for byte what it was at ${asOf} (${same}/${before.size} blobs)`);

  console.log("\n── the producer's next scan backs the restored versions up");
  const rescan = await scanAll(host, [container]);
  check(rescan.outputs.get(container)?.changed === before.size, `the ${before.size} restored blobs are new versions in the lake, requested for backup`);
  await settle(host, queue, rescan.postedAt);
  return { partition: `${container}/${partition}`, blobs: before.size, ms };
}

// ── steps ─────────────────────────────────────────────────────────────────────────────────────────────────────────

interface ScanRound {
  readonly postedAt: number;
  readonly outputs: Map<string, ContainerScanOutput>;
  readonly scanMs: Map<string, number>;
}

async function scanAll(host: LocalHost, containers: readonly string[]): Promise<ScanRound> {
  const postedAt = Date.now();
  const outputs = new Map<string, ContainerScanOutput>();
  const scanMs = new Map<string, number>();
  await Promise.all(
    containers.map(async (c) => {
      const t0 = Date.now();
      const status = await startAndFollow(`${host.baseUrl}/api/containers/${c}/backup`, undefined, (s) => say(`  scan ${c}: ${summariseProgress(s)}`));
      expectCompleted(status, `scan of ${c}`);
      const out = status.output as ContainerScanOutput;
      outputs.set(c, out);
      scanMs.set(c, Date.now() - t0);
      say(`scan ${c}: Completed in ${secs(Date.now() - t0)} — ${out.blobsSeen} seen, ${out.new} new, ${out.changed} changed, ${out.unchanged} unchanged, ${out.snapshots} snapshots, ${out.requests} requests, ${totalSkipped(out.skipped)} skipped`);
    }),
  );
  return { postedAt, outputs, scanMs };
}

function expectCompleted(status: FinalStatus, what: string): void {
  if (status.runtimeStatus !== "Completed") throw new CheckFailed(`${what} ended ${status.runtimeStatus}: ${JSON.stringify(status.output)}`);
}

function summariseProgress(s: unknown): string {
  if (typeof s !== "object" || s === null) return JSON.stringify(s);
  return Object.entries(s as Record<string, unknown>)
    .filter(([, v]) => typeof v !== "object")
    .map(([k, v]) => `${k} ${String(v)}`)
    .join(", ");
}

interface BackupRound {
  /** Per container: from the first POST of the round to the last backup of that container finishing. */
  readonly doneMs: Map<string, number>;
  readonly outcomes: Record<string, number>;
}

/**
 * Waits until the queue is empty and every backup orchestration — batch (`blob-batch-`) or single blob
 * (`blob-backup-`) — has finished (the queue trigger runs them), with a progress line every two seconds. Returns when
 * each container's last backup finished and the outcomes per version (a batch counts its versions).
 */
async function settle(host: LocalHost, queue: QueueClient, since: number): Promise<BackupRound> {
  say("queue-triggered backups running …");
  const deadline = Date.now() + 150_000;
  let quiet = 0;
  let lastPrint = 0;
  for (;;) {
    const all = await host.client.listInstances({ instanceIdPrefix: "blob-", createdTimeFrom: new Date(since - 1000) });
    const running = all.filter((i) => ["Pending", "Running", "ContinuedAsNew", "Suspended"].includes(i.runtimeStatus)).length;
    const queued = (await queue.getProperties()).approximateMessagesCount ?? 0;
    quiet = running === 0 && queued === 0 ? quiet + 1 : 0;
    if (quiet >= 3) {
      const doneMs = new Map<string, number>();
      const outcomes: Record<string, number> = {};
      for (const i of all) {
        const input = i.input as { request?: { container?: string }; batch?: { container?: string } } | undefined;
        const container = input?.request?.container ?? input?.batch?.container ?? "?";
        const end = Date.parse(i.lastUpdatedTime) - since;
        doneMs.set(container, Math.max(doneMs.get(container) ?? 0, end));
        if (i.runtimeStatus === "Completed" && input?.batch !== undefined) {
          // Handed-off versions are counted by their own blob backup instances.
          const out = i.output as BlobBatchOutput;
          outcomes.Copied = (outcomes.Copied ?? 0) + out.copied;
          outcomes.Skipped = (outcomes.Skipped ?? 0) + out.skipped;
          continue;
        }
        const status = i.runtimeStatus === "Completed" ? ((i.output as BlobBackupOutput | undefined)?.status ?? "?") : i.runtimeStatus;
        outcomes[status] = (outcomes[status] ?? 0) + 1;
      }
      say(`backups finished: ${all.length} orchestrations — versions ${Object.entries(outcomes).map(([k, v]) => `${v} ${k}`).join(", ")}`);
      return { doneMs, outcomes };
    }
    if (Date.now() - lastPrint > 2000) {
      lastPrint = Date.now();
      say(`  ${progressBar(all.length - running, all.length + queued)} ${all.length - running} done, ${running} running, ${queued} queued`);
    }
    if (Date.now() > deadline) throw new CheckFailed(`backups did not finish in time: ${running} running, ${queued} queued`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function progressBar(done: number, total: number): string {
  const width = 20;
  const full = total === 0 ? width : Math.round((done / total) * width);
  return `[${"#".repeat(full)}${".".repeat(width - full)}]`;
}

async function verifyAll(lake: BlobServiceClient, backup: BlobServiceClient, containers: readonly string[], when: string, strict = true): Promise<ContainerCheck[]> {
  const results = await Promise.all(containers.map((c) => verifyContainer(lake, backup, c)));
  if (!strict) return results;
  for (const r of results) {
    const files = r.blobs - r.directoryMarkers;
    if (r.problems.length > 0) throw new CheckFailed(`${r.container} ${when}: ${r.problems.length} blob(s) not backed up correctly:\n    ${r.problems.slice(0, 5).join("\n    ")}`);
    check(r.verified === files, `${r.container} ${when}: ${r.verified}/${files} backups hold the current version (ETag, snapshot, length, metadata)`);
  }
  return results;
}

async function assertNoFailedBackups(host: LocalHost): Promise<void> {
  const all = await host.client.listInstances();
  // A backup that could not be done fails its instance, like a failed scan or reconciliation.
  const failed = all.filter((i) => i.runtimeStatus === "Failed");
  check(failed.length === 0, `no orchestration failed (${all.length} instances in the task hub)`);
}

function printSummary(
  engine: Engine,
  containers: readonly string[],
  final: readonly ContainerCheck[],
  first: ScanRound,
  firstBackup: BackupRound,
  second: ScanRound,
  secondBackup: BackupRound,
  repair: BackupRound,
  restored: RestoreRound,
): void {
  const timing = (round: ScanRound, backups: BackupRound, c: string): Timing => ({ scanMs: round.scanMs.get(c) ?? 0, backupMs: backups.doneMs.get(c) ?? 0 });
  const fmt = (t: Timing) => `${secs(t.scanMs)} · ${secs(t.backupMs)}`;
  const rows = containers.map((c) => {
    const f = final.find((r) => r.container === c);
    return [
      c,
      String((f?.blobs ?? 0) - (f?.directoryMarkers ?? 0)),
      String(f?.directoryMarkers ?? 0),
      String(f?.snapshots ?? 0),
      `${f?.verified ?? 0}/${(f?.blobs ?? 0) - (f?.directoryMarkers ?? 0)}`,
      String(f?.backupHistory ?? 0),
      `${first.outputs.get(c)?.requests ?? 0} · ${fmt(timing(first, firstBackup, c))}`,
      `${second.outputs.get(c)?.requests ?? 0} · ${fmt(timing(second, secondBackup, c))}`,
    ];
  });
  const head = ["container", "blobs", "dir markers", "lake snapshots", "backups verified", "backup history", "scan 1: requests · scan · backed up", "scan 2: requests · scan · backed up"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join("  ");
  console.log(`\n══ summary (copy engine: ${engine}) ══`);
  console.log(line(head));
  for (const r of rows) console.log(line(r));
  const repaired = Object.values(repair.outcomes).reduce((a, b) => a + b, 0);
  console.log(`\nreconciliation: repaired ${repaired} backups (1 deleted backup, 1 change without a producer call) in ${secs(Math.max(0, ...repair.doneMs.values()))}`);
  console.log(`restore: ${restored.blobs} blobs of ${restored.partition} restored in place as of the moment before a bad overwrite, verified byte for byte, in ${secs(restored.ms)}`);
  console.log(`times from the producer's POST: "scan" until its Location reported Completed, "backed up" until the container's last backup finished`);
  console.log(`total ${secs(Date.now() - started)} — every check held.`);
}
