/**
 * `npm run bench -- initial-backup [--n 10000] [--size 1024] [--large-count 64] [--large-mib 64] [--transfers 4]
 * [--copy-concurrency 16] [--batch-max-bytes 8388608] [--case small|large]`:
 * what adopting the app on an existing lake costs, next to rclone in the same run on the same Azurite.
 *
 * 0. How to copy a small blob here: server-side Copy Blob From URL vs read-then-write (GET + PUT), concurrency 16.
 * 1. Initial backup: n blobs of `size` bytes. The product: POST scan → every version verified in the backup (the scan
 *    completes, the queue-triggered batch and blob backups finish, then one listing of each side proves every backup
 *    blob holds its source's current ETag). Reference: `rclone copy` of the same container into another container of
 *    the backup account (no `--fast-list`: it drops names like `a/b` when `a` exists).
 * 2. Incremental: 1% rewritten, then scan + backups vs an incremental `rclone copy`.
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
import { BlobServiceClient, type ContainerClient, ContainerSASPermissions } from "@azure/storage-blob";

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
import { peakRssMiB, printTable, type Row, timed } from "./report";

function option(args: readonly string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  const value = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a whole number`);
  return value;
}

/** rclone on the PATH, installed from Debian's packages when missing. */
function ensureRclone(): boolean {
  if (spawnSync("rclone", ["version"], { stdio: "ignore" }).status === 0) return true;
  console.log("rclone is missing: apt-get install -y rclone …");
  spawnSync("apt-get", ["update", "-qq"], { stdio: "inherit" });
  spawnSync("apt-get", ["install", "-y", "-qq", "rclone"], { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  return spawnSync("rclone", ["version"], { stdio: "ignore" }).status === 0;
}

/**
 * `rclone copy` from the lake container into `target` of the backup account. The remotes are container SAS URLs
 * (in the environment, never on the command line): Debian's rclone 1.60 builds `https://<account>.<endpoint>` from an
 * `endpoint` setting, which cannot address Azurite's path-style accounts, and its emulator switch knows only
 * devstoreaccount1 on port 10000.
 */
async function rcloneCopy(azurite: AzuriteInstance, container: string, target: string, transfers: number): Promise<number> {
  const expiresOn = new Date(Date.now() + 6 * 3600_000);
  const source = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage).getContainerClient(container);
  const destination = BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage).getContainerClient(target);
  await destination.createIfNotExists();
  const env = {
    ...process.env,
    RCLONE_CONFIG_SRC_TYPE: "azureblob",
    RCLONE_CONFIG_SRC_SAS_URL: await source.generateSasUrl({ permissions: ContainerSASPermissions.parse("rl"), expiresOn }),
    RCLONE_CONFIG_DST_TYPE: "azureblob",
    RCLONE_CONFIG_DST_SAS_URL: await destination.generateSasUrl({ permissions: ContainerSASPermissions.parse("racwdl"), expiresOn }),
  };
  const start = performance.now();
  const result = spawnSync("rclone", ["copy", "--transfers", String(transfers), `SRC:${container}`, `DST:${target}`], { env, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`rclone copy failed (${result.status}): ${result.stderr.slice(0, 2000)}`);
  const ms = performance.now() - start;
  // rclone copied everything: the same names on both sides.
  let copied = 0;
  for await (const _ of destination.listBlobsFlat()) copied += 1;
  let listed = 0;
  for await (const _ of source.listBlobsFlat()) listed += 1;
  if (copied !== listed) throw new Error(`rclone copied ${copied} of ${listed} blobs`);
  return ms;
}

/** The app's settings, with the batching settings a sweep passes (`--copy-concurrency`, `--batch-max-bytes`). */
function appSettings(azurite: AzuriteInstance, args: readonly string[]): Record<string, string> {
  const settings: Record<string, string> = { ...azurite.settings, RECONCILE_SCHEDULE: "0 0 2 * * *" };
  if (args.includes("--copy-concurrency")) settings.BATCH_COPY_CONCURRENCY = String(option(args, "copy-concurrency", 16));
  if (args.includes("--batch-max-bytes")) settings.BATCH_MAX_BLOB_BYTES = String(option(args, "batch-max-bytes", 8 * 1024 * 1024));
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
}

function countRequests(): Counts {
  const counts: Counts = { lake: 0, backup: 0, queue: 0 };
  const counter = (key: keyof Counts): PipelinePolicy => ({
    name: `bench-count-${key}`,
    sendRequest(request, next) {
      counts[key] += 1;
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
  const missing = await unverified(lake, backup);
  if (missing.length > 0) throw new Error(`${missing.length} blobs not backed up, e.g. ${missing.slice(0, 3).join(", ")}`);
  return { ms: performance.now() - start, scanMs };
}

const perBlob = (counts: Counts, before: Counts, blobs: number) =>
  `${((counts.lake - before.lake) / blobs).toFixed(2)} / ${((counts.backup - before.backup) / blobs).toFixed(2)} / ${((counts.queue - before.queue) / blobs).toFixed(3)}`;

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

    // How a small blob is best copied here: server-side (Copy Blob From URL) or read-then-write (GET + PUT through
    // this process), both at the batch copy concurrency.
    const lakeClients = runtimeFree(azurite);
    const expiry = new Date(Date.now() + 3600_000);
    const serverSide = backupService.getContainerClient(`${name}-server-side`);
    const readWrite = backupService.getContainerClient(`${name}-read-write`);
    await serverSide.create();
    await readWrite.create();
    const serverMs = (
      await timed(() =>
        mapBounded(names, 16, async (n) => {
          const url = await sourceReadUrl(lakeClients, name, n, undefined, expiry);
          await serverSide.getBlockBlobClient(n).syncCopyFromURL(url);
        }),
      )
    ).ms;
    const readWriteMs = (
      await timed(() =>
        mapBounded(names, 16, async (n) => {
          const data = await lake.getBlobClient(n).downloadToBuffer();
          await readWrite.getBlockBlobClient(n).uploadData(data);
        }),
      )
    ).ms;
    printTable(`copying ${n} blobs of ${size} B, concurrency 16`, { name: "server-side (Copy Blob From URL)", ms: serverMs, extra: { "requests/blob": 1 } }, [
      { name: "read-then-write (GET + PUT)", ms: readWriteMs, extra: { "requests/blob": 2 } },
    ]);
    await serverSide.delete();
    await readWrite.delete();

    const rcloneTarget = `${name}-rclone`;
    const rclone1 = hasRclone ? await rcloneCopy(azurite, name, rcloneTarget, transfers) : undefined;

    const host = await startLocalHost({ settings: appSettings(azurite, args), queuePollMs: 50, timerSchedules: false, log: () => undefined });
    try {
      const counts = countRequests();
      const backup = backupService.getContainerClient(name);
      const before1 = { ...counts };
      const initial = await scanAndBackUp(host, lake, backup);
      const initialRow: Row = {
        name: `product: scan → all verified (${n})`,
        ms: initial.ms,
        extra: { "blobs/s": ((n / initial.ms) * 1000).toFixed(0), "scan s": (initial.scanMs / 1000).toFixed(1), "requests/blob lake/backup/queue": perBlob(counts, before1, n), "peak RSS MiB": peakRssMiB() },
      };

      const changed = names.filter((_, i) => i % 100 === 0);
      await seedBlobs(lake, changed, { concurrency: 32, content: body("v2") });
      const rclone2 = hasRclone ? await rcloneCopy(azurite, name, rcloneTarget, transfers) : undefined;
      const before2 = { ...counts };
      const incremental = await scanAndBackUp(host, lake, backup);
      const incrementalRow: Row = {
        name: `product: 1% rewritten (${changed.length}), scan + backups`,
        ms: incremental.ms,
        extra: { "scan s": (incremental.scanMs / 1000).toFixed(1), "requests/blob lake/backup/queue": perBlob(counts, before2, changed.length), "peak RSS MiB": peakRssMiB() },
      };

      if (rclone1 !== undefined && rclone2 !== undefined) {
        printTable(`initial backup, ${n} blobs of ${size} B (Azurite, local Durable host, this machine)`, { name: `rclone copy --transfers ${transfers}`, ms: rclone1, extra: { "blobs/s": ((n / rclone1) * 1000).toFixed(0) } }, [initialRow]);
        printTable(`incremental, ${changed.length} of ${n} rewritten`, { name: "rclone copy (incremental)", ms: rclone2 }, [incrementalRow]);
      } else {
        console.log("\nrclone could not be installed: no reference rows.");
        printTable(`backup, ${n} blobs of ${size} B`, initialRow, [incrementalRow]);
      }
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
  if (count === 0) return;
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
