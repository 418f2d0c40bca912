/**
 * The demo's small data lake: what it seeds, how it changes it, and how it checks the backup account against it.
 * Verification reads two listings per container (the lake with snapshots, the backup with metadata), no HEAD per blob.
 */
import type { BlobServiceClient, ContainerClient } from "@azure/storage-blob";

import { BackupMetadata } from "../src/domain/blob-backup";
import { sameEtag } from "../src/domain/etag";
import { mapBounded } from "../src/domain/map-bounded";

export interface SeedBlob {
  readonly name: string;
  readonly content: string;
  readonly metadata?: Record<string, string>;
  /** An ADLS Gen2 directory marker (metadata hdi_isfolder=true): never backed up, counted as skipped. */
  readonly directoryMarker?: boolean;
}

const pad = (n: number, width: number) => String(n).padStart(width, "0");

/** Three containers, 300 blobs in directories; the curated zone's files carry metadata and it has directory markers. */
export function lakeLayout(): Record<string, SeedBlob[]> {
  const raw = Array.from({ length: 150 }, (_, i) => ({
    name: `ingest/2026/11/${pad(20 + (i % 5), 2)}/orders-${pad(i, 4)}.csv`,
    content: `order_id,amount\n${i},${(i * 7.31).toFixed(2)}\n`,
  }));
  const curated: SeedBlob[] = [
    { name: "sales", content: "", metadata: { hdi_isfolder: "true" }, directoryMarker: true },
    { name: "customers", content: "", metadata: { hdi_isfolder: "true" }, directoryMarker: true },
    ...Array.from({ length: 60 }, (_, i) => ({
      name: `sales/year=2026/month=${pad(1 + (i % 11), 2)}/part-${pad(i, 5)}.parquet`,
      content: `PAR1 sales ${i} ${"x".repeat(200 + i)}`,
      metadata: { pipeline: "curate-sales", schema: "v3" },
    })),
    ...Array.from({ length: 40 }, (_, i) => ({
      name: `customers/region=${["emea", "amer", "apac", "anz"][i % 4] ?? "emea"}/part-${pad(i, 5)}.parquet`,
      content: `PAR1 customers ${i} ${"y".repeat(500 + i * 3)}`,
      metadata: { pipeline: "curate-customers", schema: "v1" },
    })),
  ];
  const logs = Array.from({ length: 50 }, (_, i) => ({
    name: `app/2026-11-${pad(20 + (i % 5), 2)}/${pad(i % 24, 2)}-${pad(i, 3)}.log`,
    content: `${i} INFO request served in ${i * 3} ms\n`.repeat(1 + (i % 7)),
  }));
  return { raw, curated, logs };
}

export async function upload(container: ContainerClient, blobs: readonly SeedBlob[]): Promise<void> {
  await mapBounded(blobs, 16, async (b) => {
    await container.getBlockBlobClient(b.name).upload(b.content, Buffer.byteLength(b.content), {
      ...(b.metadata !== undefined && { metadata: b.metadata }),
    });
  });
}

export interface ContainerCheck {
  readonly container: string;
  /** Live blobs in the lake (directory markers included). */
  readonly blobs: number;
  readonly directoryMarkers: number;
  /** Snapshots in the lake container. */
  readonly snapshots: number;
  /** The most snapshots any one lake blob carries (LAKE_SNAPSHOTS=newest keeps at most one once backed up). */
  readonly maxSnapshotsPerBlob: number;
  /** Blobs whose backup holds the current version (metadata ETag and snapshot, length, the source's own metadata). */
  readonly verified: number;
  /** Older backup versions kept as snapshots of backup blobs (history). */
  readonly backupHistory: number;
  /** Backup blobs without a live source blob. */
  readonly orphans: number;
  readonly problems: readonly string[];
}

/** Compares every live lake blob with its backup blob (same name) by the backup_source_* metadata the app writes. */
export async function verifyContainer(lake: BlobServiceClient, backup: BlobServiceClient, container: string): Promise<ContainerCheck> {
  interface Live {
    etag: string;
    length: number;
    metadata: Record<string, string>;
    newestSnapshot?: string;
  }
  const live = new Map<string, Live>();
  const snapshotsOf = new Map<string, string[]>();
  let snapshots = 0;
  for await (const item of lake.getContainerClient(container).listBlobsFlat({ includeSnapshots: true, includeMetadata: true })) {
    if (item.snapshot) {
      snapshots++;
      snapshotsOf.set(item.name, [...(snapshotsOf.get(item.name) ?? []), item.snapshot]);
    } else {
      live.set(item.name, { etag: item.properties.etag ?? "", length: item.properties.contentLength ?? -1, metadata: item.metadata ?? {} });
    }
  }
  const backupBlobs = new Map<string, { length: number; metadata: Record<string, string> }>();
  let backupHistory = 0;
  const target = backup.getContainerClient(container);
  if (await target.exists()) {
    for await (const item of target.listBlobsFlat({ includeSnapshots: true, includeMetadata: true })) {
      if (item.snapshot) backupHistory++;
      else backupBlobs.set(item.name, { length: item.properties.contentLength ?? -1, metadata: item.metadata ?? {} });
    }
  }

  const problems: string[] = [];
  let verified = 0;
  let directoryMarkers = 0;
  for (const [name, blob] of live) {
    if (blob.metadata.hdi_isfolder === "true") {
      directoryMarkers++;
      if (backupBlobs.has(name)) problems.push(`${container}/${name}: a directory marker was backed up`);
      continue;
    }
    const copy = backupBlobs.get(name);
    const newest = (snapshotsOf.get(name) ?? []).sort().at(-1);
    const why =
      copy === undefined
        ? "no backup blob"
        : !sameEtag(copy.metadata[BackupMetadata.etag], blob.etag)
          ? `backup holds ETag ${copy.metadata[BackupMetadata.etag] ?? "(none)"}, source is ${blob.etag}`
          : copy.length !== blob.length
            ? `backup length ${copy.length}, source ${blob.length}`
            : newest !== undefined && copy.metadata[BackupMetadata.snapshot] !== newest
              ? `backup was copied from snapshot ${copy.metadata[BackupMetadata.snapshot] ?? "(none)"}, newest is ${newest}`
              : Object.entries(blob.metadata).some(([k, v]) => copy.metadata[k] !== v)
                ? "the source's own metadata is missing from the backup"
                : undefined;
    if (why === undefined) verified++;
    else problems.push(`${container}/${name}: ${why}`);
  }
  const orphans = [...backupBlobs.keys()].filter((n) => !live.has(n)).length;
  const maxSnapshotsPerBlob = Math.max(0, ...[...snapshotsOf.values()].map((ids) => ids.length));
  return { container, blobs: live.size, directoryMarkers, snapshots, maxSnapshotsPerBlob, verified, backupHistory, orphans, problems };
}

/** Every blob under `prefix` with its bytes (the demo's "before" picture of a partition). */
export async function readPartition(container: ContainerClient, prefix: string): Promise<Map<string, Buffer>> {
  const names: string[] = [];
  for await (const blob of container.listBlobsFlat({ prefix })) names.push(blob.name);
  const out = new Map<string, Buffer>();
  await mapBounded(names, 16, async (name) => {
    out.set(name, await container.getBlobClient(name).downloadToBuffer());
  });
  return out;
}
