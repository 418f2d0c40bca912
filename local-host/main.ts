/**
 * `npm run local`: Azurite (fixed ports 10000–10002, in memory) and the app under the local Durable host on
 * http://127.0.0.1:7071 (`--port N` or env LOCAL_HOST_PORT). Settings come from local.settings.json, else from
 * local.settings.json.sample. One log line per function invocation. Ctrl-C stops everything.
 */
import fs from "node:fs";
import path from "node:path";

import { type AzuriteInstance, startAzurite } from "../dev/azurite";
import { findRepoRoot } from "./app-loader";
import { type LocalHost, OUT_ROOT, startLocalHost } from "./index";
import { describeInvocationError } from "./invoke";

const AZURITE_BLOB_PORT = 10000;

function parsePort(argv: readonly string[]): number {
  const i = argv.indexOf("--port");
  const text = i >= 0 ? argv[i + 1] : process.env.LOCAL_HOST_PORT;
  if (text === undefined || text === "") return 7071;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid port: ${text}`);
  return port;
}

/** local.settings.json Values (else the sample's), with the Azurite endpoints pointed at the ports actually used. */
function loadSettings(repoRoot: string, azurite: AzuriteInstance): Record<string, string> {
  const file = ["local.settings.json", "local.settings.json.sample"].map((f) => path.join(repoRoot, f)).find((f) => fs.existsSync(f));
  if (file === undefined) return { ...azurite.settings };
  const values = (JSON.parse(fs.readFileSync(file, "utf8")) as { Values?: Record<string, string> }).Values ?? {};
  const ports: Record<string, number> = { "10000": azurite.blobPort, "10001": azurite.queuePort, "10002": azurite.tablePort };
  const rewritten = Object.entries(values).map(([k, v]) => [k, v.replace(/(127\.0\.0\.1|localhost):(1000[0-2])\b/g, (_m, _h, p: string) => `${azurite.host}:${ports[p] ?? p}`)]);
  console.log(`settings: ${path.basename(file)}`);
  return Object.fromEntries(rewritten) as Record<string, string>;
}

function time(): string {
  return new Date().toISOString().slice(11, 23);
}

async function main(): Promise<void> {
  const port = parsePort(process.argv.slice(2));
  const repoRoot = findRepoRoot(OUT_ROOT);
  const azurite = await startAzurite({ blobPort: AZURITE_BLOB_PORT });
  console.log(`Azurite: blob ${azurite.blobPort}, queue ${azurite.queuePort}, table ${azurite.tablePort} (in memory)`);
  let host: LocalHost | undefined;
  const shutdown = async (signal: string): Promise<void> => {
    console.log(`\n${signal}: stopping`);
    await host?.stop();
    await azurite.stop();
    process.exit(0);
  };
  process.once("SIGINT", () => void shutdown("SIGINT"));
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  try {
    host = await startLocalHost({
      settings: loadSettings(repoRoot, azurite),
      port,
      functionLogs: true,
      log: (m) => console.error(`${time()} [host] ${m}`),
      onInvocation: (fn, outcome, ms, error, instanceId) => {
        const instance = instanceId === undefined ? "" : ` [${instanceId}]`;
        const why = outcome === "Failed" ? `: ${describeInvocationError(error)}` : "";
        console.log(`${time()} ${fn.name} ${outcome} (${ms.toFixed(0)} ms)${instance}${why}`);
      },
    });
  } catch (err) {
    await azurite.stop();
    throw err;
  }
  console.log(`\nLocal Durable host on ${host.baseUrl}\nFunctions: ${host.functions.join(", ")}`);
  console.log(`Durable API: ${host.baseUrl}/runtime/webhooks/durabletask/instances/`);
  console.log("Press Ctrl-C to stop.");
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
