/**
 * `npm run bench -- backup [--n 200] [--size 4096] [--concurrency 16]`: blob backups per second through the whole
 * queue-triggered orchestration (server engine, via the local host: queue trigger → prepare → server copy → verify),
 * next to raw `syncCopyFromURL` of the same snapshots at the same concurrency, in the same run and the same Azurite.
 * The ratio is the price of the orchestration (durable history, three activities, validation) per backup.
 */
import { BlobServiceClient } from "@azure/storage-blob";
import { QueueClient } from "@azure/storage-queue";

import { startAzurite } from "../dev/azurite";
import { startLocalHost } from "../local-host";
import { createClients } from "../src/config/clients";
import { loadSettings } from "../src/config/settings";
import { encodeBackupRequest } from "../src/domain/backup-request";
import { blobBackupInstanceId } from "../src/domain/blob-backup";
import { sourceReadUrl } from "../src/storage/source-sas";
import { option, printTable, type Row, timed } from "./report";

async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

export async function run(args: readonly string[]): Promise<void> {
  const n = option(args, "n", 200);
  const size = option(args, "size", 4096);
  // The host runs at most maxConcurrentActivities (host.json: 16) activities at once; the baseline gets the same.
  const concurrency = option(args, "concurrency", 16);
  const azurite = await startAzurite();
  try {
    const settings = { ...azurite.settings, BACKUP_QUEUE: "bench-backup", RECONCILE_SCHEDULE: "0 0 2 * * *" };
    const clients = createClients(loadSettings(settings));
    const lake = clients.source.service.getContainerClient("bench");
    await lake.create();
    const payload = Buffer.alloc(size, 7);
    const versions: { name: string; etag: string; snapshot: string; lastModified: string }[] = [];
    await pool(
      Array.from({ length: n }, (_, i) => `data/part-${String(i).padStart(5, "0")}.bin`),
      concurrency,
      async (name) => {
        const blob = lake.getBlockBlobClient(name);
        await blob.uploadData(payload);
        const snap = await blob.createSnapshot();
        versions.push({ name, etag: snap.etag ?? "", snapshot: snap.snapshot ?? "", lastModified: (snap.lastModified ?? new Date()).toISOString() });
      },
    );

    // Baseline: the copy alone, as a script would do it.
    const rawTarget = BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage).getContainerClient("bench-raw");
    await rawTarget.create();
    const expiry = new Date(Date.now() + 3600_000);
    const raw = await timed(() =>
      pool(versions, concurrency, async (v) => {
        const url = await sourceReadUrl(clients.source, "bench", v.name, v.snapshot, expiry);
        await rawTarget.getBlockBlobClient(v.name).syncCopyFromURL(url, { sourceConditions: { ifMatch: v.etag } });
      }),
    );

    // The product: messages on the queue, the local host runs trigger + orchestrations + activities.
    const host = await startLocalHost({ settings, queuePollMs: 20, timerSchedules: false, log: () => undefined });
    try {
      const queue = new QueueClient(azurite.settings.AzureWebJobsStorage, settings.BACKUP_QUEUE);
      await queue.createIfNotExists();
      const ids = new Set(
        versions.map((v) =>
          blobBackupInstanceId({ account: azurite.accounts.lake.name, container: "bench", blob: v.name, etag: v.etag, snapshot: v.snapshot }),
        ),
      );
      const orchestrated = await timed(async () => {
        await pool(versions, concurrency, async (v) => {
          await queue.sendMessage(
            encodeBackupRequest({
              v: 1,
              account: azurite.accounts.lake.name,
              container: "bench",
              blob: v.name,
              etag: v.etag,
              snapshot: v.snapshot,
              lastModified: v.lastModified,
              contentLength: size,
              reason: "producer",
              requestedAt: new Date().toISOString(),
            }),
          );
        });
        for (;;) {
          const done = (await host.client.listInstances({ runtimeStatus: ["Completed", "Failed", "Terminated"], instanceIdPrefix: "blob-backup-" })).filter((s) =>
            ids.has(s.instanceId),
          );
          if (done.length === ids.size) return done;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      });
      const copied = orchestrated.value.filter((s) => (s.output as { status?: string } | null)?.status === "Copied").length;
      const perSecond = (ms: number) => ((n / ms) * 1000).toFixed(1);
      const baseline: Row = { name: "raw syncCopyFromURL", ms: raw.ms, extra: { "backups/s": perSecond(raw.ms), copied: n } };
      const rows: Row[] = [{ name: "queue → orchestration (server)", ms: orchestrated.ms, extra: { "backups/s": perSecond(orchestrated.ms), copied } }];
      printTable(`blob backup: ${n} blobs of ${size} B, concurrency ${concurrency}`, baseline, rows);
      console.log(
        `\nThe whole orchestration backs up ${perSecond(orchestrated.ms)} blobs/s against ${perSecond(raw.ms)} for raw syncCopyFromURL ` +
          `(${(orchestrated.ms / raw.ms).toFixed(1)}× the time) — the difference is the queue, durable history, and the prepare/verify activities.`,
      );
      if (copied !== n) console.log(`warning: only ${copied} of ${n} backups ended Copied`);
    } finally {
      await host.stop();
    }
  } finally {
    await azurite.stop();
  }
}
