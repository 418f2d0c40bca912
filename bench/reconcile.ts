/**
 * `npm run bench -- reconcile [--blobs N] [--dirs D]`: reconciliation against bare listings of the same two containers.
 * With `--sizes A,B` and/or `--orphans X,Y`: the scale run (see runSizes).
 *
 * Seeds a lake container of N blobs (default 20,000), each with a snapshot, and a backup container in sync with it
 * (same names, `backup_source_etag` = the source's ETag). Then measures in one run: the bare listings of the source
 * and of the backup (live blobs with metadata, as reconciliation lists them, by the app's own reader:
 * bench/bare-listing.ts) — the baseline; a reconciliation when in sync; after
 * 1% of the source changed; and with an empty backup. Reconciliations run through the local Durable host (HTTP starter
 * → orchestrations → window activities), exactly as in production; storage requests are counted by a pipeline policy
 * on the app's own clients. Where `rclone` is installed it also times `rclone check` of the same two containers.
 */
import path from "node:path";
import { constants, type PerformanceEntry, PerformanceObserver } from "node:perf_hooks";
import v8 from "node:v8";
import vm from "node:vm";

import type { PipelinePolicy } from "@azure/core-rest-pipeline";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";

import { startAzurite } from "../dev/azurite";
import { startLocalHost } from "../local-host";
import { BackupMetadata } from "../src/domain/blob-backup";
import { mapBounded } from "../src/domain/map-bounded";
import type { ReconciliationReport } from "../src/domain/reconciliation";
import { runtime } from "../src/runtime";
import { addPipelinePolicy, seedBlobs } from "../test/support/scan-fixtures";
import { bareListing } from "./bare-listing";
import { ensureRclone, rcloneRemotes, runRclone } from "./rclone";
import { azuriteCpuColumn, cpuDuring, option, peakRssMiB, printTable, type Row, timed } from "./report";

const FILES = [
  "src/triggers/http-start-reconciliation.js",
  "src/orchestrators/reconciliation.js",
  "src/orchestrators/container-reconciliation.js",
  "src/activities/plan-reconciliation.js",
  "src/activities/reconcile-container-window.js",
  "src/activities/plan-listing-ranges.js",
  "src/activities/write-reconciliation-report.js",
  "src/activities/find-stuck-backups.js",
  "src/activities/stage-reconciliation-report-part.js",
];

type Kind = "source list" | "backup list" | "snapshot" | "enqueue" | "other";

async function listAll(container: ContainerClient, withSnapshots: boolean): Promise<number> {
  return (await bareListing(container, { snapshots: withSnapshots })).entries;
}

/** `rclone check` of the same two containers (sizes and MD5s, both ways, no --fast-list), as the reference. */
async function rcloneCheck(lake: ContainerClient, backup: ContainerClient): Promise<{ ms: number; ok: boolean } | undefined> {
  if (!ensureRclone()) return undefined;
  const result = await runRclone(["check", `SRC:${lake.containerName}`, `DST:${backup.containerName}`], await rcloneRemotes(lake, backup, false));
  if (result.code !== 0) console.log(`rclone check: exit ${result.code ?? "?"}; ${result.stderrTail}`);
  return { ms: result.ms, ok: result.code === 0 };
}

function sizes(args: readonly string[], name: string, fallback: readonly number[]): number[] {
  const i = args.indexOf(`--${name}`);
  const values = i >= 0 ? (args[i + 1] ?? "").split(",").map(Number) : [...fallback];
  if (values.length === 0 || values.some((v) => !Number.isInteger(v) || v < 1)) throw new Error(`--${name} must be positive whole numbers, comma-separated`);
  return values;
}

/**
 * The heap of this process (the local host runs in it) while `fn` runs, in MiB: `peakMiB`, the highest heap use
 * sampled every 100 ms — garbage not yet collected included, so it moves with the collector's timing — and `liveMiB`,
 * the highest heap use measured right after a major (mark-compact) collection, which is what the run actually keeps
 * alive (undefined when no major collection ran).
 */
async function peakHeapDuring<T>(fn: () => Promise<T>): Promise<{ value: T; peakMiB: number; liveMiB?: number }> {
  let peak = process.memoryUsage().heapUsed;
  let live: number | undefined;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  }, 100);
  const observer = new PerformanceObserver((list) => {
    // A "gc" entry's detail.kind (Node's NodeGCPerformanceDetail; absent from these type definitions) is a flag set.
    const kindOf = (e: PerformanceEntry): number => (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? 0;
    const major = list.getEntries().some((e) => (kindOf(e) & constants.NODE_PERFORMANCE_GC_MAJOR) !== 0);
    if (major) live = Math.max(live ?? 0, process.memoryUsage().heapUsed);
  });
  observer.observe({ entryTypes: ["gc"] });
  try {
    const value = await fn();
    return { value, peakMiB: Math.round(peak / 2 ** 20), ...(live !== undefined && { liveMiB: Math.round(live / 2 ** 20) }) };
  } finally {
    clearInterval(timer);
    observer.disconnect();
  }
}

/**
 * The most heap this process keeps alive while `fn` runs, in MiB: a full collection forced every `everyMs` and the
 * heap in use right after it — what the run holds at that moment, garbage excluded (the forced collections cost time:
 * for an untimed run only). Measured above the heap kept before `fn` starts, so the host's own state does not count.
 */
async function liveHeapDuring<T>(fn: () => Promise<T>, everyMs = 500): Promise<{ value: T; liveMiB: number; atRestMiB: number }> {
  // Node exposes the collector to code only under --expose-gc; set before first use, it is what that flag gives.
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc") as () => void;
  gc();
  const atRest = process.memoryUsage().heapUsed;
  let live = atRest;
  const timer = setInterval(() => {
    gc();
    live = Math.max(live, process.memoryUsage().heapUsed);
  }, everyMs);
  try {
    const value = await fn();
    return { value, liveMiB: Math.round((live - atRest) / 2 ** 20), atRestMiB: Math.round(atRest / 2 ** 20) };
  } finally {
    clearInterval(timer);
  }
}

/**
 * `npm run bench -- reconcile --sizes 10000,50000 --orphans 25000,50000 [--dirs D] [--rounds R]`: in-sync
 * reconciliation of each size next to `rclone check` (R rounds, default 3, interleaved in alternating order) and the
 * two bare listings; then the largest container's backup given each number of
 * orphans (a deleted partition, its deletions already recorded) and reconciled again, with the heap of the process that
 * runs the local host (sampled peak, and live after major collections), to show it does not grow with the orphans.
 */
export async function runSizes(args: readonly string[]): Promise<void> {
  const blobSizes = sizes(args, "sizes", [10_000, 50_000]);
  const orphanSizes = sizes(args, "orphans", [25_000, 50_000]);
  const dirs = option(args, "dirs", 50);
  const rounds = option(args, "rounds", 3);
  const azurite = await startAzurite();
  const lakeService = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage);
  const backupService = BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage);
  const host = await startLocalHost({
    settings: { ...azurite.settings, BACKUP_QUEUE: "bench-reconcile-requests" },
    functions: FILES.map((f) => path.resolve(__dirname, "..", f)),
    timerSchedules: false,
    log: () => undefined,
  });
  const reconcile = async (container: string): Promise<{ ms: number; report: ReconciliationReport; peakMiB: number; liveMiB?: number }> => {
    const { value, peakMiB, liveMiB } = await peakHeapDuring(() =>
      timed(async () => {
        const res = await fetch(`${host.baseUrl}/api/reconcile`, { method: "POST", body: JSON.stringify({ containers: [container] }) });
        if (res.status !== 202) throw new Error(`start answered ${res.status}: ${await res.text()}`);
        const { id } = (await res.json()) as { id: string };
        return host.client.waitForCompletion(id, { timeoutMs: 60 * 60_000 });
      }),
    );
    if (value.value.runtimeStatus !== "Completed") throw new Error(`${container}: ${value.value.runtimeStatus} ${JSON.stringify(value.value.output)}`);
    return { ms: value.ms, report: value.value.output as ReconciliationReport, peakMiB, ...(liveMiB !== undefined && { liveMiB }) };
  };
  try {
    let largest = "";
    for (const blobs of blobSizes) {
      const name = `bench-reconcile-${blobs}`;
      const lake = lakeService.getContainerClient(name);
      const backup = backupService.getContainerClient(name);
      await lake.create();
      await backup.create();
      const names = Array.from({ length: blobs }, (_, i) => `dir-${String(i % dirs).padStart(3, "0")}/file-${String(i).padStart(7, "0")}.csv`);
      await seedBlobs(lake, names, { concurrency: 32 });
      await mapBounded(names, 32, async (n) => {
        const snapshot = await lake.getBlobClient(n).createSnapshot();
        await backup.getBlockBlobClient(n).upload(n, n.length, { metadata: { [BackupMetadata.etag]: snapshot.etag ?? "" } });
      });
      await listAll(lake, true); // warm-up: the first listing of a fresh container pays for more than the listing
      const bare = await timed(async () => (await listAll(lake, false)) + (await listAll(backup, false)));
      // Interleaved rounds, the order alternating (reconcile then rclone, rclone then reconcile, …): Azurite slows as
      // its heap grows and its collector's timing moves each run by several per cent, so whichever always ran second
      // would pay for it. The ratio is of the sums. Azurite's CPU during each run says how much work each tool asked
      // of it (it answers on one core, so a run that kept it busy cannot be faster than that).
      const runs: { tool: "reconcile" | "rclone check"; ms: number; peakMiB?: number; differences?: boolean; azuriteCpuS?: number }[] = [];
      const runReconcile = async (): Promise<void> => {
        const { value: r, cpuS } = await cpuDuring(azurite.pid, () => reconcile(name));
        if (r.report.totals.inSync !== blobs) throw new Error(`${name}: ${r.report.totals.inSync} of ${blobs} in sync`);
        runs.push({ tool: "reconcile", ms: r.ms, peakMiB: r.peakMiB, ...(cpuS !== undefined && { azuriteCpuS: cpuS }) });
      };
      const runCheck = async (): Promise<void> => {
        const { value: check, cpuS } = await cpuDuring(azurite.pid, () => rcloneCheck(lake, backup));
        if (check !== undefined) runs.push({ tool: "rclone check", ms: check.ms, differences: !check.ok, ...(cpuS !== undefined && { azuriteCpuS: cpuS }) });
      };
      for (let round = 0; round < rounds; round += 1) {
        if (round % 2 === 0) {
          await runReconcile();
          await runCheck();
        } else {
          await runCheck();
          await runReconcile();
        }
      }
      const rows: Row[] = runs.map((r, i) => ({
        name: `${r.tool}${r.tool === "reconcile" ? ", in sync" : " (reference)"} (run ${i + 1}${r.differences === true ? "; reported differences" : ""})`,
        ms: r.ms,
        extra: {
          ...(r.peakMiB !== undefined && { "peak heap MiB": r.peakMiB }),
          ...azuriteCpuColumn(r.azuriteCpuS),
        },
      }));
      printTable(`in-sync reconciliation, ${blobs} blobs in ${dirs} directories (Azurite, local Durable host; shared-machine smoke figure)`, { name: "bare listings (source + backup)", ms: bare.ms }, rows);
      const sum = (tool: string): number => runs.filter((r) => r.tool === tool).reduce((a, r) => a + r.ms, 0);
      if (runs.some((r) => r.tool === "rclone check")) {
        console.log(`reconcile / rclone check (sums of ${rounds} interleaved runs each): ${(sum("reconcile") / sum("rclone check")).toFixed(2)}`);
        const cpuSum = (tool: string): number => runs.filter((r) => r.tool === tool).reduce((a, r) => a + (r.azuriteCpuS ?? 0), 0);
        if (runs.every((r) => r.azuriteCpuS !== undefined)) {
          console.log(`Azurite CPU, reconcile / rclone check (sums): ${cpuSum("reconcile").toFixed(1)} s / ${cpuSum("rclone check").toFixed(1)} s = ${(cpuSum("reconcile") / cpuSum("rclone check")).toFixed(2)}`);
        }
      }
      largest = name;
    }

    const lake = lakeService.getContainerClient(largest);
    const backup = backupService.getContainerClient(largest);
    let seeded = 0;
    const rows: Row[] = [];
    let baseline: Row | undefined;
    for (const orphans of [...orphanSizes].sort((a, b) => a - b)) {
      const more = Array.from({ length: orphans - seeded }, (_, i) => `gone/part-${String(seeded + i).padStart(7, "0")}.csv`);
      await seedBlobs(backup, more, {
        concurrency: 32,
        metadata: { [BackupMetadata.etag]: '"0xGONE"', [BackupMetadata.deletedAt]: "2026-01-01T00:00:00.000Z" },
      });
      seeded = orphans;
      const { value: bare, cpuS: bareCpuS } = await cpuDuring(azurite.pid, () => timed(async () => (await listAll(lake, false)) + (await listAll(backup, false))));
      const { value: run, cpuS: runCpuS } = await cpuDuring(azurite.pid, () => reconcile(largest));
      const cpu: Record<string, string> = bareCpuS === undefined || runCpuS === undefined ? {} : { "Azurite CPU s (bare / reconcile)": `${bareCpuS.toFixed(1)} / ${runCpuS.toFixed(1)}` };
      if (run.report.totals.orphans !== orphans) throw new Error(`${run.report.totals.orphans} orphans counted, ${orphans} seeded`);
      // The same reconciliation again, untimed, with the heap it keeps alive measured by forced collections: what the
      // acceptance means by memory, where the timed run's samples include garbage and land wherever the collector ran.
      const kept = await liveHeapDuring(() => reconcile(largest));
      const row: Row = {
        name: `reconcile, ${orphans} orphans`,
        ms: run.ms,
        extra: {
          "peak heap MiB": run.peakMiB,
          "live heap MiB (after major GCs)": run.liveMiB ?? "no major GC",
          "kept alive MiB (untimed run, full GC every 0.5 s)": `${kept.liveMiB} above ${kept.atRestMiB}`,
          "bare listings ms": bare.ms.toFixed(0),
          ...cpu,
        },
      };
      baseline ??= { name: `bare listings, ${orphans} orphans`, ms: bare.ms };
      rows.push(row);
      console.log(
        `${orphans} orphans: reconcile ${(run.ms / bare.ms).toFixed(2)}× its bare listings, peak heap ${run.peakMiB} MiB, live heap ${run.liveMiB ?? "?"} MiB; ` +
          `kept alive (untimed run, forced collections) ${kept.liveMiB} MiB above the ${kept.atRestMiB} MiB at rest`,
      );
    }
    if (baseline !== undefined) printTable(`orphans in the backup of ${largest} (shared-machine smoke figure)`, baseline, rows);
  } finally {
    await host.stop();
    await azurite.stop();
  }
}

export async function run(args: readonly string[]): Promise<void> {
  if (args.includes("--sizes") || args.includes("--orphans")) return runSizes(args);
  const blobs = option(args, "blobs", 20_000);
  const dirs = option(args, "dirs", 50);
  const name = "bench-reconcile";
  const azurite = await startAzurite();
  try {
    const lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage).getContainerClient(name);
    const backup = BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage).getContainerClient(name);
    await lake.create();
    await backup.create();
    const names = Array.from({ length: blobs }, (_, i) => `dir-${String(i % dirs).padStart(3, "0")}/file-${String(i).padStart(7, "0")}.csv`);
    const seeding = await timed(async () => {
      await seedBlobs(lake, names, { concurrency: 32 });
      await mapBounded(names, 32, async (n) => {
        const snapshot = await lake.getBlobClient(n).createSnapshot();
        const etag = snapshot.etag ?? "";
        await backup.getBlockBlobClient(n).upload(n, n.length, { metadata: { [BackupMetadata.etag]: etag } });
      });
    });
    console.log(`seeded ${blobs} blobs with snapshots and in-sync backups in ${(seeding.ms / 1000).toFixed(1)} s`);

    const host = await startLocalHost({
      settings: { ...azurite.settings, BACKUP_QUEUE: "bench-reconcile-requests" },
      functions: FILES.map((f) => path.resolve(__dirname, "..", f)),
      timerSchedules: false,
      log: () => undefined,
    });
    try {
      const counts: Record<Kind, number> = { "source list": 0, "backup list": 0, snapshot: 0, enqueue: 0, other: 0 };
      const counter = (listKind: Kind): PipelinePolicy => ({
        name: `bench-count-${listKind}`,
        sendRequest(request, next) {
          const url = new URL(request.url);
          const comp = url.searchParams.get("comp");
          const kind: Kind =
            request.method === "GET" && comp === "list" && url.pathname.split("/").length > 2
              ? listKind
              : request.method === "PUT" && comp === "snapshot"
                ? "snapshot"
                : request.method === "POST" && url.pathname.endsWith("/messages")
                  ? "enqueue"
                  : "other";
          counts[kind] += 1;
          return next(request);
        },
      });
      const { clients } = runtime();
      addPipelinePolicy(clients.source.service, counter("source list"));
      // Snapshots go through the client without SDK retries (src/storage/process-source-page.ts, snapshotsOf).
      addPipelinePolicy(clients.source.singleAttempt, counter("source list"));
      addPipelinePolicy(clients.backup.service, counter("backup list"));
      addPipelinePolicy(clients.backupQueue, counter("other"));

      const perK = (n: number) => ((n * 1000) / blobs).toFixed(2);
      const reconcile = async (label: string): Promise<Row> => {
        const before = { ...counts };
        const { ms, value } = await timed(async () => {
          const res = await fetch(`${host.baseUrl}/api/reconcile`, { method: "POST", body: JSON.stringify({ containers: [name] }) });
          if (res.status !== 202) throw new Error(`start answered ${res.status}: ${await res.text()}`);
          const { id } = (await res.json()) as { id: string };
          return host.client.waitForCompletion(id, { timeoutMs: 30 * 60_000 });
        });
        if (value.runtimeStatus !== "Completed") throw new Error(`${label}: ${value.runtimeStatus} ${JSON.stringify(value.output)}`);
        const t = (value.output as ReconciliationReport).totals;
        console.log(`${label}: blobs ${t.blobs}, in sync ${t.inSync}, missing ${t.missing}, outdated ${t.outdated}, snapshots ${t.snapshots}, requests ${t.requests}`);
        const delta = (k: Kind) => perK(counts[k] - before[k]);
        return {
          name: label,
          ms,
          extra: {
            "src list/1k": delta("source list"),
            "bkp list/1k": delta("backup list"),
            "snapshot/1k": delta("snapshot"),
            "enqueue/1k": delta("enqueue"),
            "other/1k": delta("other"),
            "peak RSS MiB": peakRssMiB(),
          },
        };
      };

      const bare = await timed(async () => (await listAll(lake, false)) + (await listAll(backup, false)));
      const baseline: Row = { name: "bare listings (source + backup)", ms: bare.ms, extra: { "peak RSS MiB": peakRssMiB() } };
      console.log(`bare listings: ${bare.value} entries`);

      const inSync = await reconcile("reconcile, in sync");
      await seedBlobs(lake, names.filter((_, i) => i % 100 === 0), { concurrency: 32, content: (n) => `${n} v2` });
      const onePercent = await reconcile("reconcile, 1% changed");
      const rclone = await rcloneCheck(lake, backup);
      await backup.delete();
      const empty = await reconcile("reconcile, backup empty");

      const rows = [inSync, onePercent, empty];
      if (rclone !== undefined) rows.push({ name: "rclone check (reference)", ms: rclone.ms });
      printTable(`reconciliation, ${blobs} blobs (Azurite, local Durable host, this machine)`, baseline, rows);
      if (rclone === undefined) console.log("\nrclone is not installed: no reference row (apt-get install rclone to add it).");
    } finally {
      await host.stop();
    }
  } finally {
    await azurite.stop();
  }
}
