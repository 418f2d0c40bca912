/**
 * `npm run bench -- restore [--n 10000] [--size 1024] [--concurrency 32]`: a whole container restored into a new one
 * through the app (POST /api/restore → orchestration → batch activities: backup listing with versions, target
 * listing, version choice, conditional server-side copies, verification, report), next to the same server-side copies
 * done raw (list, then Put Block From URL + Put Block List per blob at the same concurrency, no orchestration, no
 * verification), in the same run and the same Azurite. The ratio is what the orchestration, the choice and the checks
 * cost per restored blob.
 */
import type { PipelinePolicy } from "@azure/core-rest-pipeline";
import type { BlobServiceClient } from "@azure/storage-blob";

import { startAzurite } from "../dev/azurite";
import { startLocalHost } from "../local-host";
import { createClients } from "../src/config/clients";
import { loadSettings } from "../src/config/settings";
import { BackupMetadata } from "../src/domain/blob-backup";
import { mapBounded } from "../src/domain/map-bounded";
import type { RestoreReport } from "../src/domain/restore-contracts";
import { runtime } from "../src/runtime";
import { sourceReadUrl } from "../src/storage/source-sas";
import { addPipelinePolicy } from "../test/support/scan-fixtures";
import { option, printTable, type Row, timed } from "./report";

/** Counts the requests a client's pipeline sends (the storage SDKs share one pipeline per service client). */
function countRequests(service: BlobServiceClient): { count: number } {
  const counter = { count: 0 };
  const policy: PipelinePolicy = {
    name: "bench-request-counter",
    sendRequest(request, next) {
      counter.count += 1;
      return next(request);
    },
  };
  addPipelinePolicy(service, policy);
  return counter;
}

export async function run(args: readonly string[]): Promise<void> {
  const n = option(args, "n", 10_000);
  const size = option(args, "size", 1024);
  const concurrency = option(args, "concurrency", 32);
  const azurite = await startAzurite();
  try {
    const settings = { ...azurite.settings, BACKUP_QUEUE: "bench-restore", RESTORE_CONCURRENCY: String(concurrency) };
    const clients = createClients(loadSettings(settings));

    // The backup container as the app leaves it: one backup blob per name with its backup_source_* record.
    const backup = clients.backup.service.getContainerClient("bench");
    await backup.create();
    const payload = Buffer.alloc(size, 7);
    const seeded = await timed(() =>
      mapBounded(Array.from({ length: n }, (_, i) => `data/${String(i % 100).padStart(3, "0")}/part-${String(i).padStart(6, "0")}.bin`), 32, async (name) => {
        await backup.getBlockBlobClient(name).upload(payload, size, {
          metadata: {
            owner: "bench",
            [BackupMetadata.etag]: `"0x${name.length}"`,
            [BackupMetadata.lastModified]: "2026-11-01T00:00:00.000Z",
            [BackupMetadata.copiedAt]: "2026-11-01T00:05:00.000Z",
          },
          blobHTTPHeaders: { blobContentType: "application/octet-stream" },
        });
      }),
    );
    console.log(`seeded ${n} backup blobs of ${size} B in ${(seeded.ms / 1000).toFixed(1)} s`);

    // Baseline: list the backup container, then the same server-side copy per blob at the same concurrency.
    const rawTarget = clients.source.service.getContainerClient("bench-raw");
    await rawTarget.create();
    const rawRequests = countRequests(clients.source.service);
    const expiry = new Date(Date.now() + 3600_000);
    const raw = await timed(async () => {
      const items: { name: string; md5?: Uint8Array }[] = [];
      for await (const item of backup.listBlobsFlat({ includeMetadata: true, includeSnapshots: true })) {
        items.push({ name: item.name, ...(item.properties.contentMD5 !== undefined && { md5: item.properties.contentMD5 }) });
      }
      await mapBounded(items, concurrency, async (item) => {
        const url = await sourceReadUrl(clients.backup, "bench", item.name, undefined, expiry);
        const target = rawTarget.getBlockBlobClient(item.name);
        const id = Buffer.from("block-000000").toString("base64");
        await target.stageBlockFromURL(id, url, 0, size, { ...(item.md5 !== undefined && { sourceContentMD5: item.md5 }) });
        await target.commitBlockList([id], { metadata: { owner: "bench" }, conditions: { ifNoneMatch: "*" } });
      });
    });
    const rawTargetRequests = rawRequests.count;

    // The product: the restore starter, followed as a caller follows it.
    const host = await startLocalHost({ settings, queuePollMs: 200, timerSchedules: false, log: () => undefined });
    try {
      const app = runtime().clients;
      const targetRequests = countRequests(app.source.service);
      const backupRequests = countRequests(app.backup.service);
      const restored = await timed(async () => {
        const started = await fetch(`${host.baseUrl}/api/restore`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ container: "bench", target: { container: "bench-restored" } }),
        });
        const location = started.headers.get("location");
        if (started.status !== 202 || location === null) throw new Error(`the restore did not start: ${started.status} ${await started.text()}`);
        for (;;) {
          const res = await fetch(location);
          const body = (await res.json()) as { runtimeStatus: string; output: unknown };
          if (res.status === 200) {
            if (body.runtimeStatus !== "Completed") throw new Error(`the restore ended ${body.runtimeStatus}: ${JSON.stringify(body.output)}`);
            return body.output as RestoreReport;
          }
          await new Promise((r) => setTimeout(r, 250));
        }
      });
      const report = restored.value;
      const perSecond = (ms: number) => ((n / ms) * 1000).toFixed(0);
      const perBlob = (count: number) => (count / n).toFixed(2);
      const baseline: Row = {
        name: "raw server-side copies",
        ms: raw.ms,
        extra: { "blobs/s": perSecond(raw.ms), "% of raw rate": "100", "target req/blob": perBlob(rawTargetRequests), "backup req/blob": "(listing)", restored: n },
      };
      const rows: Row[] = [
        {
          name: "POST /api/restore",
          ms: restored.ms,
          extra: {
            "blobs/s": perSecond(restored.ms),
            "% of raw rate": ((raw.ms / restored.ms) * 100).toFixed(0),
            "target req/blob": perBlob(targetRequests.count),
            "backup req/blob": perBlob(backupRequests.count),
            restored: report.counts.restored,
          },
        },
      ];
      printTable(`restore: a container of ${n} blobs of ${size} B into a new container, concurrency ${concurrency}`, baseline, rows);
      console.log(
        `\nThe restore ran at ${perSecond(restored.ms)} blobs/s against ${perSecond(raw.ms)} for the same copies done raw ` +
          `(${((raw.ms / restored.ms) * 100).toFixed(0)}% of the raw rate, ${(restored.ms / raw.ms).toFixed(2)}× the time) in ${report.batches} batches. ` +
          `It does more: a verification read per blob, the backup and target listings, the per-blob report and the orchestration.`,
      );
      if (report.counts.restored !== n || report.counts.failed !== 0) console.log(`warning: restored ${report.counts.restored} of ${n}, ${report.counts.failed} failed`);
    } finally {
      await host.stop();
    }
  } finally {
    await azurite.stop();
  }
}
