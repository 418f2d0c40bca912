/**
 * The `adf` copy engine's activities against the HTTPS fake of ARM Data Factory and Azurite: the real
 * @azure/arm-datafactory client and the real credential chain (DefaultAzureCredential → ManagedIdentityCredential via
 * IDENTITY_ENDPOINT), every fault the engine must turn into a documented outcome.
 *
 * This process trusts the fake's certificate through `tlsOptions.ca` on the client it builds; the end-to-end test
 * (blob-backup-adf-host.test.ts) runs the app in a child process with NODE_EXTRA_CA_CERTS instead.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";

import { DataFactoryManagementClient } from "@azure/arm-datafactory";
import { DefaultAzureCredential } from "@azure/identity";
import type { ContainerClient } from "@azure/storage-blob";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { createCancelAdfCopyRunActivity } from "../../src/activities/cancel-adf-copy-run";
import { createCommitAdfStagedCopyActivity } from "../../src/activities/commit-adf-staged-copy";
import { createGetAdfCopyRunActivity } from "../../src/activities/get-adf-copy-run";
import { createPrepareBlobBackupActivity } from "../../src/activities/prepare-blob-backup";
import { createStartAdfCopyRunActivity } from "../../src/activities/start-adf-copy-run";
import { createVerifyBlobBackupActivity } from "../../src/activities/verify-blob-backup";
import { type Clients, createClients } from "../../src/config/clients";
import type { AdfSettings, Settings } from "../../src/config/settings";
import { loadSettings } from "../../src/config/settings";
import { STAGING_CONTAINER } from "../../src/copy/adf-pipeline";
import { BackupMetadata, type SourceVersion } from "../../src/domain/blob-backup";
import type { GetAdfRunResult, StartAdfCopyResult } from "../../src/domain/blob-backup-activities";
import { makeSelfSignedCert, type SelfSignedCert } from "../support/adf-fake/cert";
import { type AdfFake, FAKE_FACTORY, startAdfFake } from "../support/adf-fake/fake";
import { requestFor, writeAndSnapshot, writeLive } from "../support/blob-backup-fixtures";
import { afterSecondOf, waitFor } from "../support/wait-for";

const ADF: Omit<AdfSettings, "endpoint"> = FAKE_FACTORY;

describe("blob backup, adf engine (activities against the ARM fake and Azurite)", { timeout: 600_000 }, () => {
  let azurite: AzuriteInstance;
  let cert: SelfSignedCert;
  let fake: AdfFake;
  let clients: Clients;
  let appSettings: Settings;
  let adf: DataFactoryManagementClient;
  let settings: AdfSettings;
  let lake: ContainerClient;
  const container = "lake-adf";

  before(async () => {
    azurite = await startAzurite();
    cert = makeSelfSignedCert();
    fake = await startAdfFake({
      ...ADF,
      cert: cert.cert,
      key: cert.key,
      sourceConnectionString: azurite.settings.SourceStorage,
      backupConnectionString: azurite.settings.BackupStorage,
      queuedMs: 50,
      runMs: 150,
    });
    // The credential reads these when it is built: the fake plays App Service's managed identity endpoint.
    process.env.IDENTITY_ENDPOINT = fake.identityEndpoint;
    process.env.IDENTITY_HEADER = fake.identityHeader;
    appSettings = loadSettings({ ...azurite.settings });
    clients = createClients(appSettings);
    settings = { ...ADF, endpoint: fake.endpoint };
    adf = new DataFactoryManagementClient(new DefaultAzureCredential(), ADF.subscriptionId, {
      endpoint: fake.endpoint,
      credentialScopes: "https://management.azure.com/.default",
      retryOptions: { maxRetries: 0 },
      tlsOptions: { ca: cert.cert },
    });
    lake = clients.source.service.getContainerClient(container);
    await lake.create();
  });
  after(async () => {
    await fake.stop();
    await azurite.stop();
    cert.remove();
  });

  const deps = () => ({ source: clients.source, backup: clients.backup, adf, adfSettings: settings, settings: appSettings });
  async function versionOf(name: string, content: string, live = false): Promise<SourceVersion> {
    const v = live ? await writeLive(lake, name, content) : await writeAndSnapshot(lake, name, content, { origin: "adf-test" });
    const r = await createPrepareBlobBackupActivity({ ...clients, settings: appSettings })({ request: requestFor(clients.source.accountName, container, name, v) });
    assert.equal(r.kind, "ready");
    return (r as { version: SourceVersion }).version;
  }
  const start = (version: SourceVersion, requestId = randomUUID()): Promise<StartAdfCopyResult> =>
    createStartAdfCopyRunActivity(deps())({ version, copiedAt: new Date().toISOString(), requestId });
  const commit = (version: SourceVersion, runId: string) =>
    createCommitAdfStagedCopyActivity({ ...clients, settings: appSettings })({
      version,
      copiedAt: new Date().toISOString(),
      requestId: fake.runs.get(runId)?.parameters.requestId ?? "",
    });
  const verify = (version: SourceVersion) => createVerifyBlobBackupActivity({ backup: clients.backup, settings: appSettings })({ version });
  const get = (runId: string): Promise<GetAdfRunResult> => createGetAdfCopyRunActivity(deps())({ runId });
  const waitTerminal = (runId: string): Promise<GetAdfRunResult> =>
    waitFor(() => get(runId), { until: (r) => r.kind !== "run" || ["Succeeded", "Failed", "Cancelled"].includes(r.status), describe: `run ${runId} to end`, timeoutMs: 30_000 });
  const runIdOf = (r: StartAdfCopyResult): string => {
    assert.equal(r.kind, "started", JSON.stringify(r));
    return (r as { runId: string }).runId;
  };

  it("starts a run that copies the snapshot with the backup metadata, and the backup verifies", async () => {
    const version = await versionOf("adf/one.txt", "copied by the pipeline");
    const started = await start(version);
    const runId = runIdOf(started);
    assert.deepEqual(await waitTerminal(runId), { kind: "run", status: "Succeeded", message: "" });
    assert.deepEqual(await commit(version, runId), { kind: "copied", bytes: version.contentLength });
    assert.equal(await clients.backup.service.getContainerClient(STAGING_CONTAINER).getBlobClient(fake.runs.get(runId)?.parameters.requestId ?? "").exists(), false, "staging blob removed");
    const verified = await verify(version);
    assert.equal(verified.kind, "verified", JSON.stringify(verified));
    const p = await clients.backup.service.getContainerClient(container).getBlobClient("adf/one.txt").getProperties();
    assert.equal(p.metadata?.[BackupMetadata.engine], "adf");
    assert.equal(p.metadata?.[BackupMetadata.etag], version.etag);
    assert.equal(p.metadata?.origin, "adf-test");
    // The app sent a read SAS for the snapshot (the run copied through it) only in parameters the shipped pipeline
    // declares SecureString: nothing ADF shows of the run, nor the activity's result, carries the signature.
    const run = fake.runs.get(runId);
    const sent = new URL(run?.received.sourceSnapshotUrl ?? "http://absent");
    assert.ok(sent.searchParams.get("snapshot") && sent.searchParams.get("sig"), "a SAS URL of the snapshot was sent");
    assert.doesNotMatch(JSON.stringify(run?.parameters), /sig=/);
    assert.doesNotMatch(JSON.stringify(started), /sig=/);
    assert.ok(fake.calls.token >= 1, "the managed identity endpoint issued the bearer token");
  });

  it("copies a live blob (lease mode without a snapshot) through the Blob connector", async () => {
    const version = await versionOf("adf/live.txt", "live content", true);
    const runId = runIdOf(await start(version));
    assert.equal((await waitTerminal(runId)).kind, "run");
    assert.equal((await commit(version, runId)).kind, "copied");
    assert.equal((await verify(version)).kind, "verified");
  });

  it("two runs of two versions finishing in the wrong order: the backup ends on the newer one", async () => {
    const v1 = await versionOf("adf/order.txt", "older");
    await afterSecondOf(v1.lastModified);
    const v2 = await versionOf("adf/order.txt", "newer");
    const [run1, run2] = [runIdOf(await start(v1)), runIdOf(await start(v2))];
    await Promise.all([waitTerminal(run1), waitTerminal(run2)]);
    assert.equal((await commit(v2, run2)).kind, "copied");
    const late = await commit(v1, run1);
    assert.equal(late.kind, "skipped");
    assert.match((late as { reason: string }).reason, /superseded/);
    const backupBlob = clients.backup.service.getContainerClient(container).getBlobClient("adf/order.txt");
    assert.equal((await backupBlob.downloadToBuffer()).toString(), "newer");
  });

  it("a retried commit after a commit that already landed reports copied", async () => {
    const version = await versionOf("adf/recommit.txt", "once");
    const runId = runIdOf(await start(version));
    await waitTerminal(runId);
    assert.equal((await commit(version, runId)).kind, "copied");
    assert.equal((await commit(version, runId)).kind, "copied");
  });

  it("reports a Failed run with ADF's message", async () => {
    fake.nextRun({ outcome: "Failed", message: "ErrorCode=UserErrorSourceBlobNotExists, The required Blob is missing." });
    const runId = runIdOf(await start(await versionOf("adf/failed.txt", "x")));
    assert.deepEqual(await waitTerminal(runId), {
      kind: "run",
      status: "Failed",
      message: "ErrorCode=UserErrorSourceBlobNotExists, The required Blob is missing.",
    });
  });

  it("reports a run Cancelled elsewhere", async () => {
    fake.nextRun({ outcome: "Cancelled" });
    const runId = runIdOf(await start(await versionOf("adf/cancelled.txt", "x")));
    const r = await waitTerminal(runId);
    assert.equal(r.kind === "run" && r.status, "Cancelled");
  });

  it("cancels a hanging run", async () => {
    fake.nextRun({ outcome: "Hang" });
    const runId = runIdOf(await start(await versionOf("adf/hang.txt", "x")));
    await waitFor(() => fake.runs.get(runId)?.status, { until: (status) => status === "InProgress", describe: "the run to be in progress", timeoutMs: 10_000 });
    assert.deepEqual(await createCancelAdfCopyRunActivity(deps())({ runId }), { kind: "cancelled" });
    const r = await waitTerminal(runId);
    assert.equal(r.kind === "run" && r.status, "Cancelled");
  });

  it("turns 429 into a throttled outcome carrying Retry-After", async () => {
    fake.injectFault("createRun", { kind: "status", status: 429, retryAfterSeconds: 7 });
    const r = await start(await versionOf("adf/throttled.txt", "x"));
    assert.equal(r.kind, "throttled");
    assert.equal((r as { retryAfterSeconds: number }).retryAfterSeconds, 7);
  });

  it("throws on 5xx so the durable retry backs off, and the retry then starts one run", async () => {
    const version = await versionOf("adf/5xx.txt", "x");
    const requestId = randomUUID();
    fake.injectFault("createRun", { kind: "status", status: 503 });
    await assert.rejects(start(version, requestId), (err: Error & { statusCode?: number }) => err.statusCode === 503);
    const runId = runIdOf(await start(version, requestId));
    assert.equal([...fake.runs.values()].filter((r) => r.parameters.requestId === requestId).length, 1);
    assert.equal((await waitTerminal(runId)).kind, "run");
  });

  it("after a lost createRun response, the retry finds the run instead of starting a second", async () => {
    const version = await versionOf("adf/lost.txt", "x");
    const requestId = randomUUID();
    fake.injectFault("createRun", { kind: "loseResponse" });
    const createsBefore = fake.calls.createRun;
    await assert.rejects(start(version, requestId));
    const retried = await start(version, requestId);
    assert.equal(retried.kind, "started");
    assert.equal((retried as { reused: boolean }).reused, true);
    const runs = [...fake.runs.values()].filter((r) => r.parameters.requestId === requestId);
    assert.equal(runs.length, 1);
    assert.equal(runs[0]?.runId, (retried as { runId: string }).runId);
    assert.equal(fake.calls.createRun - createsBefore, 1, "the SDK did not retry createRun by itself");
  });

  it("starts a run without querying ARM when no earlier attempt started one, and reuses the run a retry finds on its marker", async () => {
    const version = await versionOf("adf/no-query.txt", "x");
    const requestId = randomUUID();
    const queriesBefore = fake.calls.query;
    const first = await start(version, requestId);
    assert.equal(fake.calls.query, queriesBefore, "no queryPipelineRuns on the common path");
    const again = await start(version, requestId);
    assert.deepEqual(again, { kind: "started", runId: runIdOf(first), reused: true });
    assert.equal(fake.calls.query, queriesBefore, "the marker named the run");
    assert.equal([...fake.runs.values()].filter((r) => r.parameters.requestId === requestId).length, 1);
  });

  it("queries ARM only for the runs updated since the lost attempt's marker was written", async () => {
    const version = await versionOf("adf/bounded.txt", "x");
    const requestId = randomUUID();
    fake.injectFault("createRun", { kind: "loseResponse" });
    await assert.rejects(start(version, requestId));
    const bodies = fake.queries.length;
    assert.equal((await start(version, requestId)).kind, "started");
    const query = fake.queries[bodies];
    assert.ok(query !== undefined && fake.queries.length === bodies + 1, "one lookup");
    const marker = await clients.backup.service.getContainerClient(STAGING_CONTAINER).getBlobClient(`${requestId}.run`).getProperties();
    assert.ok(Date.parse(query.lastUpdatedAfter) >= (marker.createdOn?.getTime() ?? 0) - 10 * 60_000 - 1000, "the window starts at the marker");
  });

  it("re-checks a live blob's ETag before starting the run (after the lease was taken)", async () => {
    const version = await versionOf("adf/live-changed-before.txt", "as requested", true);
    await writeLive(lake, "adf/live-changed-before.txt", "written since");
    const createsBefore = fake.calls.createRun;
    const r = await start(version);
    assert.equal(r.kind, "stale", JSON.stringify(r));
    assert.equal(fake.calls.createRun, createsBefore, "no run for a version that is gone");
  });

  it("re-checks a live blob's ETag after the run: a blob written meanwhile is not committed", async () => {
    const name = "adf/live-changed-during.txt";
    const version = await versionOf(name, "as requested", true);
    const runId = runIdOf(await start(version));
    await waitTerminal(runId);
    await writeLive(lake, name, "written during the run");
    const r = await commit(version, runId);
    assert.equal(r.kind, "skipped", JSON.stringify(r));
    assert.match((r as { reason: string }).reason, /stale/);
    assert.equal(await clients.backup.service.getContainerClient(container).getBlobClient(name).exists(), false);
  });

  it("fails fast with a clear reason on 403", async () => {
    fake.injectFault("createRun", { kind: "status", status: 403 });
    const r = await start(await versionOf("adf/403.txt", "x"));
    assert.equal(r.kind, "failed");
    assert.match((r as { reason: string }).reason, /HTTP 403.*createrun.*Data Factory Contributor/s);
  });

  it("fails fast with a clear reason on an unknown pipeline", async () => {
    const version = await versionOf("adf/404.txt", "x");
    const r = await createStartAdfCopyRunActivity({ ...deps(), adfSettings: { ...settings, pipeline: "NoSuchPipeline" } })({
      version,
      copiedAt: new Date().toISOString(),
      requestId: randomUUID(),
    });
    assert.equal(r.kind, "failed");
    assert.match((r as { reason: string }).reason, /HTTP 404.*NoSuchPipeline.*ADF_PIPELINE/s);
  });

  it("a corrupt copy fails verification", async () => {
    fake.nextRun({ outcome: "Corrupt" });
    const version = await versionOf("adf/corrupt.txt", "the right bytes");
    const runId = runIdOf(await start(version));
    await waitTerminal(runId);
    assert.equal((await commit(version, runId)).kind, "copied");
    const r = await verify(version);
    assert.equal(r.kind, "mismatch");
  });
});
