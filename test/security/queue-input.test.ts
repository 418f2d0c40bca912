/**
 * Bad and hostile backup requests on the queue, against the whole app in the local host and Azurite. Each one reaches
 * the poison queue with its reason on its first delivery (no blind retries), no backup instance starts, and nothing is
 * written in the backup account — in particular not into another container through a name the URL would resolve
 * elsewhere. Log lines quote names and reasons, so a newline in a message cannot forge a log entry.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { BlobServiceClient } from "@azure/storage-blob";
import { QueueClient } from "@azure/storage-queue";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { type LocalHost, startLocalHost } from "../../local-host";
import { Orchestrators, Triggers } from "../../src/function-names";
import { seedBlobs } from "../support/scan-fixtures";

const QUEUE = "security-queue-requests";

let azurite: AzuriteInstance;
let host: LocalHost;
let queue: QueueClient;
let poison: QueueClient;
let backup: BlobServiceClient;
const logLines: string[] = [];
const consoleLog = console.log;

before(async () => {
  azurite = await startAzurite();
  // Function logs go through console.log in the local host; keep them to check that none spans two lines.
  console.log = (...args: unknown[]) => {
    logLines.push(args.map(String).join(" "));
  };
  host = await startLocalHost({
    settings: { ...azurite.settings, BACKUP_QUEUE: QUEUE, EXCLUDE_CONTAINERS: "secret", BACKUP_CONTAINER_TEMPLATE: "bk-{container}" },
    queuePollMs: 50,
    timerSchedules: false,
    functionLogs: true,
  });
  queue = new QueueClient(azurite.settings.AzureWebJobsStorage, QUEUE);
  poison = new QueueClient(azurite.settings.AzureWebJobsStorage, `${QUEUE}-poison`);
  backup = BlobServiceClient.fromConnectionString(azurite.settings.BackupStorage);
  const lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage);
  for (const c of ["raw", "secret", "backup-reports"]) await lake.getContainerClient(c).create();
  await seedBlobs(lake.getContainerClient("secret"), ["x"], { content: () => "secret data" });
  await seedBlobs(lake.getContainerClient("raw"), ["ok.txt"]);
});

after(async () => {
  console.log = consoleLog;
  await host?.stop();
  await azurite?.stop();
});

interface Poisoned {
  readonly reason: string;
  readonly message: unknown;
  readonly messageTruncated?: { readonly originalLength: number };
  readonly id: string;
  readonly dequeueCount: number;
}

/** Sends a raw (already base64) message and waits for its poison entry, matched by message id. */
async function poisonOf(base64: string, timeoutMs = 20_000): Promise<Poisoned> {
  const { messageId } = await queue.sendMessage(base64);
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    if (!(await poison.exists())) continue;
    const { peekedMessageItems } = await poison.peekMessages({ numberOfMessages: 32 });
    for (const m of peekedMessageItems) {
      const body = JSON.parse(Buffer.from(m.messageText, "base64").toString("utf8")) as Poisoned;
      if (body.id === messageId) return body;
    }
  }
  throw new Error(`message ${messageId} did not reach the poison queue with a reason within ${timeoutMs} ms`);
}

const encode = (value: unknown): string => Buffer.from(JSON.stringify(value), "utf8").toString("base64");

const request = (overrides: Record<string, unknown>) => ({
  v: 1,
  account: "datalake1",
  container: "raw",
  blob: "ok.txt",
  etag: '"0x8D000000000001"',
  lastModified: "2026-11-30T00:00:00.000Z",
  contentLength: 11,
  reason: "producer",
  requestedAt: "2026-11-30T00:00:01.000Z",
  ...overrides,
});

async function backupContainers(): Promise<string[]> {
  const names: string[] = [];
  for await (const c of backup.listContainers()) names.push(c.name);
  return names;
}

async function assertNothingBackedUp(): Promise<void> {
  await host.waitForIdle({ timeoutMs: 60_000 });
  assert.deepEqual(await backupContainers(), [], "nothing was written in the backup account");
  assert.deepEqual(
    (await host.client.listInstances()).filter((i) => i.name === Orchestrators.blobBackup).map((i) => i.instanceId),
    [],
    "no backup instance started",
  );
}

describe("hostile backup requests go to the poison queue with their reason, on the first delivery", { timeout: 120_000 }, () => {
  const cases: readonly [string, Record<string, unknown>, RegExp][] = [
    ["a blob name climbing into another container", { blob: "../secret/x" }, /blob: must not have "\." or "\.\." path segments/],
    ["a dot segment", { blob: "a/./ok.txt" }, /path segments/],
    ["percent-encoded dots", { blob: "%2e%2e/secret/x" }, /path segments/],
    ["backslash dots", { blob: "..\\secret\\x" }, /path segments/],
    ["a control character", { blob: "ok\n.txt" }, /control characters/],
    ["a name over 1,024 characters", { blob: "x".repeat(1025) }, /1–1024 characters/],
    ["another storage account than the lake", { account: "otherlake" }, /"otherlake" is not the configured lake account/],
    ["a container in EXCLUDE_CONTAINERS", { container: "secret", blob: "x" }, /"secret" is in EXCLUDE_CONTAINERS/],
    ["a reserved container", { container: "backup-reports", blob: "x" }, /reserves/],
  ];
  for (const [what, overrides, reason] of cases) {
    it(what, async () => {
      const entry = await poisonOf(encode(request(overrides)));
      assert.match(entry.reason, reason);
      assert.equal(entry.dequeueCount, 1, "first delivery");
      await assertNothingBackedUp();
    });
  }

  it("a message too large to wrap whole: poisoned with its reason and a truncated excerpt", async () => {
    // 49,000 bytes of JSON: its base64 fits a queue message; with the reason beside it, it would not.
    const base = JSON.stringify({ v: 1, padding: "" });
    const entry = await poisonOf(encode({ v: 1, padding: "p".repeat(49_000 - base.length) }));
    assert.match(entry.reason, /invalid backup request/);
    assert.equal(entry.dequeueCount, 1);
    assert.equal(entry.messageTruncated?.originalLength, 49_000);
    await assertNothingBackedUp();
  });

  it("a message whose reason would be larger than the message: poisoned with the reason cut", async () => {
    const keys = Object.fromEntries(Array.from({ length: 4_000 }, (_, i) => [`k${i}`, 0]));
    const entry = await poisonOf(encode({ v: 1, ...keys }));
    assert.match(entry.reason, /invalid backup request: .*"k0"/);
    assert.match(entry.reason, /more characters\)$/);
    assert.equal(entry.dequeueCount, 1);
    await assertNothingBackedUp();
  });

  it("a message nested too deep to serialise again: poisoned with its reason", async () => {
    const entry = await poisonOf(Buffer.from(`${"[".repeat(20_000)}${"]".repeat(20_000)}`).toString("base64"));
    assert.match(entry.reason, /invalid backup request/);
    assert.equal(entry.dequeueCount, 1);
    await assertNothingBackedUp();
  });

  it("a reason with a line break is logged on one line", async () => {
    await poisonOf(encode({ ...request({}), "evil\nFORGED LOG LINE": 1 }));
    const ours = logLines.filter((l) => l.includes(`[${Triggers.queueStartBlobBackup}]`));
    assert.ok(ours.length > 0, "the trigger logged");
    assert.deepEqual(logLines.filter((l) => /[\r\n]/.test(l)), [], "no log line spans two lines");
  });
});
