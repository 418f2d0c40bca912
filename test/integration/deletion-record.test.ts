/**
 * Reconciliation records when it first saw a backup orphaned (its source blob gone), for restore: once per orphan,
 * conditional on the listed ETag, every other metadata key kept, nothing in a dry run, and no request for an orphan
 * already recorded.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import type { ContainerClient } from "@azure/storage-blob";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { createReconcileContainerWindowActivity } from "../../src/activities/reconcile-container-window";
import { type Clients, createClients } from "../../src/config/clients";
import { loadSettings, type Settings } from "../../src/config/settings";
import { BackupMetadata } from "../../src/domain/blob-backup";
import { type ReconcileCounts, windowResultSchema } from "../../src/domain/reconciliation";
import { type OrphanEntry, recordDeletions } from "../../src/storage/deletion-record";
import { reconcileWindow } from "../../src/storage/reconcile-window";
import { addPipelinePolicy } from "../support/scan-fixtures";

let azurite: AzuriteInstance;
let clients: Clients;
let settings: Settings;
let lake: ContainerClient;
let backup: ContainerClient;
let metadataWrites = 0;
const seenAt = "2026-11-30T02:00:00.000Z";

before(async () => {
  azurite = await startAzurite();
  settings = loadSettings({ ...azurite.settings });
  clients = createClients(settings);
  lake = clients.source.service.getContainerClient("orphans");
  backup = clients.backup.service.getContainerClient("orphans");
  await lake.create();
  await backup.create();
  addPipelinePolicy(clients.backup.service, {
    name: "count-metadata-writes",
    sendRequest(request, next) {
      if (request.method === "PUT" && new URL(request.url).searchParams.get("comp") === "metadata") metadataWrites += 1;
      return next(request);
    },
  });
});

after(async () => {
  await azurite?.stop();
});

async function backupBlob(name: string): Promise<void> {
  await backup.getBlockBlobClient(name).upload("backup", 6, {
    metadata: { owner: "team-a", [BackupMetadata.etag]: '"0x1"', [BackupMetadata.lastModified]: "2026-11-01T00:00:00.000Z" },
  });
}

async function reconcileOnce(dryRun: boolean): Promise<ReconcileCounts> {
  const activity = createReconcileContainerWindowActivity({
    source: clients.source,
    backup: clients.backup,
    backupQueue: clients.backupQueue,
    snapshotConcurrency: 4,
    policy: settings,
    snapshots: "off",
    now: () => new Date(seenAt),
  });
  const result = windowResultSchema.parse(
    await activity({
      container: "orphans",
      backupContainer: "orphans",
      options: { dryRun, snapshots: "off", sourcePages: 4 },
      cursor: { backup: {} },
      snapshotsRefused: false,
    }),
  );
  assert.ok(result.kind === "window" && result.done);
  return result.counts;
}

describe("deletion records on orphaned backups", () => {
  it("writes the time once per orphan, keeping its metadata; not in a dry run; no request for one already recorded", async () => {
    await lake.getBlockBlobClient("live.csv").upload("x", 1);
    await backupBlob("live.csv");
    await backupBlob("gone-1.csv");
    await backupBlob("gone-2.csv");

    const dry = await reconcileOnce(true);
    assert.equal(dry.orphans, 2);
    assert.equal(dry.deletionsRecorded, 0);
    assert.equal(metadataWrites, 0, "a dry run writes nothing");

    const first = await reconcileOnce(false);
    assert.equal(first.deletionsRecorded, 2);
    assert.equal(metadataWrites, 2, "one request per newly seen orphan");
    const p = await backup.getBlobClient("gone-1.csv").getProperties();
    assert.deepEqual(p.metadata, {
      owner: "team-a",
      [BackupMetadata.etag]: '"0x1"',
      [BackupMetadata.lastModified]: "2026-11-01T00:00:00.000Z",
      [BackupMetadata.deletedAt]: seenAt,
    });
    assert.equal((await backup.getBlobClient("live.csv").getProperties()).metadata?.[BackupMetadata.deletedAt], undefined);

    const second = await reconcileOnce(false);
    assert.equal(second.orphans, 2);
    assert.equal(second.deletionsRecorded, 0);
    assert.equal(metadataWrites, 2, "the second run writes nothing: the listing shows the record");
  });

  it("does not record a backup blob that changed after it was listed (a newer version was backed up meanwhile)", async () => {
    await backupBlob("changing.csv");
    const seen: OrphanEntry[] = [];
    const window = await reconcileWindow(lake, backup, {
      snapshots: "off",
      dryRun: true,
      concurrency: 4,
      sourcePages: 1,
      source: {},
      backup: {},
      onNewOrphans: (orphans) => {
        seen.push(...orphans);
        return Promise.resolve();
      },
    }, () => Promise.reject(new Error("SNAPSHOTS=off takes no snapshot")));
    assert.equal(window.kind, "window");
    const orphan = seen.find((o) => o.name === "changing.csv");
    assert.ok(orphan);
    await backupBlob("changing.csv");
    const result = await recordDeletions(backup, [orphan], seenAt, 4);
    assert.deepEqual(result, { recorded: 0, refused: 0 });
    assert.equal((await backup.getBlobClient("changing.csv").getProperties()).metadata?.[BackupMetadata.deletedAt], undefined);
  });
});
