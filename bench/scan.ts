/**
 * `npm run bench -- scan [--blobs N] [--dirs D]`: the container scan against a bare listing of the same container.
 *
 * Seeds N blobs (default 20,000) over D directories in Azurite, runs a first scan (everything new), then measures in
 * the same run: a bare `listBlobsFlat` with snapshots and metadata (the baseline), a scan when nothing changed, and a
 * scan after 1% of the blobs changed. Scans run through the local Durable host (HTTP starter → orchestration → page
 * activity), exactly as in production. Storage requests are counted by an HTTP pipeline policy added to the app's own
 * clients (the app runs in this process); history events come from the instance's history.
 */
import path from "node:path";

import type { PipelinePolicy } from "@azure/core-rest-pipeline";
import { BlobServiceClient } from "@azure/storage-blob";

import { startAzurite } from "../dev/azurite";
import { startLocalHost } from "../local-host";
import type { ContainerScanOutput } from "../src/domain/container-scan";
import { runtime } from "../src/runtime";
import { addPipelinePolicy, seedBlobs } from "../test/support/scan-fixtures";
import { bareListing } from "./bare-listing";
import { option, peakRssMiB, printTable, type Row, timed } from "./report";

const SCAN_FILES = ["src/triggers/http-start-container-scan.js", "src/orchestrators/container-scan.js", "src/activities/scan-source-page.js", "src/activities/plan-listing-ranges.js"];

type Kind = "list" | "snapshot" | "enqueue" | "other";

function kindOf(method: string, url: URL): Kind {
  const comp = url.searchParams.get("comp");
  if (method === "GET" && comp === "list") return "list";
  if (method === "PUT" && comp === "snapshot") return "snapshot";
  if (method === "POST" && url.pathname.endsWith("/messages")) return "enqueue";
  return "other";
}

export async function run(args: readonly string[]): Promise<void> {
  const blobs = option(args, "blobs", 20_000);
  const dirs = option(args, "dirs", 50);
  const containerName = "bench-scan";
  const azurite = await startAzurite();
  try {
    const lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage);
    const container = lake.getContainerClient(containerName);
    await container.create();
    const names = Array.from({ length: blobs }, (_, i) => `dir-${String(i % dirs).padStart(3, "0")}/file-${String(i).padStart(7, "0")}.csv`);
    const seeding = await timed(() => seedBlobs(container, names, { concurrency: 32 }));
    console.log(`seeded ${blobs} blobs over ${dirs} directories in ${(seeding.ms / 1000).toFixed(1)} s`);

    const host = await startLocalHost({
      settings: { ...azurite.settings, BACKUP_QUEUE: "bench-scan-requests", SNAPSHOTS: "auto" },
      functions: SCAN_FILES.map((f) => path.resolve(__dirname, "..", f)),
      log: () => undefined,
    });
    try {
      const counts: Record<Kind, number> = { list: 0, snapshot: 0, enqueue: 0, other: 0 };
      const counter: PipelinePolicy = {
        name: "bench-request-counter",
        sendRequest(request, next) {
          counts[kindOf(request.method, new URL(request.url))] += 1;
          return next(request);
        },
      };
      addPipelinePolicy(runtime().clients.source.service, counter);
      // Snapshots go through the client without SDK retries (src/storage/process-source-page.ts, snapshotsOf).
      addPipelinePolicy(runtime().clients.source.singleAttempt, counter);
      addPipelinePolicy(runtime().clients.backupQueue, counter);

      const perK = (n: number) => ((n * 1000) / blobs).toFixed(2);
      const scan = async (name: string): Promise<Row> => {
        const before = { ...counts };
        const { ms, value } = await timed(async () => {
          const res = await fetch(`${host.baseUrl}/api/containers/${containerName}/backup`, { method: "POST" });
          if (res.status !== 202) throw new Error(`start answered ${res.status}: ${await res.text()}`);
          const { id } = (await res.json()) as { id: string };
          return host.client.waitForCompletion(id, { timeoutMs: 30 * 60_000, showHistory: true });
        });
        if (value.runtimeStatus !== "Completed") throw new Error(`${name}: ${value.runtimeStatus} ${JSON.stringify(value.output)}`);
        const out = value.output as ContainerScanOutput;
        const delta = (k: Kind) => counts[k] - before[k];
        console.log(
          `${name}: pages ${out.pages}, seen ${out.blobsSeen}, new ${out.new}, changed ${out.changed}, unchanged ${out.unchanged}, ` +
            `snapshots ${out.snapshots}, requests ${out.requests}`,
        );
        return {
          name,
          ms,
          extra: {
            "list/1k": perK(delta("list")),
            "snapshot/1k": perK(delta("snapshot")),
            "enqueue/1k": perK(delta("enqueue")),
            "other/1k": perK(delta("other")),
            "history/1k": perK(value.historyEvents?.length ?? 0),
            "peak RSS MiB": peakRssMiB(),
          },
        };
      };

      const first = await scan("first scan (all new)");

      // Baseline: the same listing the scan makes, on its own client, nothing else.
      const bare = await timed(() => bareListing(lake.getContainerClient(containerName), { snapshots: true }));
      console.log(`bare listing: ${bare.value.entries} entries in ${bare.value.pages} pages`);
      const baseline: Row = {
        name: "bare listing (snapshots, metadata)",
        ms: bare.ms,
        extra: { "list/1k": perK(bare.value.pages), "snapshot/1k": "0.00", "enqueue/1k": "0.00", "other/1k": "0.00", "peak RSS MiB": peakRssMiB() },
      };

      const unchanged = await scan("scan, nothing changed");

      const changed = names.filter((_, i) => i % 100 === 0);
      await seedBlobs(container, changed, { concurrency: 32, content: (n) => `${n} v2` });
      const onePercent = await scan(`scan, 1% changed (${changed.length})`);

      printTable(`container scan, ${blobs} blobs (Azurite, local Durable host, this machine)`, baseline, [unchanged, onePercent, first]);
      console.log(
        "\nlist/1k counts listing requests (incl. the re-list of each page's last name); history/1k counts the events of the" +
          " scan's last execution (continueAsNew every 50 pages, so all of it below 250,000 entries).",
      );
    } finally {
      await host.stop();
    }
  } finally {
    await azurite.stop();
  }
}
