/**
 * A queue message stays invisible while its function runs, however long it runs, as the real host keeps it: received
 * with a lease (10 minutes there, 2 s here) that is renewed halfway to expiry, and deleted with the latest pop receipt.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import { QueueClient } from "@azure/storage-queue";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { type LocalHost, startLocalHost } from "../../local-host";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy";
import { hold } from "./apps/queue-hold";

const APP = path.join(__dirname, "apps", "queue-hold.js");
const LEASE_SECONDS = 2;

async function until(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("local host: queue message lease", () => {
  let azurite: AzuriteInstance;
  let proxy: FaultProxy;
  let host: LocalHost;
  before(async () => {
    azurite = await startAzurite();
    // The proxy only counts here: the renewals are the queue PUTs (Update Message) it sees while the function runs.
    proxy = await startFaultProxy(azurite);
    host = await startLocalHost({
      functions: [APP],
      settings: proxy.throughProxy({ ...azurite.settings, HOLD_QUEUE: "hold-queue" }),
      queueMessageLeaseSeconds: LEASE_SECONDS,
      queuePollMs: 50,
    });
  });
  after(async () => {
    hold.release();
    await host?.stop();
    await proxy?.stop();
    await azurite?.stop();
  });

  it("renews a running function's message past its lease, so it is not delivered twice, and then deletes it", async () => {
    const queue = new QueueClient(azurite.accounts.functions.connectionString, "hold-queue");
    await queue.sendMessage(Buffer.from(JSON.stringify({ work: 1 })).toString("base64"));
    await until(() => hold.dequeueCounts.length === 1, 10_000, "the function to start");
    proxy.resetCounts();
    // Three renewals at half the lease: 1.5 leases have passed since the message was received.
    await until(() => (proxy.counts().queue.byMethod.PUT ?? 0) >= 3, 10_000, "three renewals");
    assert.deepEqual(hold.dequeueCounts, [1], "not delivered again while its function runs");
    hold.release();
    await until(async () => (await queue.getProperties()).approximateMessagesCount === 0, 10_000, "the message to be deleted");
    assert.deepEqual(hold.dequeueCounts, [1]);
  });
});
