/**
 * `npm run bench -- initial-backup [--n 10000] [--size 1024] [--large-count 64] [--large-mib 64] [--transfers 4]
 * [--copy-concurrency 16] [--batch-max-bytes 8388608] [--lake-snapshots newest|none|keep-days:N] [--no-copy-comparison]
 * [--no-incremental] [--case small|large]`:
 * what adopting the app on an existing lake costs, next to rclone in the same run on the same Azurite.
 *
 * 0. How to copy a small blob here: server-side Copy Blob From URL vs read-then-write (GET + PUT), concurrency 16
 *    (`--no-copy-comparison` leaves it out).
 * 1. Initial backup: n blobs of `size` bytes. The product: POST scan → every version verified in the backup (the scan
 *    completes, the queue-triggered batch and blob backups finish, each having verified its copies; then, untimed like
 *    rclone's own check, one listing of each side proves every backup blob holds its source's current ETag). Reference: `rclone copy` of the same container into another container of
 *    the backup account (no `--fast-list`: it drops names like `a/b` when `a` exists).
 * 2. Incremental, twice: another 1% rewritten, then scan + backups vs an incremental `rclone copy` (rclone first in the
 *    first round, the product first in the second; the ratio is of the sums). With the default LAKE_SNAPSHOTS
 *    (newest) each rewritten blob's older lake snapshot is deleted once the new version is verified — work rclone does
 *    not do, and which Azurite makes expensive (see `--lake-snapshots` and the delete probe printed with the table).
 * 3. Large path: `large-count` blobs of `large-mib` MiB (one blob backup orchestration each) vs raw Copy Blob From URL of
 *    the same snapshots at the host's activity concurrency (16). Azurite keeps this case's data on disk.
 *
 * Requests per blob count the app's own storage requests (a pipeline policy on its clients: lake, backup, queue
 * sender); the local host's queue polling and task hub are not storage requests here. The host runs in this process,
 * so "peak RSS" is the host's (and the bench's) peak resident memory so far. rclone is installed from Debian's
 * packages when missing (`apt-get install -y rclone`; needs root), with its defaults (`--transfers 4`, checkers 8)
 * unless `--transfers` says otherwise.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import type { PipelinePolicy } from "@azure/core-rest-pipeline";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";

import { type AzuriteInstance, startAzurite } from "../dev/azurite";
import { type LocalHost, startLocalHost } from "../local-host";
import { createClients } from "../src/config/clients";
import { loadSettings } from "../src/config/settings";
import { BackupMetadata } from "../src/domain/blob-backup";
import { sameEtag } from "../src/domain/etag";
import { mapBounded } from "../src/domain/map-bounded";
import { runtime } from "../src/runtime";
import { sourceReadUrl } from "../src/storage/source-sas";
import { addPipelinePolicy, seedBlobs } from "../test/support/scan-fixtures";
import { ensureRclone, rcloneRemotes, runRclone } from "./rclone";
import { azuriteCpuColumn, cpuDuring, option, peakRssMiB, printTable, type Row, timed } from "./report";

/** `rclone copy` from the lake container into `target` of the backup account, checked complete by one listing of each. */
async function rcloneCopy(azurite: AzuriteInstance, container: string, target: string, transfers: number): Promise<number> {
  const source = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage).getContainerClient(container);
  const destination = BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage).getContainerClient(target);
  await destination.createIfNotExists();
  const result = await runRclone(["copy", "--transfers", String(transfers), `SRC:${container}`, `DST:${target}`], await rcloneRemotes(source, destination, true));
  if (result.code !== 0) throw new Error(`rclone copy failed (${result.code ?? "signal"}): ${result.stderrTail}`);
  let copied = 0;
  for await (const _ of destination.listBlobsFlat()) copied += 1;
  let listed = 0;
  for await (const _ of source.listBlobsFlat()) listed += 1;
  if (copied !== listed) throw new Error(`rclone copied ${copied} of ${listed} blobs`);
  return result.ms;
}

/** The app's settings, with the batching settings a sweep passes (`--copy-concurrency`, `--batch-max-bytes`). */
function appSettings(azurite: AzuriteInstance, args: readonly string[]): Record<string, string> {
  const settings: Record<string, string> = { ...azurite.settings, RECONCILE_SCHEDULE: "0 0 2 * * *" };
  if (args.includes("--copy-concurrency")) settings.BATCH_COPY_CONCURRENCY = String(option(args, "copy-concurrency", 16));
  if (args.includes("--batch-max-bytes")) settings.BATCH_MAX_BLOB_BYTES = String(option(args, "batch-max-bytes", 8 * 1024 * 1024));
  const lakeSnapshots = args[args.indexOf("--lake-snapshots") + 1];
  if (args.includes("--lake-snapshots") && lakeSnapshots !== undefined) settings.LAKE_SNAPSHOTS = lakeSnapshots;
  return settings;
}

/** The lake account as the app's SAS signer takes it, built without the app's runtime (not yet configured here). */
function runtimeFree(azurite: AzuriteInstance): Parameters<typeof sourceReadUrl>[0] {
  return createClients(loadSettings({ ...azurite.settings })).source;
}

/** Storage requests of the app's own clients, by account. */
interface Counts {
  lake: number;
  backup: number;
  queue: number;
  /** Of the lake's: Delete Blob requests (lake snapshots released). */
  lakeDeletes: number;
}

function countRequests(): Counts {
  const counts: Counts = { lake: 0, backup: 0, queue: 0, lakeDeletes: 0 };
  const counter = (key: "lake" | "backup" | "queue"): PipelinePolicy => ({
    name: `bench-count-${key}`,
    sendRequest(request, next) {
      counts[key] += 1;
      if (key === "lake" && request.method === "DELETE") counts.lakeDeletes += 1;
      return next(request);
    },
  });
  const { clients } = runtime();
  addPipelinePolicy(clients.source.service, counter("lake"));
  addPipelinePolicy(clients.source.singleAttempt, counter("lake"));
  addPipelinePolicy(clients.backup.service, counter("backup"));
  addPipelinePolicy(clients.backupQueue, counter("queue"));
  return counts;
}

/** Names of the backup container whose backup does not hold the lake blob's current ETag (one listing each). */
async function unverified(lake: ContainerClient, backup: ContainerClient): Promise<string[]> {
  const held = new Map<string, string | undefined>();
  for await (const b of backup.listBlobsFlat({ includeMetadata: true })) held.set(b.name, b.metadata?.[BackupMetadata.etag]);
  const missing: string[] = [];
  for await (const b of lake.listBlobsFlat()) if (!sameEtag(held.get(b.name) ?? "", b.properties.etag ?? "")) missing.push(b.name);
  return missing;
}

/** POST scan → Completed → the host idle (queue drained, every orchestration done) → every backup verified. */
async function scanAndBackUp(host: LocalHost, lake: ContainerClient, backup: ContainerClient): Promise<{ ms: number; scanMs: number }> {
  const start = performance.now();
  const res = await fetch(`${host.baseUrl}/api/containers/${lake.containerName}/backup`, { method: "POST" });
  if (res.status !== 202) throw new Error(`scan start answered ${res.status}: ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };
  const scan = await host.client.waitForCompletion(id, { timeoutMs: 60 * 60_000 });
  if (scan.runtimeStatus !== "Completed") throw new Error(`scan ${scan.runtimeStatus}: ${JSON.stringify(scan.output)}`);
  const scanMs = performance.now() - start;
  await host.waitForIdle({ timeoutMs: 60 * 60_000 });
  const ms = performance.now() - start;
  // The bench's own proof, outside the timing as rclone's is: every backup holds its lake blob's current ETag.
  const missing = await unverified(lake, backup);
  if (missing.length > 0) throw new Error(`${missing.length} blobs not backed up, e.g. ${missing.slice(0, 3).join(", ")}`);
  return { ms, scanMs };
}

/**
 * What the lake snapshot deletes of the incremental cost in this Azurite: as many snapshots of other blobs, taken and
 * deleted at the batch copy concurrency, next to reading their properties. Azurite (LokiJS) rebuilds its indices of
 * the whole blob collection after every removal, so a delete costs it far more than any other request; Azure's Delete
 * Blob costs what any small request does.
 */
async function probeSnapshotDeletes(lake: ContainerClient, others: readonly string[]): Promise<void> {
  const snapshots = await mapBounded(others, 16, async (n) => ({ n, snapshot: (await lake.getBlobClient(n).createSnapshot()).snapshot ?? "" }));
  const reads = await timed(() => mapBounded(snapshots, 16, (s) => lake.getBlobClient(s.n).withSnapshot(s.snapshot).getProperties()));
  const deletes = await timed(() => mapBounded(snapshots, 16, (s) => lake.getBlobClient(s.n).withSnapshot(s.snapshot).delete()));
  printTable(`Azurite, this container: ${others.length} lake snapshots (as many as the incremental released), concurrency 16`, { name: "Get Blob Properties of each", ms: reads.ms }, [
    { name: "Delete Blob of each (what releasing them costs here)", ms: deletes.ms },
  ]);
}

const perBlob = (counts: Counts, before: Counts, blobs: number) =>
  `${((counts.lake - before.lake) / blobs).toFixed(2)} / ${((counts.backup - before.backup) / blobs).toFixed(2)} / ${((counts.queue - before.queue) / blobs).toFixed(3)}`;

/**
 * How a small blob is best copied here: server-side (Copy Blob From URL) or read-then-write (GET + PUT through this
 * process), both at the batch copy concurrency.
 */
async function compareCopies(azurite: AzuriteInstance, lake: ContainerClient, names: readonly string[], size: number): Promise<void> {
  const name = lake.containerName;
  const backupService = BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage);
  const lakeClients = runtimeFree(azurite);
  const expiry = new Date(Date.now() + 3600_000);
  const serverSide = backupService.getContainerClient(`${name}-server-side`);
  const readWrite = backupService.getContainerClient(`${name}-read-write`);
  await serverSide.create();
  await readWrite.create();
  const serverMs = (
    await timed(() =>
      mapBounded(names, 16, async (blob) => {
        const url = await sourceReadUrl(lakeClients, name, blob, undefined, expiry);
        await serverSide.getBlockBlobClient(blob).syncCopyFromURL(url);
      }),
    )
  ).ms;
  const readWriteMs = (
    await timed(() =>
      mapBounded(names, 16, async (blob) => {
        const data = await lake.getBlobClient(blob).downloadToBuffer();
        await readWrite.getBlockBlobClient(blob).uploadData(data);
      }),
    )
  ).ms;
  printTable(`copying ${names.length} blobs of ${size} B, concurrency 16`, { name: "server-side (Copy Blob From URL)", ms: serverMs, extra: { "requests/blob": 1 } }, [
    { name: "read-then-write (GET + PUT)", ms: readWriteMs, extra: { "requests/blob": 2 } },
  ]);
  await serverSide.delete();
  await readWrite.delete();
}

async function smallBlobs(args: readonly string[]): Promise<void> {
  const n = option(args, "n", 10_000);
  const size = option(args, "size", 1024);
  const transfers = option(args, "transfers", 4);
  const hasRclone = ensureRclone();
  const azurite = await startAzurite();
  try {
    const name = "bench-initial";
    const lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage).getContainerClient(name);
    const backupService = BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage);
    await lake.create();
    const names = Array.from({ length: n }, (_, i) => `dir-${String(i % 50).padStart(3, "0")}/part-${String(i).padStart(7, "0")}.bin`);
    const body = (v: string) => (name: string) => `${v}:${name}:`.padEnd(size, "x");
    const seeding = await timed(() => seedBlobs(lake, names, { concurrency: 32, content: body("v1") }));
    console.log(`seeded ${n} blobs of ${size} B in ${(seeding.ms / 1000).toFixed(1)} s`);

    if (!args.includes("--no-copy-comparison")) await compareCopies(azurite, lake, names, size);

    const rcloneTarget = `${name}-rclone`;
    const rclone1 = hasRclone ? await cpuDuring(azurite.pid, () => rcloneCopy(azurite, name, rcloneTarget, transfers)) : undefined;

    const host = await startLocalHost({ settings: appSettings(azurite, args), queuePollMs: 50, timerSchedules: false, log: () => undefined });
    try {
      const counts = countRequests();
      const backup = backupService.getContainerClient(name);
      const before1 = { ...counts };
      const { value: initial, cpuS: initialCpuS } = await cpuDuring(azurite.pid, () => scanAndBackUp(host, lake, backup));
      const initialRow: Row = {
        name: `product: scan → all verified (${n})`,
        ms: initial.ms,
        extra: {
          "blobs/s": ((n / initial.ms) * 1000).toFixed(0),
          "scan s": (initial.scanMs / 1000).toFixed(1),
          "requests/blob lake/backup/queue": perBlob(counts, before1, n),
          "peak RSS MiB": peakRssMiB(),
          ...azuriteCpuColumn(initialCpuS),
        },
      };

      const initialTitle = `initial backup, ${n} blobs of ${size} B (Azurite, local Durable host, this machine)`;
      if (rclone1 !== undefined) {
        const extra = { "blobs/s": ((n / rclone1.value) * 1000).toFixed(0), ...azuriteCpuColumn(rclone1.cpuS) };
        printTable(initialTitle, { name: `rclone copy --transfers ${transfers}`, ms: rclone1.value, extra }, [initialRow]);
      }
      else printTable(`${initialTitle}; rclone could not be installed`, initialRow, []);
      if (args.includes("--no-incremental")) return;

      // Two rounds, each rewriting another 1% (one blob in each hundred, spread over the directories, so over the
      // scan's pages): rclone then the product, then the product then rclone, so that neither always runs on the
      // fresher (or the more loaded) Azurite; the ratio is of the sums.
      const rounds = [0, 1].map((round) => names.filter((_, i) => i % 100 === (Math.floor(i / 100) + round * 50) % 100));
      const rcloneRuns: { value: number; cpuS?: number }[] = [];
      const productRuns: { ms: number; scanMs: number; row: Row }[] = [];
      let deletes = 0;
      for (const [round, changed] of rounds.entries()) {
        await seedBlobs(lake, changed, { concurrency: 32, content: body(`v${round + 2}`) });
        const product = async (): Promise<void> => {
          const before = { ...counts };
          const { value: run, cpuS } = await cpuDuring(azurite.pid, () => scanAndBackUp(host, lake, backup));
          deletes += counts.lakeDeletes - before.lakeDeletes;
          productRuns.push({
            ...run,
            row: {
              name: `product: round ${round + 1}, ${changed.length} rewritten, scan + backups`,
              ms: run.ms,
              extra: {
                "scan s": (run.scanMs / 1000).toFixed(1),
                "requests/blob lake/backup/queue": perBlob(counts, before, changed.length),
                "lake snapshots deleted": counts.lakeDeletes - before.lakeDeletes,
                "peak RSS MiB": peakRssMiB(),
                ...azuriteCpuColumn(cpuS),
              },
            },
          });
        };
        const reference = async (): Promise<void> => {
          if (hasRclone) rcloneRuns.push(await cpuDuring(azurite.pid, () => rcloneCopy(azurite, name, rcloneTarget, transfers)));
        };
        if (round === 0) {
          await reference();
          await product();
        } else {
          await product();
          await reference();
        }
      }
      const incrementalTitle = `incremental, 1% of ${n} rewritten (two rounds), LAKE_SNAPSHOTS=${appSettings(azurite, args).LAKE_SNAPSHOTS ?? "newest"}`;
      const [r1, r2] = rcloneRuns;
      const productRows = productRuns.map((p) => p.row);
      if (r1 !== undefined && r2 !== undefined) {
        const rcloneRow = (round: number, r: { value: number; cpuS?: number }): Row => ({ name: `rclone copy (incremental), round ${round}`, ms: r.value, extra: azuriteCpuColumn(r.cpuS) });
        printTable(incrementalTitle, rcloneRow(1, r1), [rcloneRow(2, r2), ...productRows]);
        const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
        console.log(`product / rclone copy, incremental (sums of the two rounds): ${(sum(productRuns.map((p) => p.ms)) / (r1.value + r2.value)).toFixed(2)}`);
      } else {
        const [first, ...rest] = productRows;
        if (first !== undefined) printTable(incrementalTitle, first, rest);
      }
      if (deletes > 0) await probeSnapshotDeletes(lake, names.filter((_, i) => i % 100 === 50).slice(0, deletes));
    } finally {
      await host.stop();
    }
  } finally {
    await azurite.stop();
  }
}

async function largeBlobs(args: readonly string[]): Promise<void> {
  const count = option(args, "large-count", 64);
  const mib = option(args, "large-mib", 64);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-large-"));
  const azurite = await startAzurite({ location: dir });
  try {
    const name = "bench-large";
    const lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage).getContainerClient(name);
    const backupService = BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage);
    await lake.create();
    const payload = Buffer.alloc(mib * 1024 * 1024, 7);
    const names = Array.from({ length: count }, (_, i) => `large/part-${String(i).padStart(4, "0")}.bin`);
    await mapBounded(names, 4, (n) => lake.getBlockBlobClient(n).uploadData(payload, { blockSize: 8 * 1024 * 1024, concurrency: 4 }));

    const host = await startLocalHost({ settings: appSettings(azurite, args), queuePollMs: 50, timerSchedules: false, log: () => undefined });
    try {
      const counts = countRequests();
      const before = { ...counts };
      const product = await scanAndBackUp(host, lake, backupService.getContainerClient(name));
      // Reference: the same snapshots the scan took, copied raw at the host's activity concurrency.
      const raw = backupService.getContainerClient(`${name}-raw`);
      await raw.create();
      const expiry = new Date(Date.now() + 3600_000);
      const snapshots: { name: string; snapshot: string }[] = [];
      for await (const b of lake.listBlobsFlat({ includeSnapshots: true })) if (b.snapshot) snapshots.push({ name: b.name, snapshot: b.snapshot });
      const rawCopy = await timed(() =>
        mapBounded(snapshots, 16, async (s) => {
          const url = await sourceReadUrl(runtime().clients.source, name, s.name, s.snapshot, expiry);
          await raw.getBlockBlobClient(s.name).syncCopyFromURL(url);
        }),
      );
      printTable(
        `large path, ${count} blobs of ${mib} MiB (Azurite on disk, local Durable host, this machine)`,
        { name: "raw Copy Blob From URL, concurrency 16", ms: rawCopy.ms },
        [{ name: "product: scan → all verified", ms: product.ms, extra: { "requests/blob lake/backup/queue": perBlob(counts, before, count), "peak RSS MiB": peakRssMiB() } }],
      );
    } finally {
      await host.stop();
    }
  } finally {
    await azurite.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Each case runs in a process of its own: the app's settings and clients are built once per process (src/runtime.ts),
 * for one Azurite, and each case's peak memory is its own.
 */
export async function run(args: readonly string[]): Promise<void> {
  const i = args.indexOf("--case");
  const only = i >= 0 ? args[i + 1] : undefined;
  if (only === "small") return smallBlobs(args);
  if (only === "large") return largeBlobs(args);
  if (only !== undefined) throw new Error("--case must be small or large");
  for (const c of ["small", "large"]) {
    const child = spawnSync(process.execPath, [path.join(__dirname, "run.js"), "initial-backup", ...args, "--case", c], { stdio: "inherit" });
    if (child.status !== 0) throw new Error(`the ${c} case failed (exit ${child.status ?? child.signal ?? "?"})`);
  }
  console.log(
    "\nrequests/blob: the app's own storage requests per blob (lake / backup / queue), queue sends included, the host's" +
      " queue polling and task hub not. Peak RSS: this process (the local host and the app run in it; seeding included).",
  );
}
