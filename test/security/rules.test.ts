/**
 * The security rules that need no storage: which blob names and prefixes are refused, that every client the app builds
 * addresses exactly the container and name it was given, which containers may be backed up and where, what `redact`
 * removes, what an activity failure may carry into history, the poison entry's bounds, and HTTPS-only SAS URLs.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";

import { LOCAL_ACCOUNTS } from "../../dev/azurite";
import { parseBackupRequest } from "../../src/domain/backup-request";
import { backupTargetOf } from "../../src/domain/container-policy";
import { redact, sanitizedError } from "../../src/domain/errors";
import { blobNameProblem } from "../../src/domain/names";
import { MAX_POISON_MESSAGE_BYTES, poisonMessage } from "../../src/domain/poison-message";
import { blobIn, containerClient, UnsafeNameError } from "../../src/storage/addressed-clients";
import { restoreSourceOf } from "../../src/storage/restore-batch";
import { restoreVersion } from "../../src/storage/restore-copy";
import { sourceReadUrl } from "../../src/storage/source-sas";

const KEY = LOCAL_ACCOUNTS[1].key;
const service = (url: string) => new BlobServiceClient(url, new StorageSharedKeyCredential("datalake1", KEY));
const azure = service("https://datalake1.blob.core.windows.net");
const azurite = service("http://127.0.0.1:10000/datalake1");

const UNSAFE_NAMES: readonly [string, string][] = [
  ["../other/x", "climbs into another container"],
  ["a/../../other/x", "climbs out through a directory"],
  ["a/./b", "a dot segment the URL drops"],
  [".", "a lone dot"],
  ["..", "a lone double dot"],
  ["a/..", "a trailing double dot"],
  ["a\\..\\..\\other\\x", "backslashes read as slashes"],
  ["%2e%2e/other/x", "percent-encoded dots"],
  ["%252e%252e/other/x", "double percent-encoded dots"],
  ["a%2F..%2Fb", "percent-encoded slashes"],
  ["x\u0000y", "a NUL character"],
  ["x\ny", "a newline (forges log lines)"],
  ["x\u001by", "an escape character"],
  ["x\u0085y", "a C1 control"],
  ["x".repeat(1025), "1,025 characters"],
  ["", "an empty name"],
];
const SAFE_NAMES = ["a.txt", "dir/.hidden", "a/..b/c", "...", "café.txt", "cafe\u0301.txt", "x".repeat(1024), "a b/c%d", "日本/データ.csv"];

describe("blob names and prefixes", () => {
  for (const [name, why] of UNSAFE_NAMES) {
    it(`refuses ${why}`, () => assert.notEqual(blobNameProblem(name), undefined, JSON.stringify(name)));
  }
  for (const name of SAFE_NAMES) {
    it(`accepts ${JSON.stringify(name.length > 40 ? `${name.length} characters` : name)}`, () => assert.equal(blobNameProblem(name), undefined));
  }

  it("a backup request naming an unsafe blob fails its schema with the reason", () => {
    const parsed = parseBackupRequest({
      v: 1, account: "datalake1", container: "raw", blob: "../other/x", etag: '"0x1"',
      lastModified: "2026-01-01T00:00:00Z", contentLength: 1, reason: "producer", requestedAt: "2026-01-01T00:00:00Z",
    });
    assert.equal(parsed.ok, false);
    assert.match(parsed.ok ? "" : parsed.reason, /blob: must not have "\." or "\.\." path segments/);
  });
});

describe("clients built from names address exactly that container and name", () => {
  it("the SDK on its own resolves ../ into another container (why the helper exists)", () => {
    assert.equal(azure.getContainerClient("raw").getBlobClient("../other/x").url, "https://datalake1.blob.core.windows.net/other/x");
  });
  for (const [name] of UNSAFE_NAMES.filter(([n]) => n !== "")) {
    it(`refuses to build a client for ${JSON.stringify(name.slice(0, 40))}`, () => {
      assert.throws(() => blobIn(azure, "raw", name), UnsafeNameError);
    });
  }
  it("refuses container names that are not container names", () => {
    for (const c of ["../x", "raw/../other", "Raw", "a"]) assert.throws(() => containerClient(azure, c), UnsafeNameError, c);
  });
  for (const svc of [azure, azurite]) {
    it(`builds clients whose URL path is the container and the name (${new URL(svc.url).host})`, () => {
      for (const name of SAFE_NAMES) {
        const client = blobIn(svc, "raw", name);
        assert.equal(client.containerName, "raw");
        assert.equal(client.name, name, "the SDK reads back the same name (no normalisation)");
      }
      assert.notEqual(blobIn(svc, "raw", "café.txt").url, blobIn(svc, "raw", "cafe\u0301.txt").url, "NFC and NFD names stay distinct blobs");
    });
  }
});

describe("container policy", () => {
  const policy = { excludeContainers: ["secret"], backupContainerTemplate: "{container}", reportsContainer: "backup-reports" };
  it("refuses containers outside CONTAINERS, in EXCLUDE_CONTAINERS, and the reserved ones", () => {
    assert.equal(backupTargetOf({ ...policy, containers: ["raw"] }, "curated").ok, false);
    assert.deepEqual(backupTargetOf(policy, "secret"), { ok: false, code: "ContainerExcluded", reason: 'container "secret" is in EXCLUDE_CONTAINERS' });
    for (const c of ["backup-reports", "datalake-backup-staging"]) assert.equal(backupTargetOf(policy, c).ok, false, c);
  });
  it("refuses a container whose backup container (from the template) is reserved or invalid", () => {
    const decision = backupTargetOf({ ...policy, backupContainerTemplate: "backup-{container}" }, "reports");
    assert.equal(decision.ok ? "" : decision.code, "ReservedContainer");
    const long = backupTargetOf({ ...policy, backupContainerTemplate: "bk-{container}" }, "c".repeat(62));
    assert.equal(long.ok ? "" : long.code, "InvalidBackupContainerName");
    assert.match(long.ok ? "" : long.reason, /BACKUP_CONTAINER_TEMPLATE turns/);
  });
  it("gives the backup container from the template", () => {
    assert.deepEqual(backupTargetOf({ ...policy, backupContainerTemplate: "bk-{container}" }, "raw"), { ok: true, backupContainer: "bk-raw" });
  });
});

describe("redaction", () => {
  const cases: readonly [string, string][] = [
    ["a plain SAS signature", "GET https://a.blob.core.windows.net/c/b?sv=2024&sig=SECRET%2Bx&se=1 failed"],
    ["a percent-encoded SAS", "url=https%3A%2F%2Fa%2Fc%3Fsv%3D1%26sig%3DSECRET%252B%26se%3D2"],
    ["a JSON-escaped SAS", String.raw`{"url":"https://a/c?sv=1\u0026sig=SECRET\u0026se=2"}`],
    ["an HTML-escaped SAS", "href=x?y=1&amp;sig=SECRET&amp;se=2"],
    ["a bare SAS token", "sig=SECRET&se=1"],
    ["user delegation key fields", "?skoid=SECRET&sktid=SECRET&sig=SECRET"],
    ["a Shared Key header", "Authorization: SharedKey datalake1:SECRET+/SECRET= x"],
    ["an account key", "AccountKey=SECRET==;BlobEndpoint=x"],
    ["an account key in JSON", '{"accountKey":"SECRET","x":1}'],
    ["a bearer token", "Authorization: Bearer SECRET.SECRET.SECRET"],
  ];
  for (const [what, text] of cases) {
    it(`removes ${what}`, () => {
      const clean = redact(text);
      assert.ok(!clean.includes("SECRET"), clean);
      assert.ok(clean.includes("REDACTED"), clean);
    });
  }
  it("keeps the text around it readable", () => {
    assert.equal(redact("design=1&signature=ok&xsig=keep"), "design=1&signature=ok&xsig=keep");
    assert.equal(redact("GET https://a/c?sv=1&sig=abc&se=2 (403)"), "GET https://a/c?sv=1&sig=REDACTED&se=2 (403)");
  });
  it("an activity failure keeps its name and a redacted, bounded message and stack", () => {
    const original = new TypeError(`copy from https://a/c?sig=SECRET failed ${"x".repeat(10_000)}`);
    const clean = sanitizedError(original);
    assert.equal(clean.name, "TypeError");
    assert.ok(!clean.message.includes("SECRET") && !(clean.stack ?? "").includes("SECRET"));
    assert.ok(clean.message.length < 5_000);
  });
});

describe("poison entries", () => {
  const entry = (message: unknown, reason = "invalid backup request: v: expected 1") => ({ reason, message, id: "m1", dequeueCount: 1, rejectedAt: "2026-01-01T00:00:00.000Z" });
  const decode = (b64: string) => JSON.parse(Buffer.from(b64, "base64").toString("utf8")) as Record<string, unknown>;
  it("keep a small message as it was", () => {
    assert.deepEqual(decode(poisonMessage(entry({ v: 2 }))).message, { v: 2 });
  });
  it("fit a queue message whatever was received: too large, too deep, an overlong reason", () => {
    const deep = JSON.parse(`${"[".repeat(20_000)}${"]".repeat(20_000)}`) as unknown;
    for (const [message, reason] of [["x".repeat(60_000), "r"], [deep, "r"], [{ v: 1 }, "r".repeat(100_000)], ["\u0000".repeat(40_000), "r"]] as const) {
      const b64 = poisonMessage(entry(message, reason));
      assert.ok(b64.length <= MAX_POISON_MESSAGE_BYTES, `${b64.length}`);
      const body = decode(b64);
      assert.equal(body.id, "m1");
      assert.ok(typeof body.reason === "string" && body.reason.length <= 2_100);
    }
  });
});

describe("SAS URLs", () => {
  const account = (url: string) => {
    const svc = service(url);
    return { accountName: "datalake1", service: svc, singleAttempt: svc, sharedKey: svc.credential as StorageSharedKeyCredential };
  };
  const later = () => new Date(Date.now() + 60_000);
  it("are HTTPS-only for an https endpoint", async () => {
    const url = new URL(await sourceReadUrl(account("https://datalake1.blob.core.windows.net"), "raw", "a.txt", undefined, later()));
    assert.equal(url.searchParams.get("spr"), "https");
  });
  it("are refused for a plain-http endpoint that is not local development", async () => {
    await assert.rejects(sourceReadUrl(account("http://datalake1.blob.core.windows.net"), "raw", "a.txt", undefined, later()), /plain http/);
  });
  it("may use http on loopback (Azurite)", async () => {
    const url = new URL(await sourceReadUrl(account("http://127.0.0.1:10000/datalake1"), "raw", "a.txt", undefined, later()));
    assert.equal(url.searchParams.get("spr"), "https,http");
  });
});

describe("restore reads what the settings name", () => {
  const settings = { backupContainerTemplate: "bk-{container}", backupHistory: "snapshot" } as const;
  it("takes the backup container from BACKUP_CONTAINER_TEMPLATE and the history mode from BACKUP_HISTORY", () => {
    assert.deepEqual(restoreSourceOf(settings, "sales", "bk-sales"), { backupContainer: "bk-sales", history: "snapshot" });
  });
  it("refuses a restore whose input names another backup container (a forged input)", () => {
    assert.throws(() => restoreSourceOf(settings, "sales", "victim"), /refused: the restore names backup container "victim", BACKUP_CONTAINER_TEMPLATE gives "bk-sales"/);
  });
  it("writes no blob under a name that would address another container: that name fails alone", async () => {
    const backup = service("https://backup1.blob.core.windows.net");
    const account = { accountName: "backup1", service: backup, singleAttempt: backup, sharedKey: backup.credential as StorageSharedKeyCredential };
    const target = containerClient(service("https://datalake1.blob.core.windows.net"), "restored");
    const version = { name: "../other/x", etag: '"0x1"', contentLength: 1, metadata: {} } as unknown as Parameters<typeof restoreVersion>[2];
    const written = await restoreVersion(account, "bk-sales", version, target, "../other/x", { ifNoneMatch: "*" });
    assert.equal(written.kind, "failed");
    assert.match((written as { reason: string }).reason, /would address another resource|refused/);
  });
});
