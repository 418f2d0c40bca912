/**
 * Azurite for tests, local runs and benchmarks: one child process, in memory, on loopback, with three accounts —
 * the function storage (task hub and backup queue), the data lake, and the backup account.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import net from "node:net";
import path from "node:path";

import { recordPid } from "./pid-log";

export interface AzuriteAccount {
  readonly name: string;
  /** Well-known development keys, not secrets; real accounts never appear here. */
  readonly key: string;
  readonly blobEndpoint: string;
  readonly queueEndpoint: string;
  readonly connectionString: string;
}

export interface AzuriteInstance {
  readonly host: string;
  readonly blobPort: number;
  readonly queuePort: number;
  readonly tablePort: number;
  readonly pid: number;
  readonly accounts: { readonly functions: AzuriteAccount; readonly lake: AzuriteAccount; readonly backup: AzuriteAccount };
  /** The app settings that point the product at these accounts. */
  readonly settings: Readonly<Record<"AzureWebJobsStorage" | "SourceStorage" | "BackupStorage", string>>;
  stop(): Promise<void>;
}

export interface AzuriteOptions {
  /** Fixed ports (blob; queue = blob + 1; table = blob + 2), as for `npm run local`. Free ports when absent. */
  readonly blobPort?: number;
  /** Keep the data in this folder instead of memory. */
  readonly location?: string;
  /** Azurite's debug log goes to this file (its `--debug`): what it does inside, for a test or a diagnosis. */
  readonly debugLog?: string;
}

export const LOCAL_ACCOUNTS = [
  { name: "devstoreaccount1", key: "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==" },
  { name: "datalake1", key: "ZGF0YWxha2UxLWxvY2FsLWRldi1rZXktbm90LWEtc2VjcmV0LTAwMDAwMDAw" },
  { name: "backup1", key: "YmFja3VwMS1sb2NhbC1kZXYta2V5LW5vdC1hLXNlY3JldC0wMDAwMDAwMA==" },
] as const;

const HOST = "127.0.0.1";
const AZURITE_SCRIPT = "azurite-process.js";
const START_TIMEOUT_MS = 30_000;

async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, HOST);
  await once(server, "listening");
  const address = server.address();
  server.close();
  await once(server, "close");
  if (address === null || typeof address === "string") throw new Error("could not find a free port");
  return address.port;
}

async function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** True while anything listens on the port; used by tests to prove nothing is left behind. */
export function isPortInUse(port: number): Promise<boolean> {
  return canConnect(port);
}

function account(name: string, key: string, blobPort: number, queuePort: number): AzuriteAccount {
  const blobEndpoint = `http://${HOST}:${blobPort}/${name}`;
  const queueEndpoint = `http://${HOST}:${queuePort}/${name}`;
  return {
    name,
    key,
    blobEndpoint,
    queueEndpoint,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${name};AccountKey=${key};BlobEndpoint=${blobEndpoint};QueueEndpoint=${queueEndpoint};`,
  };
}

async function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  const timer = new Promise<false>((resolve) => setTimeout(() => resolve(false), ms).unref());
  return Promise.race([once(child, "exit").then(() => true), timer]);
}

/**
 * Starts Azurite. On free ports, a port can be taken by another process between the moment it was found free and
 * Azurite's listen (test files run in parallel, and other runs share the machine): then it tries again on new ports.
 */
export async function startAzurite(options: AzuriteOptions = {}): Promise<AzuriteInstance> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startAzuriteOnce(options);
    } catch (err) {
      const portTaken = err instanceof Error && err.message.includes("EADDRINUSE");
      if (!portTaken || options.blobPort !== undefined || attempt >= 3) throw err;
    }
  }
}

async function startAzuriteOnce(options: AzuriteOptions): Promise<AzuriteInstance> {
  const blobPort = options.blobPort ?? (await freePort());
  const queuePort = options.blobPort !== undefined ? options.blobPort + 1 : await freePort();
  const tablePort = options.blobPort !== undefined ? options.blobPort + 2 : await freePort();
  const storage = options.location === undefined ? ["--inMemoryPersistence"] : ["--location", options.location];
  const args = [
    path.join(__dirname, AZURITE_SCRIPT),
    ...storage,
    "--disableTelemetry",
    "--silent",
    ...(options.debugLog === undefined ? [] : ["--debug", options.debugLog]),
    "--blobHost", HOST, "--blobPort", String(blobPort),
    "--queueHost", HOST, "--queuePort", String(queuePort),
    "--tableHost", HOST, "--tablePort", String(tablePort),
  ];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, AZURITE_ACCOUNTS: LOCAL_ACCOUNTS.map((a) => `${a.name}:${a.key}`).join(";") },
    stdio: ["pipe", "pipe", "pipe"],
  });
  recordPid(child.pid, AZURITE_SCRIPT);
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
  // Azurite says when each of its servers listens (also with --silent). Only that proves the ports are ours: a port
  // found free can be taken by another process before Azurite's listen, and a connection would then reach that one.
  let stdout = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (stdout = (stdout + chunk).slice(-4000)));
  const listening = (): boolean => ["Blob", "Queue", "Table"].every((s) => stdout.includes(`Azurite ${s} service is successfully listening`));
  // Kill it with us even when a test fails or the runner exits without calling stop().
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);

  const stop = async (): Promise<void> => {
    process.removeListener("exit", killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    if (!(await waitForExit(child, 5_000))) {
      child.kill("SIGKILL");
      await waitForExit(child, 5_000);
    }
  };

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!listening()) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`Azurite did not start on ${HOST}:${blobPort}: ${stderr.trim() || "timed out"}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  const [functionsAccount, lakeAccount, backupAccount] = LOCAL_ACCOUNTS.map((a) => account(a.name, a.key, blobPort, queuePort));
  if (!functionsAccount || !lakeAccount || !backupAccount) throw new Error("unreachable: three accounts are defined");
  return {
    host: HOST,
    blobPort,
    queuePort,
    tablePort,
    pid: child.pid ?? -1,
    accounts: { functions: functionsAccount, lake: lakeAccount, backup: backupAccount },
    settings: {
      AzureWebJobsStorage: functionsAccount.connectionString,
      SourceStorage: lakeAccount.connectionString,
      BackupStorage: backupAccount.connectionString,
    },
    stop,
  };
}
