/**
 * The blob backup activities with the `server` engine against Azurite: resolve, conditional copy with history,
 * ordering, verification, lease handling, and a 300 MiB copy by staged blocks. Service behaviours Azurite lacks
 * (versioning, a lost answer, copy-source errors) are injected with a policy in the SDK client's HTTP pipeline.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { after, afterEach, before, describe, it } from "node:test";

import type { PipelinePolicy, PipelineRequest, PipelineResponse, SendRequest } from "@azure/core-rest-pipeline";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { createAcquireBlobLeaseActivity } from "../../src/activities/acquire-blob-lease";
import { createCopyBlobServerSideActivity } from "../../src/activities/copy-blob-server-side";
import { createPrepareBlobBackupActivity } from "../../src/activities/prepare-blob-backup";
import { createReleaseBlobLeaseActivity } from "../../src/activities/release-blob-lease";
import { createRenewBlobLeaseActivity } from "../../src/activities/renew-blob-lease";
import { createVerifyBlobBackupActivity } from "../../src/activities/verify-blob-backup";
import { type Clients, createClients } from "../../src/config/clients";
import { loadSettings, type Settings } from "../../src/config/settings";
import { DEFAULT_SERVER_COPY_OPTIONS } from "../../src/copy/server-copy";
import type { BackupRequest } from "../../src/domain/backup-request";
import { BackupMetadata, type SourceVersion } from "../../src/domain/blob-backup";
import { requestFor, writeAndSnapshot, writeLive } from "../support/blob-backup-fixtures";
import { addPipelinePolicy } from "../support/scan-fixtures";
import { addAnswerHeaders, answerWith, isCopyWrite, isHead, loseAnswers } from "../support/storage-faults";
import { afterSecondOf } from "../support/wait-for";

describe("blob backup, server engine (activities against Azurite)", { timeout: 600_000 }, () => {
  let azurite: AzuriteInstance;
  let clients: Clients;
  let settings: Settings;
  let lake: ContainerClient;
  let backupContainer: ContainerClient;
  const container = "lake-server";

  /** Sees every request of the backup client while a test sets it (see holdFirstWrites). */
  let writeHook: ((request: PipelineRequest, next: SendRequest) => Promise<PipelineResponse>) | undefined;

  before(async () => {
    azurite = await startAzurite();
    settings = loadSettings({ ...azurite.settings });
    clients = createClients(settings);
    addPipelinePolicy(clients.backup.service, { name: "race-barrier", sendRequest: (request, next) => (writeHook ?? ((r, n) => n(r)))(request, next) });
    lake = clients.source.service.getContainerClient(container);
    await lake.create();
    backupContainer = clients.backup.service.getContainerClient(container);
  });
  afterEach(() => (writeHook = undefined));
  after(async () => azurite.stop());

  const prepare = async (request: BackupRequest) => createPrepareBlobBackupActivity({ ...clients, settings })({ request });
  const ready = async (request: BackupRequest): Promise<SourceVersion> => {
    const r = await prepare(request);
    assert.equal(r.kind, "ready", JSON.stringify(r));
    return (r as { version: SourceVersion }).version;
  };
  const copy = (version: SourceVersion, using: Clients = clients, s: Settings = settings, options = DEFAULT_SERVER_COPY_OPTIONS) =>
    createCopyBlobServerSideActivity({ ...using, settings: s }, options)({ version, copiedAt: new Date().toISOString(), requestId: randomUUID() });
  const verify = (version: SourceVersion) => createVerifyBlobBackupActivity({ backup: clients.backup, settings })({ version });
  const req = (name: string, v: Parameters<typeof requestFor>[3]) => requestFor(clients.source.accountName, container, name, v);
  /**
   * Holds the first write of each of two copies to the backup blob `name` (Put Blob From URL, told apart by the
   * backup_source_etag they write) until both are in flight, then sends the one of `firstEtag` and, once it has been
   * answered, the other. Records which writes were held and what each write was answered.
   */
  function holdFirstWrites(name: string, firstEtag: string) {
    const held: string[] = [];
    const answers: { etag: string; status: number }[] = [];
    const gates = new Map<string, () => void>();
    let firstDone: () => void = () => undefined;
    const firstAnswered = new Promise<void>((resolve) => (firstDone = resolve));
    writeHook = async (request, next) => {
      const url = new URL(request.url);
      const isWrite = request.method === "PUT" && url.pathname.endsWith(`/${name}`) && !url.searchParams.has("comp") && request.headers.has("x-ms-copy-source");
      const etag = request.headers.get(`x-ms-meta-${BackupMetadata.etag}`) ?? "";
      if (isWrite && !held.includes(etag) && held.length < 2) {
        held.push(etag);
        const released = new Promise<void>((resolve) => gates.set(etag, resolve));
        if (held.length === 2) {
          gates.get(firstEtag)?.();
          void firstAnswered.then(() => gates.get(held.find((e) => e !== firstEtag) ?? "")?.());
        }
        // A copy that never reaches its write must fail the test, not hang it.
        await Promise.race([released, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
      }
      const response = await next(request);
      if (isWrite) {
        answers.push({ etag, status: response.status });
        if (etag === firstEtag) firstDone();
      }
      return response;
    };
    return { held, answers };
  }

  const historyOf = async (name: string) => {
    const entries = [];
    for await (const b of backupContainer.listBlobsFlat({ prefix: name, includeSnapshots: true, includeMetadata: true })) if (b.name === name) entries.push(b);
    return entries;
  };

  it("the lake's user metadata stays out of prepare's result (the orchestration history) and still reaches the backup", async () => {
    const v = await writeAndSnapshot(lake, "private-metadata.txt", "content", { owner: "team-secret-a" });
    const r = await prepare(req("private-metadata.txt", v));
    assert.equal(r.kind, "ready");
    assert.doesNotMatch(JSON.stringify(r), /team-secret-a/);
    const version = (r as { version: SourceVersion }).version;
    assert.equal((await copy(version)).kind, "copied");
    const p = await backupContainer.getBlobClient("private-metadata.txt").getProperties();
    assert.equal(p.metadata?.owner, "team-secret-a");
    assert.equal(p.metadata?.[BackupMetadata.etag], v.etag);
  });

  it("source metadata that cannot fit beside the backup's record (8 KiB in all): prepare fails the backup saying so, nothing is written", async () => {
    // 8,000 bytes of the source's own metadata: Azure would take it on the source, but not with our record beside it.
    const v = await writeAndSnapshot(lake, "fat-metadata.txt", "small content", { notes: "n".repeat(7_990) });
    const r = await prepare(req("fat-metadata.txt", v));
    assert.equal(r.kind, "failed", JSON.stringify(r));
    assert.match((r as { reason: string }).reason, /^the source blob's metadata \(7995 bytes of names and values\) does not fit beside the backup's own record: \d+ bytes in all, the service allows 8192/);
    assert.equal(await backupContainer.getBlobClient("fat-metadata.txt").exists(), false);
  });

  it("copies a snapshot into the backup account with the backup_source_* metadata and verifies it", async () => {
    const v = await writeAndSnapshot(lake, "a/one.txt", "first version", { owner: "team-a" });
    const version = await ready(req("a/one.txt", v));
    assert.deepEqual(await copy(version), { kind: "copied", bytes: v.contentLength });
    const verified = await verify(version);
    assert.equal(verified.kind, "verified", JSON.stringify(verified));
    const p = await backupContainer.getBlobClient("a/one.txt").getProperties();
    assert.equal(p.metadata?.[BackupMetadata.etag], v.etag);
    assert.equal(p.metadata?.[BackupMetadata.snapshot], v.snapshot);
    assert.equal(p.metadata?.[BackupMetadata.account], clients.source.accountName);
    assert.equal(p.metadata?.[BackupMetadata.lastModified], version.lastModified);
    assert.equal(p.metadata?.[BackupMetadata.engine], "server");
    assert.ok(p.metadata?.[BackupMetadata.contentMd5]);
    assert.equal(p.metadata?.owner, "team-a");
    assert.equal(p.contentType, "text/plain");
    assert.equal((await backupContainer.getBlobClient("a/one.txt").downloadToBuffer()).toString(), "first version");
  });

  it("keeps the previous backup as a snapshot of the backup blob when a second version arrives", async () => {
    const v1 = await writeAndSnapshot(lake, "hist.txt", "v1");
    assert.equal((await copy(await ready(req("hist.txt", v1)))).kind, "copied");
    await afterSecondOf(v1.lastModified);
    const v2 = await writeAndSnapshot(lake, "hist.txt", "v2 longer");
    assert.equal((await copy(await ready(req("hist.txt", v2)))).kind, "copied");
    const entries = await historyOf("hist.txt");
    const snapshots = entries.filter((e) => e.snapshot);
    const base = entries.find((e) => !e.snapshot);
    assert.equal(snapshots.length, 1);
    assert.equal(snapshots[0]?.metadata?.[BackupMetadata.etag], v1.etag);
    assert.equal(base?.metadata?.[BackupMetadata.etag], v2.etag);
  });

  it("treats a duplicate request as done: no second copy, no extra history snapshot", async () => {
    const v = await writeAndSnapshot(lake, "dup.txt", "once");
    const version = await ready(req("dup.txt", v));
    assert.equal((await copy(version)).kind, "copied");
    const again = await prepare(req("dup.txt", v));
    assert.deepEqual(again, { kind: "skipped", reason: "the backup already holds this version" });
    // Even a copy that slipped past prepare (two deliveries at once) does not write again.
    assert.equal((await copy(version)).kind, "skipped");
    assert.equal((await historyOf("dup.txt")).length, 1);
  });

  it("never lets an older version overwrite a newer backup (out-of-order delivery ends on the newer)", async () => {
    const v1 = await writeAndSnapshot(lake, "order.txt", "old");
    await afterSecondOf(v1.lastModified);
    const v2 = await writeAndSnapshot(lake, "order.txt", "new");
    const old = await ready(req("order.txt", v1));
    const newer = await ready(req("order.txt", v2));
    assert.equal((await copy(newer)).kind, "copied");
    assert.match(JSON.stringify(await prepare(req("order.txt", v1))), /superseded/);
    const late = await copy(old);
    assert.equal(late.kind, "skipped");
    assert.match((late as { reason: string }).reason, /superseded/);
    assert.equal((await backupContainer.getBlobClient("order.txt").downloadToBuffer()).toString(), "new");
  });

  for (const first of ["older", "newer"] as const) {
    it(`two copies of two versions racing for the backup blob end on the newer one (the ${first} writes first)`, async () => {
      const name = `race-${first}.txt`;
      const v1 = await writeAndSnapshot(lake, name, "r1");
      await afterSecondOf(v1.lastModified);
      const v2 = await writeAndSnapshot(lake, name, "r2 newer");
      const [a, b] = await Promise.all([ready(req(name, v1)), ready(req(name, v2))]);
      // Both copies read the backup blob (absent) and decide to write before either writes: the barrier holds each
      // write until both are in flight, then lets `first` through alone, and the other after it has landed.
      const writes = holdFirstWrites(name, first === "older" ? v1.etag : v2.etag);
      const [ra, rb] = await Promise.all([copy(a), copy(b)]);
      assert.deepEqual(writes.held.sort(), [v1.etag, v2.etag].sort(), "both writes were in flight at once");
      const loser = first === "older" ? v2.etag : v1.etag;
      assert.deepEqual(writes.answers.find((w) => w.etag === loser)?.status, 409, "the second write was refused: the blob exists now");
      if (first === "older") {
        // The newer copy read again, kept the older version as a history snapshot, and overwrote it.
        assert.deepEqual([ra.kind, rb.kind], ["copied", "copied"]);
        const snapshots = (await historyOf(name)).filter((e) => e.snapshot);
        assert.deepEqual(snapshots.map((e) => e.metadata?.[BackupMetadata.etag]), [v1.etag]);
      } else {
        // The older copy read again, found the newer version, and stepped back.
        assert.equal(rb.kind, "copied");
        assert.equal(ra.kind, "skipped");
        assert.match((ra as { reason: string }).reason, /superseded/);
      }
      const p = await backupContainer.getBlobClient(name).getProperties();
      assert.equal(p.metadata?.[BackupMetadata.etag], v2.etag);
      assert.equal((await backupContainer.getBlobClient(name).downloadToBuffer()).toString(), "r2 newer");
    });
  }

  it("skips a stale live request (the live blob changed and there is no snapshot)", async () => {
    const v = await writeLive(lake, "live.txt", "before");
    await writeLive(lake, "live.txt", "after");
    const r = await prepare(req("live.txt", v));
    assert.equal(r.kind, "skipped");
    assert.match((r as { reason: string }).reason, /stale/);
  });

  it("copies a current live request pinned by its ETag", async () => {
    const v = await writeLive(lake, "live2.txt", "current");
    const version = await ready(req("live2.txt", v));
    assert.equal((await copy(version)).kind, "copied");
    assert.equal((await verify(version)).kind, "verified");
  });

  it("reports a verification failure when the backup does not hold the copied bytes", async () => {
    const v = await writeAndSnapshot(lake, "tampered.txt", "genuine content");
    const version = await ready(req("tampered.txt", v));
    await copy(version);
    const target = backupContainer.getBlockBlobClient("tampered.txt");
    const metadata = (await target.getProperties()).metadata ?? {};
    await target.uploadData(Buffer.from("GENUINE CONTENT"), { metadata });
    const r = await verify(version);
    assert.equal(r.kind, "mismatch");
    assert.match((r as { reason: string }).reason, /MD5/);
  });

  it("leases: acquire is idempotent for our id, busy for another, renew and release work, release twice is harmless", async () => {
    await writeLive(lake, "leased.txt", "x");
    const lease = { container, blob: "leased.txt", leaseId: randomUUID() };
    const acquire = createAcquireBlobLeaseActivity({ source: clients.source, settings });
    assert.deepEqual(await acquire(lease), { kind: "acquired" });
    assert.deepEqual(await acquire(lease), { kind: "acquired" });
    const other = await acquire({ ...lease, leaseId: randomUUID() });
    assert.equal(other.kind, "busy");
    assert.deepEqual(await createRenewBlobLeaseActivity(clients)(lease), { kind: "renewed" });
    assert.deepEqual(await createReleaseBlobLeaseActivity(clients)(lease), { kind: "released" });
    assert.equal((await lake.getBlobClient("leased.txt").getProperties()).leaseState, "available");
    assert.equal((await createReleaseBlobLeaseActivity(clients)(lease)).kind, "notHeld");
    assert.equal((await createRenewBlobLeaseActivity(clients)(lease)).kind, "lost");
  });

  /** The app's clients, built afresh with `policies` in the backup account's pipeline (retries off when asked). */
  function backupWith(policies: readonly PipelinePolicy[], options: { sdkRetries?: boolean } = {}): Clients {
    const fresh = createClients(settings);
    const service =
      options.sdkRetries === false ? BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage, { retryOptions: { maxTries: 1 } }) : fresh.backup.service;
    for (const policy of policies) addPipelinePolicy(service, policy);
    return { ...fresh, backup: { ...fresh.backup, service } };
  }

  it("recognises its own copy when the write's answer was lost: Copied, not Skipped", async () => {
    const v = await writeAndSnapshot(lake, "lost-answer.txt", "landed, answer lost");
    const version = await ready(req("lost-answer.txt", v));
    const lose = loseAnswers(isCopyWrite);
    // The SDK retries the reset connection; the retry finds the blob already written (by this very request).
    assert.deepEqual(await copy(version, backupWith([lose])), { kind: "copied", bytes: v.contentLength });
    assert.equal(lose.lost(), 1, "the first answer was lost after the write landed");
    assert.equal((await verify(version)).kind, "verified");
    assert.equal((await historyOf("lost-answer.txt")).length, 1, "no second write, no history snapshot");
  });

  it("a block-wise copy does not copy the source's recorded Content-MD5: verification hashes the bytes", async () => {
    const name = "staged-md5.txt";
    const blob = lake.getBlockBlobClient(name);
    await blob.uploadData(Buffer.from("the bytes as they are"));
    // A Content-MD5 property that does not describe the content (the service stores whatever it is given).
    await blob.setHTTPHeaders({ blobContentMD5: createHash("md5").update("other bytes").digest() });
    const snap = await blob.createSnapshot();
    const p = await blob.withSnapshot(snap.snapshot ?? "").getProperties();
    const version = await ready(req(name, { etag: p.etag ?? "", lastModified: (p.lastModified ?? new Date()).toISOString(), snapshot: snap.snapshot ?? "", contentLength: p.contentLength ?? 0 }));
    const blockWise = { ...DEFAULT_SERVER_COPY_OPTIONS, syncCopyMaxBytes: 8, blockBytes: 8 };
    assert.equal((await copy(version, clients, settings, blockWise)).kind, "copied");
    assert.equal((await backupContainer.getBlobClient(name).getProperties()).contentMD5, undefined, "no MD5 taken from the record");
    const verified = await verify(version);
    assert.equal(verified.kind, "mismatch", JSON.stringify(verified));
    assert.match((verified as { reason: string }).reason, /MD5 of the content/);
  });

  it("asks the service to check the copied bytes against the source's Content-MD5", async () => {
    const v = await writeAndSnapshot(lake, "md5-header.txt", "checked in transit");
    const version = await ready(req("md5-header.txt", v));
    const sent: (string | undefined)[] = [];
    const spy: PipelinePolicy = {
      name: "spy",
      sendRequest(request, next) {
        if (isCopyWrite(request)) sent.push(request.headers.get("x-ms-source-content-md5"));
        return next(request);
      },
    };
    assert.equal((await copy(version, backupWith([spy]))).kind, "copied");
    assert.deepEqual(sent, [version.contentMd5]);
  });

  describe("BACKUP_HISTORY=versioning (Azurite has no versioning: the version id is added to its answers)", () => {
    let versioned: Settings;
    before(() => {
      versioned = loadSettings({ ...azurite.settings, BACKUP_HISTORY: "versioning" });
    });
    const versionIds = (r: { url: string }): Record<string, string> => ({ "x-ms-version-id": `${Date.now()}-${new URL(r.url).pathname}` });

    it("fails with a clear reason when the write answers without a version id (versioning off on the backup account)", async () => {
      const v = await writeAndSnapshot(lake, "unversioned.txt", "v1");
      const r = await copy(await ready(req("unversioned.txt", v)), clients, versioned);
      assert.equal(r.kind, "failed");
      assert.match((r as { reason: string }).reason, /BACKUP_HISTORY=versioning.*no version id.*Enable versioning on the backup account/);
    });

    it("keeps no snapshot when versioning keeps the previous version", async () => {
      const withVersions = backupWith([addAnswerHeaders((r) => isCopyWrite(r) || isHead(r), versionIds)]);
      const v1 = await writeAndSnapshot(lake, "versioned.txt", "v1");
      assert.equal((await copy(await ready(req("versioned.txt", v1)), withVersions, versioned)).kind, "copied");
      await afterSecondOf(v1.lastModified);
      const v2 = await writeAndSnapshot(lake, "versioned.txt", "v2");
      assert.equal((await copy(await ready(req("versioned.txt", v2)), withVersions, versioned)).kind, "copied");
      assert.equal((await historyOf("versioned.txt")).length, 1, "no snapshot: the account's versioning keeps v1");
    });

    it("keeps a backup blob written without a version id as a snapshot before overwriting it", async () => {
      const v1 = await writeAndSnapshot(lake, "pre-versioning.txt", "v1");
      assert.equal((await copy(await ready(req("pre-versioning.txt", v1)))).kind, "copied");
      await afterSecondOf(v1.lastModified);
      const v2 = await writeAndSnapshot(lake, "pre-versioning.txt", "v2");
      // Only the new write carries a version id: the blob it overwrites has none.
      const writesVersioned = backupWith([addAnswerHeaders(isCopyWrite, versionIds)]);
      assert.equal((await copy(await ready(req("pre-versioning.txt", v2)), writesVersioned, versioned)).kind, "copied");
      const snapshots = (await historyOf("pre-versioning.txt")).filter((e) => e.snapshot);
      assert.deepEqual(snapshots.map((e) => e.metadata?.[BackupMetadata.etag]), [v1.etag]);
    });
  });

  describe("a copy source the service cannot verify (CannotVerifyCopySource carries the source's status)", () => {
    const copyAnswered = async (status: number) => {
      const v = await writeAndSnapshot(lake, `cannot-verify-${status}.txt`, "x");
      return copy(await ready(req(`cannot-verify-${status}.txt`, v)), backupWith([answerWith(isCopyWrite, status, "CannotVerifyCopySource")], { sdkRetries: false }));
    };

    it("throws on 500, the documented status, so the durable retry tries again", async () => {
      await assert.rejects(copyAnswered(500), (err: Error & { statusCode?: number }) => err.statusCode === 500);
    });

    it("skips a source version that no longer exists (404)", async () => {
      const r = await copyAnswered(404);
      assert.equal(r.kind, "skipped");
      assert.match((r as { reason: string }).reason, /no longer exists/);
    });

    it("fails with the status when the source may not be read (403)", async () => {
      const r = await copyAnswered(403);
      assert.equal(r.kind, "failed");
      assert.match((r as { reason: string }).reason, /not readable \(HTTP 403\)/);
    });
  });

  it("copies and verifies a 300 MiB blob by staged blocks from URL", { timeout: 300_000 }, async () => {
    const name = "big/300mib.bin";
    const blob = lake.getBlockBlobClient(name);
    const blockBytes = 8 * 1024 * 1024;
    const blocks = Math.ceil(300 / 8); // 37 full blocks of 8 MiB + one of 4 MiB
    const sourceHash = createHash("md5");
    const ids: string[] = [];
    const seed = randomBytes(blockBytes);
    // Generate block by block (no 300 MiB buffer); each block differs so a misplaced range would be caught.
    for (let i = 0; i < blocks; i++) {
      const size = i === blocks - 1 ? 300 * 1024 * 1024 - i * blockBytes : blockBytes;
      const data = Buffer.from(seed.subarray(0, size));
      data.writeUInt32BE(i, 0);
      sourceHash.update(data);
      const id = Buffer.from(`block-${String(i).padStart(6, "0")}`).toString("base64");
      ids.push(id);
      await blob.stageBlock(id, data, data.length);
    }
    await blob.commitBlockList(ids, { blobHTTPHeaders: { blobContentType: "application/octet-stream" } });
    const snap = await blob.createSnapshot();
    const p = await blob.withSnapshot(snap.snapshot ?? "").getProperties();
    assert.equal(p.contentLength, 300 * 1024 * 1024);
    const version = await ready(
      req(name, { etag: p.etag ?? "", lastModified: (p.lastModified ?? new Date()).toISOString(), snapshot: snap.snapshot ?? "", contentLength: p.contentLength ?? 0 }),
    );
    assert.deepEqual(await copy(version), { kind: "copied", bytes: 300 * 1024 * 1024 });
    assert.equal((await verify(version)).kind, "verified");
    const backupHash = createHash("md5");
    const download = await backupContainer.getBlobClient(name).download();
    for await (const chunk of download.readableStreamBody ?? []) backupHash.update(chunk as Buffer);
    assert.equal(backupHash.digest("hex"), sourceHash.digest("hex"));
    const bp = await backupContainer.getBlobClient(name).getProperties();
    assert.equal(bp.contentType, "application/octet-stream");
    assert.equal(bp.metadata?.[BackupMetadata.etag], p.etag);
  });
});
