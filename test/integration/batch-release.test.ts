/**
 * The batch copy's release of lake snapshots after a verified backup, on Azurite (LAKE_SNAPSHOTS=keep-days:1): it
 * makes no listing when the scan's hint (`oldestLakeSnapshot`) shows every older snapshot younger than a day, lists and
 * releases once the clock says the hinted one may have aged out, and lists when there is no hint.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";

import type { ContainerClient } from "@azure/storage-blob";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { type Clients, createClients } from "../../src/config/clients";
import { loadSettings, type Settings } from "../../src/config/settings";
import type { BatchVersion } from "../../src/domain/backup-request";
import type { VersionOutcome } from "../../src/domain/blob-batch-backup";
import { backupDestinationOf } from "../../src/storage/backup-target";
import { copyBatch } from "../../src/storage/batch-copy";
import { type Version, writeAndSnapshot } from "../support/blob-backup-fixtures";
import { addPipelinePolicy, listSnapshots } from "../support/scan-fixtures";

const DAY_MS = 86_400_000;

describe("batch copy: the lake snapshot release after verification (keep-days:1)", { timeout: 120_000 }, () => {
  let azurite: AzuriteInstance;
  let settings: Settings;
  let clients: Clients;
  let lake: ContainerClient;
  /** Listing requests of the app's lake and backup clients. */
  let listings = 0;

  before(async () => {
    azurite = await startAzurite();
    settings = loadSettings({ ...azurite.settings, LAKE_SNAPSHOTS: "keep-days:1" });
    clients = createClients(settings);
    for (const service of [clients.source.service, clients.backup.service]) {
      addPipelinePolicy(service, {
        name: "count-listings",
        sendRequest(request, next) {
          if (request.method === "GET" && new URL(request.url).searchParams.get("comp") === "list") listings += 1;
          return next(request);
        },
      });
    }
    lake = clients.source.service.getContainerClient("release-hint");
    await lake.create();
  });
  after(async () => {
    await azurite?.stop();
  });

  /** Copies one version through copyBatch; returns its outcome and the listings it made. */
  async function backUp(v: Version, hint: Pick<BatchVersion, "firstVersion" | "oldestLakeSnapshot">, now?: Date): Promise<{ outcome: VersionOutcome; listings: number }> {
    const before = listings;
    const [outcome] = await copyBatch(
      { source: clients.source, backup: clients.backup, settings, ...(now !== undefined && { now: () => now }) },
      backupDestinationOf(settings, lake.containerName),
      {
        account: clients.source.accountName,
        container: lake.containerName,
        reason: "producer",
        requestedAt: new Date().toISOString(),
        versions: [{ blob: "k.csv", etag: v.etag, snapshot: v.snapshot, lastModified: v.lastModified, contentLength: v.contentLength, ...hint }],
        requestId: randomUUID(),
        copiedAt: new Date().toISOString(),
      },
    );
    assert.ok(outcome !== undefined);
    return { outcome, listings: listings - before };
  }

  it("skips the release's listings while the hinted oldest snapshot is young, releases once it may have aged out", async () => {
    const v1 = await writeAndSnapshot(lake, "k.csv", "k1");
    const first = await backUp(v1, { firstVersion: true });
    assert.deepEqual([first.outcome.status, first.listings], ["Copied", 0], "a first version has nothing older to release");

    const v2 = await writeAndSnapshot(lake, "k.csv", "k2");
    const young = await backUp(v2, { oldestLakeSnapshot: v1.snapshot });
    assert.equal(young.outcome.status, "Copied");
    assert.equal(young.listings, 0, "the hinted snapshot is seconds old: nothing under keep-days:1 can go");
    assert.equal("lakeSnapshots" in young.outcome, false);

    const v3 = await writeAndSnapshot(lake, "k.csv", "k3");
    const unhinted = await backUp(v3, {});
    assert.equal(unhinted.listings, 2, "without a hint the release lists the lake and the backup");
    assert.deepEqual(unhinted.outcome, { status: "Copied", bytes: 2, lakeSnapshots: "lake snapshots: 0 deleted, 3 kept" });

    const v4 = await writeAndSnapshot(lake, "k.csv", "k4");
    const aged = await backUp(v4, { oldestLakeSnapshot: v1.snapshot }, new Date(Date.now() + 2 * DAY_MS));
    assert.equal(aged.listings, 2);
    assert.deepEqual(aged.outcome, { status: "Copied", bytes: 2, lakeSnapshots: "lake snapshots: 3 deleted, 1 kept" });
    assert.deepEqual((await listSnapshots(lake)).map((s) => s.snapshot), [v4.snapshot], "only the newest snapshot stays");
  });
});
