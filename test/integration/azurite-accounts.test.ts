import assert from "node:assert/strict";
import { once } from "node:events";
import net from "node:net";
import { after, before, describe, it } from "node:test";

import { BlobSASPermissions, generateBlobSASQueryParameters } from "@azure/storage-blob";

import { type AzuriteInstance, isPortInUse, startAzurite } from "../../dev/azurite";
import { createClients } from "../../src/config/clients";
import { loadSettings } from "../../src/config/settings";
import { encodeBackupRequest, parseBackupRequest } from "../../src/domain/backup-request";

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("Azurite helper: three accounts working together", { timeout: 600_000 }, () => {
  let azurite: AzuriteInstance;

  before(async () => {
    azurite = await startAzurite();
  });
  after(async () => {
    await azurite.stop();
  });

  it("snapshots a lake blob, copies the snapshot server-side into the backup account, and queues a request", async () => {
    const clients = createClients(loadSettings({ ...azurite.settings, BACKUP_QUEUE: "backup-requests" }));
    assert.equal(clients.source.accountName, "datalake1");
    assert.equal(clients.backup.accountName, "backup1");

    const lake = clients.source.service.getContainerClient("raw");
    await lake.create();
    const blob = lake.getBlockBlobClient("sales/2026/11/day 1.csv");
    const uploaded = await blob.upload("id,amount\n1,10\n", 15, { metadata: { owner: "sales" } });
    const snapshot = await blob.createSnapshot({ conditions: { ifMatch: uploaded.etag } });
    assert.ok(snapshot.snapshot);
    // The live blob moves on; the snapshot keeps the version we took.
    await blob.upload("id,amount\n1,10\n2,20\n", 20);

    const sharedKey = clients.source.sharedKey;
    assert.ok(sharedKey, "a connection-string account signs its own SAS");
    const sas = generateBlobSASQueryParameters(
      {
        containerName: "raw",
        blobName: blob.name,
        snapshotTime: snapshot.snapshot,
        permissions: BlobSASPermissions.parse("r"),
        expiresOn: new Date(Date.now() + 10 * 60_000),
      },
      sharedKey,
    ).toString();
    const sourceUrl = `${blob.withSnapshot(snapshot.snapshot).url}&${sas}`;

    const backupContainer = clients.backup.service.getContainerClient("raw");
    await backupContainer.create();
    const target = backupContainer.getBlockBlobClient(blob.name);
    await target.syncCopyFromURL(sourceUrl, { sourceConditions: { ifMatch: uploaded.etag } });
    const copied = await target.downloadToBuffer();
    assert.equal(copied.toString(), "id,amount\n1,10\n");
    assert.deepEqual((await target.getProperties()).metadata, { owner: "sales" });

    await clients.backupQueue.createIfNotExists();
    await clients.backupQueue.sendMessage(
      encodeBackupRequest({
        v: 1,
        account: "datalake1",
        container: "raw",
        blob: blob.name,
        etag: uploaded.etag ?? "",
        snapshot: snapshot.snapshot,
        lastModified: (uploaded.lastModified ?? new Date()).toISOString(),
        contentLength: 15,
        reason: "producer",
        requestedAt: new Date().toISOString(),
      }),
    );
    const received = await clients.backupQueue.receiveMessages({ numberOfMessages: 1 });
    const message = received.receivedMessageItems[0];
    assert.ok(message);
    const parsed = parseBackupRequest(Buffer.from(message.messageText, "base64").toString("utf8"));
    assert.ok(parsed.ok);
    assert.equal(parsed.request.blob, "sales/2026/11/day 1.csv");
    assert.equal(parsed.request.snapshot, snapshot.snapshot);
  });

  it("stops cleanly: no process and no port left behind", async () => {
    const other = await startAzurite();
    const ports = [other.blobPort, other.queuePort, other.tablePort];
    for (const port of ports) assert.ok(await isPortInUse(port));
    await other.stop();
    assert.ok(!isAlive(other.pid), "the Azurite process is gone");
    for (const port of ports) assert.ok(!(await isPortInUse(port)), `port ${port} is free`);
  });

  it("takes no other process's listener for its own: a port taken before Azurite listens fails the start", async () => {
    // Stands for another test's Azurite that took a port between the free-port probe and this Azurite's listen. The
    // table port is the one Azurite binds last, so its blob and queue ports do answer: a start judged by connecting
    // to the ports would report this Azurite ready while it is exiting.
    const other = net.createServer().listen(0, "127.0.0.1");
    await once(other, "listening");
    const address = other.address();
    assert.ok(address !== null && typeof address === "object");
    try {
      await assert.rejects(startAzurite({ blobPort: address.port - 2 }), /EADDRINUSE|did not start/);
    } finally {
      other.close();
    }
  });
});
