/**
 * `npm run bench -- retention [--blobs N] [--dirs D] [--superseded S]`: the retention run against two bare listings (with
 * snapshots) of the same two containers, in the same run.
 *
 * Seeds N blobs (default 20,000) with 2 versions each, as the app leaves them when the backup path could not release
 * the older lake snapshot: in the lake, the blob with a snapshot of each version; in the backup, the current version
 * with the older one as a history snapshot (`backup_source_*` records as the app writes them). `--superseded S` keeps
 * the older lake snapshot for S of the blobs only (default all): Azurite's Delete Blob costs far more than any other
 * request here (hundreds of milliseconds at this size, see the initial-backup bench's probe), so deleting 20,000
 * measures Azurite's LokiJS removals rather than the retention run. Then measures: the
 * bare listings of the lake and the backup, with snapshots and metadata (the baseline); a dry run; the retention run
 * that deletes the N superseded lake snapshots (LAKE_SNAPSHOTS=newest); a second run with nothing left to delete.
 * Runs go through the local Durable host (HTTP starter → orchestration → window activities) as in production; storage
 * requests are counted by a pipeline policy on the app's own clients.
 */
import path from "node:path";

import type { PipelinePolicy } from "@azure/core-rest-pipeline";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";

import { startAzurite } from "../dev/azurite";
import { startLocalHost } from "../local-host";
import { BackupMetadata } from "../src/domain/blob-backup";
import { mapBounded } from "../src/domain/map-bounded";
import type { RetentionReport } from "../src/domain/retention";
import { runtime } from "../src/runtime";
import { addPipelinePolicy } from "../test/support/scan-fixtures";
import { bareListing } from "./bare-listing";
import { option, peakRssMiB, printTable, type Row, timed } from "./report";

const FILES = [
  "src/triggers/http-start-retention.js",
  "src/orchestrators/retention.js",
  "src/activities/plan-retention.js",
  "src/activities/retain-container-window.js",
  "src/activities/purge-finished-instances.js",
  "src/activities/write-retention-report.js",
];

type Kind = "lake list" | "backup list" | "delete" | "other";

async function listAll(container: ContainerClient): Promise<number> {
  return (await bareListing(container, { snapshots: true })).entries;
}

const sum = (o: Record<string, number>): number => Object.values(o).reduce((a, b) => a + b, 0);

export async function run(args: readonly string[]): Promise<void> {
  const blobs = option(args, "blobs", 20_000);
  const dirs = option(args, "dirs", 50);
  const superseded = Math.min(option(args, "superseded", blobs), blobs);
  const name = "bench-retention";
  const azurite = await startAzurite();
  try {
    const lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage).getContainerClient(name);
    const backup = BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage).getContainerClient(name);
    await lake.create();
    await backup.create();
    const names = Array.from({ length: blobs }, (_, i) => `dir-${String(i % dirs).padStart(3, "0")}/file-${String(i).padStart(7, "0")}.csv`);
    const seeding = await timed(() =>
      mapBounded(names, 32, async (n, i) => {
        const source = lake.getBlockBlobClient(n);
        const copy = backup.getBlockBlobClient(n);
        for (const v of ["v1", "v2"]) {
          const body = `${n} ${v}`;
          await source.upload(body, body.length);
          // The older lake snapshot only for the first `superseded` blobs; the others' was released on time.
          const snap = v === "v1" && i >= superseded ? { etag: (await source.getProperties()).etag, snapshot: undefined } : await source.createSnapshot();
          const record = { [BackupMetadata.etag]: snap.etag ?? "", ...(snap.snapshot !== undefined && { [BackupMetadata.snapshot]: snap.snapshot }) };
          if (v === "v2") await copy.createSnapshot();
          await copy.upload(body, body.length, { metadata: record });
        }
      }),
    );
    console.log(
      `seeded ${blobs} blobs × 2 versions (lake: the newest snapshot of each, and the older one of ${superseded}; backup: current + 1 history snapshot) in ${(seeding.ms / 1000).toFixed(1)} s`,
    );

    const host = await startLocalHost({
      settings: { ...azurite.settings, BACKUP_QUEUE: "bench-retention-requests" },
      functions: FILES.map((f) => path.resolve(__dirname, "..", f)),
      timerSchedules: false,
      log: () => undefined,
    });
    try {
      const counts: Record<Kind, number> = { "lake list": 0, "backup list": 0, delete: 0, other: 0 };
      const counter = (listKind: Kind): PipelinePolicy => ({
        name: `bench-count-${listKind}`,
        sendRequest(request, next) {
          const url = new URL(request.url);
          const kind: Kind =
            request.method === "GET" && url.searchParams.get("comp") === "list" && url.pathname.split("/").length > 2
              ? listKind
              : request.method === "DELETE"
                ? "delete"
                : "other";
          counts[kind] += 1;
          return next(request);
        },
      });
      const { clients } = runtime();
      addPipelinePolicy(clients.source.service, counter("lake list"));
      addPipelinePolicy(clients.backup.service, counter("backup list"));

      const perK = (n: number) => ((n * 1000) / blobs).toFixed(2);
      const retain = async (label: string, body: unknown): Promise<Row> => {
        const before = { ...counts };
        const { ms, value } = await timed(async () => {
          const res = await fetch(`${host.baseUrl}/api/retention`, { method: "POST", body: JSON.stringify(body) });
          if (res.status !== 202) throw new Error(`start answered ${res.status}: ${await res.text()}`);
          const { id } = (await res.json()) as { id: string };
          return host.client.waitForCompletion(id, { timeoutMs: 60 * 60_000 });
        });
        if (value.runtimeStatus !== "Completed") throw new Error(`${label}: ${value.runtimeStatus} ${JSON.stringify(value.output)}`);
        const t = (value.output as RetentionReport).totals;
        console.log(
          `${label}: ${(ms / 1000).toFixed(1)} s, blobs ${t.blobs}, lake snapshots kept ${sum(t.snapshots.kept)} / deleted ${sum(t.snapshots.deleted)}, ` +
            `backup versions kept ${sum(t.versions.kept)} / deleted ${sum(t.versions.deleted)}`,
        );
        const delta = (k: Kind) => perK(counts[k] - before[k]);
        return {
          name: label,
          ms,
          extra: { "lake list/1k": delta("lake list"), "bkp list/1k": delta("backup list"), "delete/1k": delta("delete"), "other/1k": delta("other"), "peak RSS MiB": peakRssMiB() },
        };
      };

      // Untimed: the first listing after seeding pays Azurite's warm-up, which no other row would.
      await listAll(lake);
      const bare = await timed(async () => (await listAll(lake)) + (await listAll(backup)));
      const baseline: Row = { name: "bare listings (lake + backup, with snapshots)", ms: bare.ms, extra: { "peak RSS MiB": peakRssMiB() } };
      console.log(`bare listings: ${bare.value} entries`);
      const rows = [
        await retain("retention, dry run", { containers: [name], dryRun: true }),
        await retain(`retention, deletes ${superseded} superseded lake snapshots`, { containers: [name] }),
        await retain("retention, nothing left to delete", { containers: [name] }),
      ];
      const bareAgain = await timed(async () => (await listAll(lake)) + (await listAll(backup)));
      rows.push({ name: "bare listings again (after the deletes)", ms: bareAgain.ms });
      printTable(`retention, ${blobs} blobs × 2 versions (Azurite, local Durable host, this machine)`, baseline, rows);
    } finally {
      await host.stop();
    }
  } finally {
    await azurite.stop();
  }
}
