/**
 * A large copy in steps (engine `server`), its activities against Azurite through the fault proxy, which counts every
 * Put Block From URL (`copy` requests): a step that dies after a few blocks is retried and sends only the ranges still
 * missing (read from the uncommitted block list), the commit assembles the version and verification checks the
 * committed blocks; a commit that finds its blocks discarded says so; a live source that changes between steps is
 * stale. Small blocks (1 MiB, a 10.5 MiB blob) stand in for the 64 MiB+ blocks of a real large copy.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";

import type { ContainerClient } from "@azure/storage-blob";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { createCommitBackupBlocksActivity } from "../../src/activities/commit-backup-blocks";
import { createPrepareBlobBackupActivity } from "../../src/activities/prepare-blob-backup";
import { createStageBackupBlocksActivity } from "../../src/activities/stage-backup-blocks";
import { createVerifyBlobBackupActivity } from "../../src/activities/verify-blob-backup";
import { type Clients, createClients } from "../../src/config/clients";
import { loadSettings, type Settings } from "../../src/config/settings";
import { runMarkerName, STAGING_CONTAINER } from "../../src/copy/adf-pipeline";
import { DEFAULT_SERVER_COPY_OPTIONS, type ServerCopyOptions } from "../../src/copy/server-copy";
import { BackupMetadata, type BlobBackupPlan, type SourceVersion } from "../../src/domain/blob-backup";
import type { BlockLayout } from "../../src/domain/block-layout";
import { sourceReadUrl } from "../../src/storage/source-sas";
import { requestFor, type Version } from "../support/blob-backup-fixtures";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy";
import { addPipelinePolicy } from "../support/scan-fixtures";

const MiB = 1024 * 1024;
const SIZE = 10 * MiB + 512 * 1024;
const options: ServerCopyOptions = { ...DEFAULT_SERVER_COPY_OPTIONS, syncCopyMaxBytes: MiB, blockBytes: MiB, parallelism: 2 };

describe("blob backup, a large copy in steps (activities against Azurite through the fault proxy)", { timeout: 300_000 }, () => {
  let azurite: AzuriteInstance;
  let proxy: FaultProxy;
  let clients: Clients;
  let settings: Settings;
  let lake: ContainerClient;
  let backupContainer: ContainerClient;
  const container = "lake-steps";
  /** When set, sees every answered request of the backup client (and may throw, as a dying activity would). */
  let onBackupAnswer: ((url: URL, status: number) => void) | undefined;

  before(async () => {
    azurite = await startAzurite();
    proxy = await startFaultProxy(azurite, { seed: 13 });
    settings = loadSettings(proxy.throughProxy({ ...azurite.settings }));
    clients = createClients(settings);
    addPipelinePolicy(clients.backup.service, {
      name: "observe-backup",
      async sendRequest(request, next) {
        const response = await next(request);
        onBackupAnswer?.(new URL(request.url), response.status);
        return response;
      },
    });
    lake = clients.source.service.getContainerClient(container);
    await lake.create();
    backupContainer = clients.backup.service.getContainerClient(container);
  });
  after(async () => {
    await proxy.stop();
    await azurite.stop();
  });

  /** A source blob whose every MiB differs, so a misplaced range would show in the hash. */
  async function writeSource(name: string, snapshot: boolean): Promise<{ version: Version; md5: string }> {
    const data = randomBytes(SIZE);
    for (let at = 0; at < SIZE; at += MiB) data.writeUInt32BE(at / MiB, at);
    const blob = lake.getBlockBlobClient(name);
    const written = await blob.uploadData(data, { blockSize: 4 * MiB, blobHTTPHeaders: { blobContentType: "application/octet-stream" } });
    const md5 = createHash("md5").update(data).digest("base64");
    if (!snapshot) return { version: { etag: written.etag ?? "", lastModified: (written.lastModified ?? new Date()).toISOString(), contentLength: SIZE }, md5 };
    const snap = await blob.createSnapshot();
    const p = await blob.withSnapshot(snap.snapshot ?? "").getProperties();
    return { version: { etag: p.etag ?? "", lastModified: (p.lastModified ?? new Date()).toISOString(), snapshot: snap.snapshot ?? "", contentLength: SIZE }, md5 };
  }

  async function prepare(name: string, v: Version): Promise<{ version: SourceVersion; layout: BlockLayout }> {
    const r = await createPrepareBlobBackupActivity({ ...clients, settings }, options)({ request: requestFor(clients.source.accountName, container, name, v) });
    assert.equal(r.kind, "ready", JSON.stringify(r));
    const { version, plan } = r as { version: SourceVersion; plan: BlobBackupPlan };
    assert.ok(plan.blocks !== undefined, "above the sync-copy limit the plan copies in steps");
    return { version, layout: plan.blocks };
  }

  const stage = (version: SourceVersion, layout: BlockLayout) => createStageBackupBlocksActivity({ ...clients, settings }, options)({ version, layout });
  const commit = (version: SourceVersion, layout: BlockLayout, requestId = randomUUID()) =>
    createCommitBackupBlocksActivity({ ...clients, settings })({ version, layout, copiedAt: new Date().toISOString(), requestId });
  const verify = (version: SourceVersion, layout: BlockLayout) => createVerifyBlobBackupActivity({ backup: clients.backup, settings })({ version, layout });
  const copyRequests = () => proxy.counts().copy.requests;
  const uncommitted = async (name: string) => (await backupContainer.getBlockBlobClient(name).getBlockList("uncommitted")).uncommittedBlocks ?? [];
  const md5Of = async (name: string) => {
    const hash = createHash("md5");
    for await (const chunk of (await backupContainer.getBlobClient(name).download()).readableStreamBody ?? []) hash.update(chunk as Buffer);
    return hash.digest("base64");
  };

  it("a step that dies after four blocks is retried and sends only the missing ranges; the commit and verification follow", async () => {
    const name = "big/killed-mid-way.bin";
    const source = await writeSource(name, true);
    const { version, layout } = await prepare(name, source.version);
    assert.deepEqual(layout, { blockBytes: MiB, count: 11 });

    // The first attempt dies (as a killed worker would) once four blocks were answered.
    let answered = 0;
    onBackupAnswer = (url, status) => {
      if (url.searchParams.get("comp") === "block" && status === 201 && ++answered === 4) throw new Error("the worker died");
    };
    const before1 = copyRequests();
    await assert.rejects(stage(version, layout), /the worker died/);
    onBackupAnswer = undefined;
    const sentFirst = copyRequests() - before1;
    const staged = await uncommitted(name);
    assert.ok(staged.length >= 4 && staged.length < layout.count, `${staged.length} blocks staged by the attempt that died`);
    assert.equal(sentFirst, staged.length, "every range the first attempt sent was staged (no request left running)");

    // Its retry finds those blocks and sends the rest only.
    const before2 = copyRequests();
    const result = await stage(version, layout);
    assert.deepEqual(result, { kind: "staged", staged: layout.count - staged.length, alreadyStaged: staged.length, remaining: 0 });
    assert.equal(copyRequests() - before2, layout.count - staged.length, "no staged range sent again");

    // A third call (e.g. after a host restart) finds everything staged and sends nothing.
    const before3 = copyRequests();
    assert.deepEqual(await stage(version, layout), { kind: "staged", staged: 0, alreadyStaged: layout.count, remaining: 0 });
    assert.equal(copyRequests(), before3);

    assert.deepEqual(await commit(version, layout), { kind: "copied", bytes: SIZE });
    const verified = await verify(version, layout);
    assert.equal(verified.kind, "verified", JSON.stringify(verified));
    assert.match((verified as { note: string }).note, /11 committed blocks of this version/);
    assert.equal(await md5Of(name), source.md5, "the backup holds the source's bytes in order");
    const p = await backupContainer.getBlobClient(name).getProperties();
    assert.equal(p.metadata?.[BackupMetadata.etag], version.etag);
    assert.equal(p.contentType, "application/octet-stream");
  });

  it("a commit whose staged blocks were discarded (another write committed the blob) answers incomplete; staging again completes it", async () => {
    const name = "big/discarded.bin";
    const source = await writeSource(name, true);
    const { version, layout } = await prepare(name, source.version);
    assert.equal((await stage(version, layout)).kind, "staged");
    // Put Block List discards every uncommitted block it does not name ("Any blocks not specified in the block list
    // are permanently deleted", Put Block List reference): another writer's commit.
    const other = backupContainer.getBlockBlobClient(name);
    const otherId = Buffer.from("someone-else-writes-000").toString("base64");
    await other.stageBlock(otherId, Buffer.from("someone else's write"), 20);
    await other.commitBlockList([otherId]);
    assert.deepEqual(await uncommitted(name), []);
    const requestId = randomUUID();
    assert.equal((await commit(version, layout, requestId)).kind, "incomplete");
    assert.deepEqual(await stage(version, layout), { kind: "staged", staged: layout.count, alreadyStaged: 0, remaining: 0 });
    assert.deepEqual(await commit(version, layout, requestId), { kind: "copied", bytes: SIZE });
    assert.equal((await verify(version, layout)).kind, "verified");
    assert.equal(await md5Of(name), source.md5);
  });

  it("a live source that changes between steps: the next step and the commit answer stale, nothing is committed", async () => {
    const name = "big/live.bin";
    const source = await writeSource(name, false);
    const { version, layout } = await prepare(name, source.version);
    assert.equal((await stage(version, layout)).kind, "staged");
    await lake.getBlockBlobClient(name).upload("a new version", 13);
    const stepped = await stage(version, layout);
    assert.equal(stepped.kind, "skipped");
    assert.match((stepped as { reason: string }).reason, /^stale/);
    const committed = await commit(version, layout);
    assert.equal(committed.kind, "skipped");
    assert.match((committed as { reason: string }).reason, /^stale/);
    assert.equal(await backupContainer.getBlobClient(name).exists(), false);
  });

  it("verification refuses a backup blob whose committed blocks are not the copy's", async () => {
    const name = "big/foreign-blocks.bin";
    const source = await writeSource(name, true);
    const { version, layout } = await prepare(name, source.version);
    assert.equal((await stage(version, layout)).kind, "staged");
    assert.equal((await commit(version, layout)).kind, "copied");
    // Same length and metadata, other blocks: what a copy of another layout (or a tampered blob) would leave.
    const blob = backupContainer.getBlockBlobClient(name);
    const p = await blob.getProperties();
    await blob.uploadData(Buffer.alloc(SIZE), { metadata: p.metadata ?? {}, blockSize: 4 * MiB });
    const verified = await verify(version, layout);
    assert.equal(verified.kind, "mismatch", JSON.stringify(verified));
  });

  it("engine adf: the blob a run staged moves into place in steps, with the backup's metadata; staging and marker removed", async () => {
    const name = "big/adf-staged.bin";
    const source = await writeSource(name, true);
    const { version, layout } = await prepare(name, source.version);
    // What a Succeeded run leaves: the version's bytes in STAGING_CONTAINER/<requestId>, and the run marker.
    const requestId = randomUUID();
    const staging = clients.backup.service.getContainerClient(STAGING_CONTAINER);
    await staging.createIfNotExists();
    const lakeUrl = await sourceReadUrl(clients.source, container, name, version.snapshot, new Date(Date.now() + 600_000));
    await staging.getBlockBlobClient(requestId).syncCopyFromURL(lakeUrl);
    await staging.getBlockBlobClient(runMarkerName(requestId)).upload("", 0);

    const before = copyRequests();
    const stepInput = { version, layout, from: "adfStaging", requestId };
    assert.deepEqual(await createStageBackupBlocksActivity({ ...clients, settings }, options)(stepInput), {
      kind: "staged",
      staged: layout.count,
      alreadyStaged: 0,
      remaining: 0,
    });
    assert.equal(copyRequests() - before, layout.count);
    const committed = await createCommitBackupBlocksActivity({ ...clients, settings })({ version, layout, from: "adfStaging", copiedAt: new Date().toISOString(), requestId });
    assert.deepEqual(committed, { kind: "copied", bytes: SIZE });
    assert.equal((await verify(version, layout)).kind, "verified");
    assert.equal(await md5Of(name), source.md5);
    assert.equal((await backupContainer.getBlobClient(name).getProperties()).metadata?.[BackupMetadata.engine], "adf");
    assert.equal(await staging.getBlobClient(requestId).exists(), false, "staging blob removed");
    assert.equal(await staging.getBlobClient(runMarkerName(requestId)).exists(), false, "run marker removed");
  });
});
