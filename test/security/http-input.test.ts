/**
 * Attacks and bad input through the HTTP API, as a caller with a function key would send them, against the whole app
 * in the local host and Azurite. Each is refused with its status and JSON error, and the end state is checked: no
 * instance started, no snapshot taken, no blob written where none should be. Every answer of the app here is checked
 * for secrets (system key, SAS signature, account key, bearer token) by test/support/no-secrets.ts.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { type LocalHost, startLocalHost } from "../../local-host";
import type { ContainerScanOutput } from "../../src/domain/container-scan";
import { followStatus, postJson } from "../support/durable-http";
import { checkedFetch, treatAsSecret } from "../support/no-secrets";
import { putRawBlob } from "../support/raw-blob";
import { listSnapshots, seedBlobs } from "../support/scan-fixtures";

const QUEUE = "security-http-requests";

let azurite: AzuriteInstance;
let host: LocalHost;
let lake: BlobServiceClient;
let backup: BlobServiceClient;

before(async () => {
  azurite = await startAzurite();
  host = await startLocalHost({
    settings: { ...azurite.settings, BACKUP_QUEUE: QUEUE, EXCLUDE_CONTAINERS: "secret", BACKUP_CONTAINER_TEMPLATE: "bk-{container}" },
    queuePollMs: 50,
    timerSchedules: false,
  });
  treatAsSecret(host.systemKey);
  lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage);
  backup = BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage);
  const secret = await lakeContainer("secret");
  await seedBlobs(secret, ["x", "y"], { content: () => "secret data" });
});

after(async () => {
  await host?.stop();
  await azurite?.stop();
});

async function lakeContainer(name: string): Promise<ContainerClient> {
  const c = lake.getContainerClient(name);
  await c.createIfNotExists();
  return c;
}

const errorOf = async (res: Response): Promise<{ code: string; message: string }> => ((await res.json()) as { error: { code: string; message: string } }).error;

async function backupNames(container: string): Promise<string[]> {
  const c = backup.getContainerClient(container);
  if (!(await c.exists())) return [];
  const names: string[] = [];
  for await (const b of c.listBlobsFlat()) names.push(b.name);
  return names.sort();
}

async function backupContainers(): Promise<string[]> {
  const names: string[] = [];
  for await (const c of backup.listContainers()) names.push(c.name);
  return names.sort();
}

async function settle(): Promise<void> {
  await host.waitForIdle({ timeoutMs: 120_000 });
}

describe("request bodies are bounded", { timeout: 60_000 }, () => {
  const big = JSON.stringify({ prefix: "p", dryRun: false, padding: "x".repeat(65 * 1024) });

  it("a body over 64 KiB gets 413 before it is parsed, and nothing starts", async () => {
    await lakeContainer("bodies");
    for (const url of [`${host.baseUrl}/api/containers/bodies/backup`, `${host.baseUrl}/api/reconcile`]) {
      const res = await postJson(url, big);
      assert.equal(res.status, 413, url);
      assert.equal((await errorOf(res)).code, "PayloadTooLarge");
    }
    assert.equal(await host.client.getStatus("scan-bodies"), undefined);
    assert.equal(await host.client.getStatus("reconciliation"), undefined);
  });

  it("a streamed body without Content-Length is cut off at 64 KiB too", async () => {
    const chunk = new TextEncoder().encode("x".repeat(16 * 1024));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 8) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const res = await checkedFetch(`${host.baseUrl}/api/containers/bodies/backup`, { method: "POST", body, duplex: "half" });
    assert.equal(res.status, 413);
    assert.equal(await host.client.getStatus("scan-bodies"), undefined);
  });
});

describe("prefixes are names: dot segments, control characters and overlong ones are refused", { timeout: 60_000 }, () => {
  for (const prefix of ["../secret/", "a/../../secret", "a/./b", "%2e%2e/secret", "a\\..\\..\\secret", "line\nFORGED", "x".repeat(1025)]) {
    it(`400 for ${JSON.stringify(prefix.slice(0, 30))}, and no scan starts`, async () => {
      await lakeContainer("prefixes");
      const res = await postJson(`${host.baseUrl}/api/containers/prefixes/backup`, { prefix });
      assert.equal(res.status, 400);
      const error = await errorOf(res);
      assert.equal(error.code, "InvalidBody");
      assert.match(error.message, /prefix: /);
      const rec = await postJson(`${host.baseUrl}/api/reconcile`, { prefix, dryRun: true });
      assert.equal(rec.status, 400);
      assert.equal(await host.client.getStatus("scan-prefixes"), undefined);
      assert.equal(await host.client.getStatus("reconciliation"), undefined);
    });
  }
});

describe("container selection applies to scans, on-demand reconciliation and the versions route", { timeout: 60_000 }, () => {
  it("a scan of an EXCLUDE_CONTAINERS container gets 403 with a JSON error; nothing is snapshotted", async () => {
    const res = await postJson(`${host.baseUrl}/api/containers/secret/backup`);
    assert.equal(res.status, 403);
    const error = await errorOf(res);
    assert.equal(error.code, "ContainerExcluded");
    assert.match(error.message, /EXCLUDE_CONTAINERS/);
    assert.equal(await host.client.getStatus("scan-secret"), undefined);
    assert.deepEqual(await listSnapshots(lake.getContainerClient("secret")), []);
  });

  it("the reserved reports and staging containers cannot be scanned (403)", async () => {
    for (const name of ["backup-reports", "datalake-backup-staging"]) {
      await lakeContainer(name);
      const res = await postJson(`${host.baseUrl}/api/containers/${name}/backup`);
      assert.equal(res.status, 403, name);
      assert.equal((await errorOf(res)).code, "ReservedContainer");
      assert.equal(await host.client.getStatus(`scan-${name}`), undefined);
    }
  });

  it("a container the template turns into an invalid backup container name gets 400 with the reason", async () => {
    const name = "c".repeat(62);
    const res = await postJson(`${host.baseUrl}/api/containers/${name}/backup`);
    assert.equal(res.status, 400);
    const error = await errorOf(res);
    assert.equal(error.code, "InvalidBackupContainerName");
    assert.match(error.message, /BACKUP_CONTAINER_TEMPLATE turns/);
  });

  it("a reconciliation that names an excluded container gets 403 and does not start", async () => {
    const res = await postJson(`${host.baseUrl}/api/reconcile`, { containers: ["raw", "secret"] });
    assert.equal(res.status, 403);
    assert.equal((await errorOf(res)).code, "ContainerExcluded");
    assert.equal(await host.client.getStatus("reconciliation"), undefined);
    assert.deepEqual(await listSnapshots(lake.getContainerClient("secret")), []);
  });

  it("the versions route answers 403 for an excluded or reserved container and 400 for an invalid name, saying which", async () => {
    const cases = [
      ["secret", 403, "ContainerExcluded"],
      ["backup-reports", 403, "ReservedContainer"],
      ["c".repeat(62), 400, "InvalidBackupContainerName"],
      ["Not_A_Container", 400, "InvalidContainerName"],
    ] as const;
    for (const [container, status, code] of cases) {
      const res = await fetch(`${host.baseUrl}/api/containers/${container}/versions?blob=x`);
      assert.equal(res.status, status, container);
      assert.equal((await errorOf(res)).code, code, container);
    }
  });
});

describe("listed names the backup cannot address safely", { timeout: 180_000 }, () => {
  it("are skipped with their reason, never snapshotted or copied elsewhere; the rest of the container is backed up", async () => {
    const planted = await lakeContainer("planted");
    await seedBlobs(planted, ["ok.txt", "dir/.hidden"]);
    // Names a URL resolves elsewhere: ../secret/x would snapshot and copy the excluded container's blob.
    for (const raw of ["..%2Fsecret%2Fx", "%2E%2E/secret/y", "a/%2E%2E/%2E%2E/secret/x", "a/%2E/b"]) await putRawBlob(azurite, azurite.accounts.lake, "planted", raw, "planted");
    await putRawBlob(azurite, azurite.accounts.lake, "planted", "win%5C..%5C..%5Csecret%5Cx", "planted");
    await putRawBlob(azurite, azurite.accounts.lake, "planted", "%252e%252e/secret/x", "planted");

    const started = await postJson(`${host.baseUrl}/api/containers/planted/backup`);
    assert.equal(started.status, 202);
    const status = await followStatus(started.headers.get("location") ?? "");
    assert.equal(status.runtimeStatus, "Completed", JSON.stringify(status.output));
    const out = status.output as ContainerScanOutput;
    assert.equal(out.skipped.unsafeName, 6, JSON.stringify(out));
    assert.equal(out.requests, 2);
    assert.ok(out.notes.some((n) => /cannot be backed up safely/.test(n)), JSON.stringify(out.notes));
    await settle();

    assert.deepEqual(await backupNames("bk-planted"), ["dir/.hidden", "ok.txt"]);
    assert.deepEqual(await listSnapshots(lake.getContainerClient("secret")), [], "nothing was snapshotted in the excluded container");
    const containers = await backupContainers();
    assert.ok(!containers.includes("secret") && !containers.includes("bk-secret"), containers.join(", "));
    assert.deepEqual((await listSnapshots(planted)).map((s) => s.name).sort(), ["dir/.hidden", "ok.txt"]);
  });
});

describe("names that differ only by Unicode normalisation", { timeout: 180_000 }, () => {
  it("stay distinct blobs: each is backed up with its own content", async () => {
    const nfc = "caf\u00e9.txt";
    const nfd = "cafe\u0301.txt";
    const c = await lakeContainer("unicode");
    await c.getBlockBlobClient(nfc).upload("composed", 8);
    await c.getBlockBlobClient(nfd).upload("decomposed", 10);
    const started = await postJson(`${host.baseUrl}/api/containers/unicode/backup`);
    const status = await followStatus(started.headers.get("location") ?? "");
    assert.equal((status.output as ContainerScanOutput).requests, 2);
    await settle();
    assert.deepEqual(await backupNames("bk-unicode"), [nfc, nfd].sort());
    const target = backup.getContainerClient("bk-unicode");
    assert.equal((await target.getBlobClient(nfc).downloadToBuffer()).toString(), "composed");
    assert.equal((await target.getBlobClient(nfd).downloadToBuffer()).toString(), "decomposed");
  });
});

describe("no answer to a function-key caller hands out a secret", { timeout: 120_000 }, () => {
  it("over every route and the statuses they produce", async () => {
    await lakeContainer("answers");
    const statuses = new Set<number>();
    const call = async (url: string, init?: RequestInit): Promise<Response> => {
      const res = await checkedFetch(url, init);
      statuses.add(res.status);
      return res;
    };
    const post = (url: string, body?: string) => call(url, { method: "POST", ...(body !== undefined && { body }) });
    const base = `${host.baseUrl}/api`;
    const started = await post(`${base}/containers/answers/backup?code=caller-key`, JSON.stringify({ dryRun: true }));
    await call(started.headers.get("location") ?? "");
    await post(`${base}/containers/answers/backup`, "{not json");
    await post(`${base}/containers/Not_Valid/backup`);
    await post(`${base}/containers/secret/backup`);
    await post(`${base}/reconcile`, JSON.stringify({ dryRun: true }));
    await host.client.suspend("reconciliation", "hold it running");
    await post(`${base}/reconcile`);
    await call(`${base}/status/reconciliation?code=caller-key`);
    await host.client.resume("reconciliation", "go on");
    await followStatus(`${base}/status/reconciliation`);
    await call(`${base}/status/scan-answers`);
    await call(`${base}/status/blob-backup-${"0".repeat(64)}`);
    await call(`${base}/status/..%2F..%2Fruntime%2Fwebhooks%2Fdurabletask%2Finstances`);
    await call(`${base}/containers/answers/backup`);
    await call(`${base}/nothing-here`);
    await post(`${base}/containers/answers/backup`, "x".repeat(70_000));
    for (const expected of [200, 202, 400, 403, 404, 405, 409, 413]) assert.ok(statuses.has(expected), `the checks covered a ${expected}: ${[...statuses].join(", ")}`);
  });
});
