/**
 * `npm run local`: Azurite and the app under the local Durable host on http://127.0.0.1:7071. Settings come from
 * local.settings.json, else from local.settings.json.sample, with the Azurite endpoints pointed at the ports used. One
 * log line per function invocation. Ctrl-C stops everything.
 *
 *   --port N           the host's port (or env LOCAL_HOST_PORT; default 7071)
 *   --azurite-port N   Azurite's blob port; queue N+1, table N+2 (default 10000)
 *   --persist DIR      keep Azurite's data (DIR/azurite) and the host's instances (DIR/host) on disk, so a run stopped
 *                      or killed resumes where it was when started again on the same DIR (default: in memory)
 *   --settings FILE    a local.settings.json to read instead
 */
import fs from "node:fs";
import path from "node:path";

import { type AzuriteInstance, startAzurite } from "../dev/azurite";
import { findRepoRoot } from "./app-loader";
import { type LocalHost, OUT_ROOT, startLocalHost } from "./index";
import { describeInvocationError } from "./invoke";

interface Options {
  readonly port: number;
  readonly azuritePort: number;
  readonly persist?: string;
  readonly settings?: string;
}

function option(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  if (i < 0) return undefined;
  const value = argv[i + 1];
  if (value === undefined || value.startsWith("--")) throw new Error(`${name} needs a value`);
  return value;
}

function portOption(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined || text === "") return fallback;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid ${name}: ${text}`);
  return port;
}

function parseOptions(argv: readonly string[]): Options {
  const persist = option(argv, "--persist");
  const settings = option(argv, "--settings");
  return {
    port: portOption(option(argv, "--port") ?? process.env.LOCAL_HOST_PORT, "port", 7071),
    azuritePort: portOption(option(argv, "--azurite-port"), "Azurite port", 10000),
    ...(persist !== undefined && { persist: path.resolve(persist) }),
    ...(settings !== undefined && { settings: path.resolve(settings) }),
  };
}

/** local.settings.json Values (else the sample's), with the Azurite endpoints pointed at the ports actually used. */
function loadSettings(repoRoot: string, azurite: AzuriteInstance, explicit: string | undefined): Record<string, string> {
  const file = explicit ?? ["local.settings.json", "local.settings.json.sample"].map((f) => path.join(repoRoot, f)).find((f) => fs.existsSync(f));
  if (file === undefined) return { ...azurite.settings };
  const values = (JSON.parse(fs.readFileSync(file, "utf8")) as { Values?: Record<string, string> }).Values ?? {};
  const ports: Record<string, number> = { "10000": azurite.blobPort, "10001": azurite.queuePort, "10002": azurite.tablePort };
  const rewritten = Object.entries(values).map(([k, v]) => [k, v.replace(/(127\.0\.0\.1|localhost):(1000[0-2])\b/g, (_m, _h, p: string) => `${azurite.host}:${ports[p] ?? p}`)]);
  console.log(`settings: ${explicit ?? path.basename(file)}`);
  return Object.fromEntries(rewritten) as Record<string, string>;
}

function time(): string {
  return new Date().toISOString().slice(11, 23);
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const repoRoot = findRepoRoot(OUT_ROOT);
  const azurite = await startAzurite({
    blobPort: options.azuritePort,
    ...(options.persist !== undefined && { location: path.join(options.persist, "azurite") }),
  });
  const where = options.persist === undefined ? "in memory" : `data in ${options.persist}`;
  console.log(`Azurite: blob ${azurite.blobPort}, queue ${azurite.queuePort}, table ${azurite.tablePort} (${where})`);
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
      settings: loadSettings(repoRoot, azurite, options.settings),
      port: options.port,
      ...(options.persist !== undefined && { stateDir: path.join(options.persist, "host") }),
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
