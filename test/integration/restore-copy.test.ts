/**
 * Writing one backed-up version into a target, against Azurite: staged in ranges (small thresholds stand in for the
 * 256 MiB limit) and resumed after a failure, bytes checked by the service against the backup's MD5, a backup blob
 * replaced while it is read, a producer write right after the restore's commit.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";

import { BlobServiceClient, type ContainerClient, StorageSharedKeyCredential } from "@azure/storage-blob";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import type { BlobAccount } from "../../src/config/clients";
import { BackupMetadata } from "../../src/domain/blob-backup";
import type { BackupVersion } from "../../src/domain/restore";
import { addRestoreCounts, type BatchInput, zeroRestoreCounts } from "../../src/domain/restore-contracts";
import { backupVersionOf } from "../../src/storage/backup-versions";
import { restoreBatch } from "../../src/storage/restore-batch";
import { restoreVersion } from "../../src/storage/restore-copy";
import { addPipelinePolicy } from "../support/scan-fixtures";

let azurite: AzuriteInstance;
let backupAccount: BlobAccount;
let lakeService: BlobServiceClient;
let backups: ContainerClient;
let target: ContainerClient;

const SMALL = { singleBlockMaxBytes: 64 * 1024, rangeBytes: 48 * 1024, rangeParallelism: 2, maxHashedBytes: 16 * 1024 * 1024 };
const md5 = (b: Buffer): string => createHash("md5").update(b).digest("base64");

function account(a: AzuriteInstance["accounts"]["backup"]): BlobAccount {
  const service = BlobServiceClient.fromConnectionString(a.connectionString);
  return { accountName: a.name, service, singleAttempt: service, sharedKey: new StorageSharedKeyCredential(a.name, a.key) };
}

before(async () => {
  azurite = await startAzurite();
  backupAccount = account(azurite.accounts.backup);
  lakeService = BlobServiceClient.fromConnectionString(azurite.accounts.lake.connectionString);
  backups = backupAccount.service.getContainerClient("copies");
  await backups.create();
  target = lakeService.getContainerClient("copies-target");
  await target.create();
});

after(async () => {
  await azurite?.stop();
});

/** A backup blob as the app writes it, committed from blocks (so Content-MD5 is only what we give). */
async function backupBlob(name: string, content: Buffer, contentMd5: string | undefined): Promise<BackupVersion> {
  const blob = backups.getBlockBlobClient(name);
  await blob.stageBlock(Buffer.from("b0").toString("base64"), content, content.length);
  await blob.commitBlockList([Buffer.from("b0").toString("base64")], {
    metadata: { owner: "o", [BackupMetadata.etag]: '"0x1"', [BackupMetadata.lastModified]: "2026-11-01T00:00:00.000Z" },
    blobHTTPHeaders: { blobContentType: "application/octet-stream", ...(contentMd5 !== undefined && { blobContentMD5: Buffer.from(contentMd5, "base64") }) },
  });
  for await (const item of backups.listBlobsFlat({ prefix: name, includeMetadata: true })) if (item.name === name) return backupVersionOf(item);
  throw new Error("not listed");
}

describe("restoring one version", () => {
  it("stages a large version in ranges, resumes after a failed commit without reading the staged ranges again, and verifies by hashing", async () => {
    const content = randomBytes(200 * 1024);
    const version = await backupBlob("large.bin", content, md5(content));
    let blockReads = 0;
    let failCommit = true;
    addPipelinePolicy(lakeService, {
      name: "count-and-fail-once",
      async sendRequest(request, next) {
        const url = new URL(request.url);
        if (!url.pathname.endsWith("/large.bin")) return next(request);
        if (url.searchParams.get("comp") === "block") blockReads += 1;
        if (request.method === "PUT" && url.searchParams.get("comp") === "blocklist" && failCommit) {
          failCommit = false;
          throw new Error("connection reset (injected)");
        }
        return next(request);
      },
    });
    await assert.rejects(restoreVersion(backupAccount, "copies", version, target, "large.bin", { ifNoneMatch: "*" }, SMALL), /injected/);
    assert.equal(blockReads, 5, "200 KiB in 48 KiB ranges");
    const result = await restoreVersion(backupAccount, "copies", version, target, "large.bin", { ifNoneMatch: "*" }, SMALL);
    assert.deepEqual(result, { kind: "restored", bytes: content.length, note: "length and MD5 of the content checked" });
    assert.equal(blockReads, 5, "the retry read no range again");
    assert.ok((await target.getBlobClient("large.bin").downloadToBuffer()).equals(content));
    const p = await target.getBlobClient("large.bin").getProperties();
    assert.deepEqual(p.metadata, { owner: "o" });
    assert.equal(p.contentType, "application/octet-stream");
  });

  it("fails a version whose bytes do not match its backup's Content-MD5, writing nothing", async () => {
    const version = await backupBlob("damaged.bin", Buffer.from("the bytes"), md5(Buffer.from("other bytes")));
    const result = await restoreVersion(backupAccount, "copies", version, target, "damaged.bin", { ifNoneMatch: "*" }, SMALL);
    assert.equal(result.kind, "failed");
    assert.match(result.kind === "failed" ? result.reason : "", /do not match its Content-MD5/);
    assert.equal(await target.getBlobClient("damaged.bin").exists(), false);
  });

  it("fails a version read from the backup blob itself when a newer backup replaced it meanwhile (no MD5 to tell)", async () => {
    const version = await backupBlob("moving.bin", Buffer.from("version one"), undefined);
    assert.equal(version.contentMd5, undefined, "precondition: the backup blob has no Content-MD5");
    let replaced = false;
    addPipelinePolicy(lakeService, {
      name: "newer-backup-arrives",
      async sendRequest(request, next) {
        const response = await next(request);
        const url = new URL(request.url);
        if (!replaced && url.pathname.endsWith("/moving.bin") && url.searchParams.get("comp") === "block") {
          replaced = true;
          await backups.getBlockBlobClient("moving.bin").upload("version two!", 12);
        }
        return response;
      },
    });
    const result = await restoreVersion(backupAccount, "copies", version, target, "moving.bin", { ifNoneMatch: "*" }, SMALL);
    assert.ok(replaced);
    assert.equal(result.kind, "failed");
    assert.match(result.kind === "failed" ? result.reason : "", /replaced by a newer backup/);
    assert.equal(await target.getBlobClient("moving.bin").exists(), false);
  });

  it("reports a lost race when a producer writes right after the restore's commit, keeping the producer's write", async () => {
    const content = Buffer.from("restored content");
    const version = await backupBlob("busy.csv", content, md5(content));
    let overwritten = false;
    addPipelinePolicy(lakeService, {
      name: "producer-after-commit",
      async sendRequest(request, next) {
        const url = new URL(request.url);
        if (!overwritten && request.method === "HEAD" && url.pathname.endsWith("/busy.csv")) {
          overwritten = true;
          await BlobServiceClient.fromConnectionString(azurite.accounts.lake.connectionString).getContainerClient("copies-target").getBlockBlobClient("busy.csv").upload("producer", 8);
        }
        return next(request);
      },
    });
    const result = await restoreVersion(backupAccount, "copies", version, target, "busy.csv", { ifNoneMatch: "*" }, SMALL);
    assert.equal(result.kind, "lostRace");
    assert.equal((await target.getBlobClient("busy.csv").downloadToBuffer()).toString(), "producer");
  });
});

describe("restore batches", () => {
  it("stop inside a page at the byte budget and go on after the last name taken: every blob restored once", async () => {
    const source = backupAccount.service.getContainerClient("budget");
    await source.create();
    const names = Array.from({ length: 7 }, (_, i) => `p/${i}.bin`);
    for (const name of names) {
      await source.getBlockBlobClient(name).upload(Buffer.alloc(100, 1), 100, {
        metadata: { [BackupMetadata.etag]: `"0x${name.length}"`, [BackupMetadata.lastModified]: "2026-11-01T00:00:00.000Z" },
      });
    }
    await backupAccount.service.getContainerClient("backup-reports").createIfNotExists();
    await lakeService.getContainerClient("budget-target").create();
    const lakeAccount: BlobAccount = { accountName: azurite.accounts.lake.name, service: lakeService, singleAttempt: lakeService };
    let cursor: Extract<BatchInput["source"], { kind: "listing" }> = { kind: "listing", cursor: {}, targetCursor: {} };
    let totals = zeroRestoreCounts();
    const taken: number[] = [];
    for (let batch = 0; ; batch += 1) {
      assert.ok(batch < 20, "the cursor advances");
      const result = await restoreBatch(
        { backup: backupAccount, target: lakeAccount, reportsContainer: "backup-reports", concurrency: 4 },
        {
          options: {
            container: "budget",
            backupContainer: "budget",
            history: "snapshot",
            asOf: new Date().toISOString(),
            target: { account: "lake", container: "budget-target" },
            overwrite: "never",
            dryRun: false,
            inPlace: false,
            pageSize: 5,
            maxBatchBytes: 250,
          },
          source: cursor,
          details: { blob: "restore/budget.blobs.jsonl", block: batch },
        },
      );
      assert.equal(result.kind, "batch");
      if (result.kind !== "batch") return;
      totals = addRestoreCounts(totals, result.counts);
      taken.push(result.counts.considered);
      if (result.next === undefined) break;
      cursor = { kind: "listing", ...result.next };
    }
    assert.deepEqual(taken, [2, 2, 1, 2], "pages of 5 and 2, at most 250 bytes (two blobs) a batch");
    assert.equal(totals.restored, 7);
    assert.equal(totals.considered, 7);
    const restored = [];
    for await (const b of lakeService.getContainerClient("budget-target").listBlobsFlat()) restored.push(b.name);
    assert.deepEqual(restored, names);
  });
});
