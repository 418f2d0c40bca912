/**
 * `npm run bench -- large-copy [--mib 2048] [--block-mib 64] [--step-seconds 240]`: one large blob backed up by the
 * whole blob backup orchestration (server engine, a copy in steps: BlobCopySteps sub-orchestrations running
 * StageBackupBlocks activities, then CommitBackupBlocks and verification, via the local host), next to one raw staged
 * copy of the same snapshot (Put Block From URL for every range, 4 at a time, then Put Block List) in the same run and
 * the same Azurite. The ratio is the price of doing the copy in resumable steps. `--step-seconds` shortens the steps
 * to show more of them (the product's default is 240 s).
 */
import { randomBytes } from "node:crypto";

import { startAzurite } from "../dev/azurite";
import { startLocalHost } from "../local-host";
import { createClients } from "../src/config/clients";
import { loadSettings } from "../src/config/settings";
import type { BackupRequest } from "../src/domain/backup-request";
import { blobBackupInstanceId } from "../src/domain/blob-backup";
import { blockIds, blockLayout, blockRange } from "../src/domain/block-layout";
import { Orchestrators } from "../src/function-names";
import { sourceReadUrl } from "../src/storage/source-sas";
import { option, peakRssMiB, printTable, type Row, timed } from "./report";

const MiB = 1024 * 1024;

export async function run(args: readonly string[]): Promise<void> {
  const mib = option(args, "mib", 2048);
  const blockMiB = option(args, "block-mib", 64);
  const stepSeconds = option(args, "step-seconds", 240);
  const size = mib * MiB;
  const parallelism = 4;
  const azurite = await startAzurite();
  try {
    const settings = {
      ...azurite.settings,
      BACKUP_QUEUE: "bench-large",
      RECONCILE_SCHEDULE: "0 0 2 * * *",
      COPY_BLOCK_MIB: String(blockMiB),
      COPY_STEP_SECONDS: String(stepSeconds),
    };
    const clients = createClients(loadSettings(settings));
    const lake = clients.source.service.getContainerClient("bench");
    await lake.create();

    // The source, uploaded block by block (no buffer of its size); each block differs so misplaced ranges would show.
    const name = "big/blob.bin";
    const source = lake.getBlockBlobClient(name);
    const seed = randomBytes(Math.min(size, 64 * MiB));
    const uploadIds: string[] = [];
    for (let offset = 0, i = 0; offset < size; offset += seed.length, i++) {
      const data = seed.subarray(0, Math.min(seed.length, size - offset));
      data.writeUInt32BE(i, 0);
      const id = Buffer.from(`upload-${String(i).padStart(6, "0")}`).toString("base64");
      await source.stageBlock(id, data, data.length);
      uploadIds.push(id);
    }
    await source.commitBlockList(uploadIds);
    const snap = await source.createSnapshot();
    const p = await source.withSnapshot(snap.snapshot ?? "").getProperties();
    const version = { etag: p.etag ?? "", snapshot: snap.snapshot ?? "", lastModified: (p.lastModified ?? new Date()).toISOString() };
    const layout = blockLayout(size, blockMiB * MiB);
    if (layout === undefined) throw new Error("too large for a block blob");

    // Baseline: one raw staged copy, as a script would do it in one process.
    const rawTarget = clients.backup.service.getContainerClient("bench-raw");
    await rawTarget.create();
    const url = await sourceReadUrl(clients.source, "bench", name, version.snapshot, new Date(Date.now() + 3 * 3600_000));
    const ids = blockIds({ account: clients.source.accountName, container: "bench", blob: name, ...version }, layout);
    const raw = await timed(async () => {
      const target = rawTarget.getBlockBlobClient(name);
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(parallelism, layout.count) }, async () => {
          while (next < layout.count) {
            const i = next++;
            const { offset, count } = blockRange(layout, size, i);
            await target.stageBlockFromURL(ids[i] ?? "", url, offset, count);
          }
        }),
      );
      await target.commitBlockList(ids);
    });

    // The product: the blob backup orchestration, started as the queue trigger would start it.
    const host = await startLocalHost({ settings, queuePollMs: 50, timerSchedules: false, log: () => undefined });
    try {
      const request: BackupRequest = {
        v: 1,
        account: clients.source.accountName,
        container: "bench",
        blob: name,
        ...version,
        contentLength: size,
        reason: "producer",
        requestedAt: new Date().toISOString(),
      };
      const instanceId = blobBackupInstanceId(request);
      const before = host.stats();
      const stepped = await timed(async () => {
        await host.client.startNew(Orchestrators.blobBackup, { instanceId, input: { request } });
        return host.client.waitForCompletion(instanceId, { timeoutMs: 3 * 3600_000, showHistory: true });
      });
      const status = stepped.value;
      const output = status.output as { status?: string; reason?: string } | null;
      if (status.runtimeStatus !== "Completed" || output?.status !== "Copied") {
        throw new Error(`the backup ended ${status.runtimeStatus}: ${JSON.stringify(status.output)}`);
      }
      const steps = (await host.client.listInstances({ instanceIdPrefix: `${instanceId}:` })).filter((s) => s.instanceId.includes(":steps:")).length;
      const baseline: Row = { name: "raw staged copy (one process)", ms: raw.ms, extra: { "MiB/s": ((mib / raw.ms) * 1000).toFixed(0), blocks: layout.count } };
      const rows: Row[] = [
        {
          name: "blob backup in steps (local host)",
          ms: stepped.ms,
          extra: {
            "MiB/s": ((mib / stepped.ms) * 1000).toFixed(0),
            blocks: layout.count,
            activities: host.stats().activities - before.activities,
            "step monitors": steps,
            "backup history events": status.historyEvents?.length ?? "",
            "peak RSS MiB": peakRssMiB(),
          },
        },
      ];
      printTable(`large copy: ${mib} MiB in blocks of ${layout.blockBytes / MiB} MiB, ${parallelism} at a time, steps of ≤ ${stepSeconds} s`, baseline, rows);
      console.log(`\n${output.reason ?? ""}`);
      console.log(
        "The orchestration adds the prepare, commit and verify activities, a Get Block List per step and the durable " +
          "history around the same Put Block From URL calls; in exchange a failed or restarted step resends only the ranges " +
          "still missing. Azurite and the host share this machine's CPU with the copy, so the ratio is a smoke figure.",
      );
    } finally {
      await host.stop();
    }
  } finally {
    await azurite.stop();
  }
}
