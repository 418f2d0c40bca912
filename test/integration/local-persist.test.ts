/**
 * `npm run local -- --persist DIR` survives a crash: the real entry point (local-host/main.js) in a child process takes
 * backup work, is killed with SIGKILL while the backups wait (their source blobs are leased by someone else, in lease
 * mode), and started again on the same DIR. Azurite's data (lake blobs and leases, queue) and the host's instances come back,
 * and the backups complete once the other holder lets go. Only the PIDs this test starts are signalled.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { after, describe, it } from "node:test";

import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { QueueClient } from "@azure/storage-queue";

import { isPortInUse, LOCAL_ACCOUNTS } from "../../dev/azurite";
import { BackupMetadata, type BlobBackupOutput } from "../../src/domain/blob-backup";
import { followStatus } from "../support/durable-http";

const MAIN = path.join(__dirname, "..", "..", "local-host", "main.js");
const SAMPLE = path.join(__dirname, "..", "..", "..", "local.settings.json.sample");
const CONTAINER = "persisted";
const BLOBS = ["a.csv", "dir/b.csv", "dir/c.json"];
const FOREIGN_LEASE = "7d0c4c1e-0000-4000-8000-00000000f00d";

interface Instance {
  readonly instanceId: string;
  readonly runtimeStatus: string;
  readonly output: unknown;
  readonly historyEvents?: { EventType: string }[];
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function canListen(port: number): Promise<boolean> {
  const server = net.createServer();
  return new Promise((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/**
 * The lowest port the kernel hands out for `listen(0)` and outgoing connections (Linux; 32768 by default). The other
 * test files, which run alongside this one, start their Azurites and hosts on such ports, so a fixed port chosen in
 * that range can be taken between the check below and the child's listen (EADDRINUSE, seen in CI).
 */
function ephemeralPortsStart(): number {
  try {
    const low = Number(fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 21_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

/** A free port for the host and three consecutive free ones for Azurite (blob, queue, table), below the ephemeral range. */
async function freePorts(): Promise<{ host: number; azurite: number }> {
  const below = ephemeralPortsStart();
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * (below - 20_000 - 4));
    const candidates = [base, base + 1, base + 2, base + 3];
    if ((await Promise.all(candidates.map(canListen))).every(Boolean)) return { azurite: base, host: base + 3 };
  }
  throw new Error("no free ports");
}

function connectionString(accountIndex: number, port: number): string {
  const account = LOCAL_ACCOUNTS[accountIndex];
  if (account === undefined) throw new Error("no such account");
  return `DefaultEndpointsProtocol=http;AccountName=${account.name};AccountKey=${account.key};BlobEndpoint=http://127.0.0.1:${port}/${account.name};QueueEndpoint=http://127.0.0.1:${port + 1}/${account.name};`;
}

describe("npm run local --persist survives kill -9", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "local-persist-"));
  const started: ChildProcess[] = [];
  after(async () => {
    for (const child of started) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await once(child, "exit");
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function startLocal(args: readonly string[]): Promise<{ child: ChildProcess; baseUrl: string; output: () => string }> {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    started.push(child);
    let output = "";
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (output = (output + chunk).slice(-20_000)));
    const lines = readline.createInterface({ input: child.stdout });
    const baseUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`npm run local not ready in 60 s:\n${output}`)), 60_000);
      lines.on("line", (line) => {
        output = (output + line + "\n").slice(-20_000);
        const m = /^Local Durable host on (\S+)/.exec(line);
        if (m?.[1] !== undefined) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`npm run local exited (${code}) before it was ready:\n${output}`));
      });
    });
    return { child, baseUrl, output: () => output };
  }

  async function backups(baseUrl: string): Promise<Instance[]> {
    const res = await fetch(`${baseUrl}/runtime/webhooks/durabletask/instances?instanceIdPrefix=blob-backup-&showHistory=true`);
    assert.equal(res.status, 200);
    const list = (await res.json()) as Instance[];
    // The list does not carry history: read each instance.
    return Promise.all(
      list.map(async (i) => (await (await fetch(`${baseUrl}/runtime/webhooks/durabletask/instances/${i.instanceId}?showHistory=true`)).json()) as Instance),
    );
  }

  it("resumes the backups in flight, with Azurite's data and the host's state from the same directory", async () => {
    const ports = await freePorts();
    const settings = JSON.parse(fs.readFileSync(SAMPLE, "utf8")) as { Values: Record<string, string> };
    settings.Values.BLOB_LEASE = "true";
    settings.Values.LEASE_SECONDS = "15";
    // ETag-pinned requests of the live blobs: only those are copied under a lease (a snapshot never changes), so each
    // backup waits for the other holder.
    settings.Values.SNAPSHOTS = "off";
    const settingsFile = path.join(dir, "local.settings.json");
    fs.writeFileSync(settingsFile, JSON.stringify(settings));
    const args = ["--persist", path.join(dir, "data"), "--port", String(ports.host), "--azurite-port", String(ports.azurite), "--settings", settingsFile];

    const first = await startLocal(args);
    const lake: ContainerClient = BlobServiceClient.fromConnectionString(connectionString(1, ports.azurite)).getContainerClient(CONTAINER);
    await lake.create();
    for (const name of BLOBS) {
      await lake.getBlockBlobClient(name).upload(`content of ${name}`, `content of ${name}`.length);
      // Someone else holds every source blob: in lease mode each backup waits (durable timers) until it is free.
      await lake.getBlobClient(name).getBlobLeaseClient(FOREIGN_LEASE).acquireLease(-1);
    }
    const scan = await fetch(`${first.baseUrl}/api/containers/${CONTAINER}/backup`, { method: "POST" });
    assert.equal(scan.status, 202);
    const scanned = await followStatus(scan.headers.get("location") ?? "", 60_000);
    assert.equal(scanned.runtimeStatus, "Completed", JSON.stringify(scanned.output));

    const queue = new QueueClient(connectionString(0, ports.azurite), "backup-requests");
    await until(
      "every request taken from the queue and every backup waiting for the lease",
      async () => {
        if ((await queue.getProperties()).approximateMessagesCount !== 0) return undefined;
        const waiting = (await backups(first.baseUrl)).filter((b) => b.runtimeStatus === "Running" && b.historyEvents?.some((e) => e.EventType === "TimerCreated"));
        return waiting.length === BLOBS.length ? true : undefined;
      },
      60_000,
    );

    first.child.kill("SIGKILL");
    await once(first.child, "exit");
    await until(
      "Azurite (the killed process's child) to save and exit, freeing its ports",
      async () => ((await Promise.all([0, 1, 2].map((i) => isPortInUse(ports.azurite + i)))).some(Boolean) ? undefined : true),
      20_000,
    );

    const second = await startLocal(args);
    const resumed = await backups(second.baseUrl);
    assert.equal(resumed.filter((b) => b.runtimeStatus === "Running").length, BLOBS.length, "the host's instances came back from --persist");
    const kept = [];
    for await (const b of lake.listBlobsFlat()) kept.push(`${b.name} ${b.properties.leaseState ?? ""}`);
    assert.deepEqual(kept.sort(), BLOBS.map((name) => `${name} leased`).sort(), "Azurite's data came back: the blobs and the other holder's leases");

    for (const name of BLOBS) await lake.getBlobClient(name).getBlobLeaseClient(FOREIGN_LEASE).releaseLease();
    const done = await until(
      "every backup to complete after the restart",
      async () => {
        const all = await backups(second.baseUrl);
        return all.length === BLOBS.length && all.every((b) => b.runtimeStatus !== "Running" && b.runtimeStatus !== "Pending") ? all : undefined;
      },
      120_000,
    );
    for (const b of done) {
      assert.equal(b.runtimeStatus, "Completed", second.output());
      assert.equal((b.output as BlobBackupOutput).status, "Copied", (b.output as BlobBackupOutput).reason);
    }
    const backup = BlobServiceClient.fromConnectionString(connectionString(2, ports.azurite)).getContainerClient(CONTAINER);
    for (const name of BLOBS) {
      const source = await lake.getBlobClient(name).getProperties();
      assert.equal(source.leaseState, "available", `no lease left on ${name}`);
      assert.equal((await backup.getBlobClient(name).getProperties()).metadata?.[BackupMetadata.etag], source.etag, `${name} backed up at its current version`);
    }

    second.child.kill("SIGTERM");
    await once(second.child, "exit");
    for (const port of [ports.host, ports.azurite, ports.azurite + 1, ports.azurite + 2]) {
      await until(`port ${port} to be free after a normal stop`, async () => ((await isPortInUse(port)) ? undefined : true), 20_000);
    }
  });
});
