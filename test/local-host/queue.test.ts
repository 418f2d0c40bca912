/**
 * Queue triggers against Azurite: base64 messages reach the function JSON-parsed with their metadata; a message that
 * keeps failing is retried and then moved, text unchanged, to `<queue>-poison` after maxDequeueCount attempts.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import { QueueClient } from "@azure/storage-queue";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { type LocalHost, startLocalHost } from "../../local-host";
import { waitFor } from "../support/wait-for";
import { seen } from "./apps/queues";

const APP = path.join(__dirname, "apps", "queues.js");

describe("local host: queue triggers", { timeout: 120_000 }, () => {
  let azurite: AzuriteInstance;
  let host: LocalHost;
  before(async () => {
    azurite = await startAzurite();
    host = await startLocalHost({
      functions: [APP],
      settings: { ...azurite.settings, OK_QUEUE: "ok-queue", FAILING_QUEUE: "failing-queue" },
      hostJson: { extensions: { queues: { maxDequeueCount: 3, visibilityTimeout: "00:00:00" } } },
      queuePollMs: 100,
    });
  });
  after(async () => {
    await host?.stop();
    await azurite?.stop();
  });

  function queue(name: string): QueueClient {
    return new QueueClient(azurite.accounts.functions.connectionString, name);
  }

  it("decodes a base64 JSON message and passes it parsed, with its metadata", async () => {
    await queue("ok-queue").sendMessage(Buffer.from(JSON.stringify({ hello: "world" })).toString("base64"));
    await waitFor(() => seen.ok.length, { until: (n) => n === 1, describe: "the message to be handled", timeoutMs: 10_000 });
    assert.deepEqual(seen.ok[0]?.body, { hello: "world" });
    assert.equal(seen.ok[0]?.dequeueCount, 1);
    assert.equal(typeof seen.ok[0]?.id, "string");
    await host.waitForIdle();
    const left = await queue("ok-queue").peekMessages();
    assert.equal(left.peekedMessageItems.length, 0);
  });

  it("waitForIdle waits for a message enqueued right after an empty poll (the queue decides, not the last poll)", async () => {
    await host.waitForIdle();
    const before = seen.ok.length;
    await queue("ok-queue").sendMessage(Buffer.from(JSON.stringify({ late: true })).toString("base64"));
    await host.waitForIdle();
    assert.equal(seen.ok.length, before + 1, "handled before waitForIdle returned");
  });

  it("retries a failing message and moves it unchanged to the poison queue after maxDequeueCount", async () => {
    const text = Buffer.from(JSON.stringify({ broken: true })).toString("base64");
    await queue("failing-queue").sendMessage(text);
    const poison = queue("failing-queue-poison");
    await waitFor(async () => (await poison.exists()) && (await poison.peekMessages()).peekedMessageItems.length, {
      until: (n) => n === 1,
      describe: "the poison message",
      timeoutMs: 20_000,
    });
    assert.deepEqual(
      seen.failing.map((m) => m.dequeueCount),
      [1, 2, 3],
    );
    const [poisoned] = (await poison.peekMessages()).peekedMessageItems;
    assert.equal(poisoned?.messageText, text);
    await host.waitForIdle();
    assert.equal((await queue("failing-queue").peekMessages()).peekedMessageItems.length, 0);
  });
});
