/**
 * `npm run bench -- reconcile [--blobs N] [--dirs D]`: reconciliation against bare listings of the same two containers.
 *
 * Seeds a lake container of N blobs (default 20,000), each with a snapshot, and a backup container in sync with it
 * (same names, `backup_source_etag` = the source's ETag). Then measures in one run: the bare listings of the source
 * (with snapshots and metadata) and of the backup (with metadata) — the baseline; a reconciliation when in sync; after
 * 1% of the source changed; and with an empty backup. Reconciliations run through the local Durable host (HTTP starter
 * → orchestrations → window activities), exactly as in production; storage requests are counted by a pipeline policy
 * on the app's own clients. Where `rclone` is installed it also times `rclone check` of the same two containers.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";

import type { PipelinePolicy } from "@azure/core-rest-pipeline";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";

import { type AzuriteInstance, startAzurite } from "../dev/azurite";
import { startLocalHost } from "../local-host";
import { BackupMetadata } from "../src/domain/blob-backup";
import { mapBounded } from "../src/domain/map-bounded";
import type { ReconciliationReport } from "../src/domain/reconciliation";
import { runtime } from "../src/runtime";
import { addPipelinePolicy, seedBlobs } from "../test/support/scan-fixtures";
import { peakRssMiB, printTable, type Row, timed } from "./report";

const FILES = [
  "src/triggers/http-start-reconciliation.js",
  "src/orchestrators/reconciliation.js",
  "src/orchestrators/container-reconciliation.js",
  "src/activities/plan-reconciliation.js",
  "src/activities/reconcile-container-window.js",
  "src/activities/plan-listing-ranges.js",
  "src/activities/write-reconciliation-report.js",
  "src/activities/stage-reconciliation-report-part.js",
];

type Kind = "source list" | "backup list" | "snapshot" | "enqueue" | "other";

function option(args: readonly string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  const value = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive whole number`);
  return value;
}

async function listAll(container: ContainerClient, withSnapshots: boolean): Promise<number> {
  let entries = 0;
  for await (const page of container.listBlobsFlat({ includeSnapshots: withSnapshots, includeMetadata: true }).byPage({ maxPageSize: 5000 })) {
    entries += page.segment.blobItems.length;
  }
  return entries;
}

/** `rclone check` of the same two containers, when rclone is on the PATH; undefined otherwise. */
function rcloneCheck(azurite: AzuriteInstance, container: string): { ms: number } | undefined {
  if (spawnSync("rclone", ["version"], { stdio: "ignore" }).status !== 0) return undefined;
  const remote = (prefix: string, account: { name: string; key: string; blobEndpoint: string }) => ({
    [`RCLONE_CONFIG_${prefix}_TYPE`]: "azureblob",
    [`RCLONE_CONFIG_${prefix}_ACCOUNT`]: account.name,
    [`RCLONE_CONFIG_${prefix}_KEY`]: account.key,
    [`RCLONE_CONFIG_${prefix}_ENDPOINT`]: account.blobEndpoint,
  });
  const env = { ...process.env, ...remote("SRC", azurite.accounts.lake), ...remote("DST", azurite.accounts.backup) };
  const start = performance.now();
  // Sizes only: backup blobs hold other bytes than the source in this benchmark, as they do after a version moved on.
  const result = spawnSync("rclone", ["check", "--size-only", "--one-way", `SRC:${container}`, `DST:${container}`], { env, stdio: "ignore" });
  return result.error === undefined ? { ms: performance.now() - start } : undefined;
}

export async function run(args: readonly string[]): Promise<void> {
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

      const bare = await timed(async () => (await listAll(lake, true)) + (await listAll(backup, false)));
      const baseline: Row = { name: "bare listings (source + backup)", ms: bare.ms, extra: { "peak RSS MiB": peakRssMiB() } };
      console.log(`bare listings: ${bare.value} entries`);

      const inSync = await reconcile("reconcile, in sync");
      await seedBlobs(lake, names.filter((_, i) => i % 100 === 0), { concurrency: 32, content: (n) => `${n} v2` });
      const onePercent = await reconcile("reconcile, 1% changed");
      const rclone = rcloneCheck(azurite, name);
      await backup.delete();
      const empty = await reconcile("reconcile, backup empty");

      const rows = [inSync, onePercent, empty];
      if (rclone !== undefined) rows.push({ name: "rclone check --size-only (reference)", ms: rclone.ms });
      printTable(`reconciliation, ${blobs} blobs (Azurite, local Durable host, this machine)`, baseline, rows);
      if (rclone === undefined) console.log("\nrclone is not installed: no reference row (apt-get install rclone to add it).");
    } finally {
      await host.stop();
    }
  } finally {
    await azurite.stop();
  }
}
