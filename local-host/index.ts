/**
 * The local Durable host's entry point for tests, benchmarks and `npm run local`: loads the app's registered
 * functions into this process with the real @azure/functions and durable-functions code, and runs them.
 */
import { randomBytes } from "node:crypto";
import path from "node:path";

import { findRepoRoot, loadFiles, resolveMainFiles } from "./app-loader";
import { RealClock, VirtualClock } from "./engine/clock";
import { ConflictError, Engine, type EngineStats } from "./engine/engine";
import { type OrchestrationStatus, toStatus } from "./engine/status";
import { InstanceStore } from "./engine/store";
import { type RuntimeStatus, TERMINAL } from "./engine/types";
import { installFunctionsCore } from "./functions-core";
import { type HostJson, loadHostJson } from "./host-json";
import { DurableApi, durableClientData } from "./http/durable-api";
import { HttpTriggers } from "./http/http-triggers";
import { startServer } from "./http/server";
import { type InvocationObserver, Invoker } from "./invoke";
import type { RegisteredFunction } from "./registry";
import { QUEUE_MESSAGE_LEASE_SECONDS, QueuePoller } from "./triggers/queue-poller";
import { TimerTrigger } from "./triggers/timer";

export type { EngineStats } from "./engine/engine";
export type { OrchestrationStatus } from "./engine/status";
export type { RuntimeStatus } from "./engine/types";
export { ConflictError };

export interface LocalHostOptions {
  /** App settings, merged into process.env before the app loads. */
  readonly settings?: Readonly<Record<string, string>>;
  /** "virtual": durable timers fire when nothing else can progress, or on advanceTime. Default "real". */
  readonly clock?: "real" | "virtual";
  /** HTTP port on 127.0.0.1; 0 (default) picks a free one. */
  readonly port?: number;
  /** Persist instances here, and resume the ones found there. */
  readonly stateDir?: string;
  /** Load these compiled files instead of the app's package.json `main` (conformance tests use small apps). */
  readonly functions?: readonly string[];
  /**
   * Overrides merged into host.json (e.g. `{ extensions: { queues: { maxDequeueCount: 2 } } }`). App settings named
   * `AzureFunctionsJobHost__path__to__setting` override both, as in Azure.
   */
  readonly hostJson?: HostJson;
  /** Queue polling interval when a queue was found empty. Default 200 ms. */
  readonly queuePollMs?: number;
  /**
   * How long a received queue message stays invisible while its function runs, renewed at half of it. Default 600 s,
   * the real host's fixed value; tests shorten it to see the renewal.
   */
  readonly queueMessageLeaseSeconds?: number;
  /** Run timer triggers on their schedule (default true; fireTimer works either way). */
  readonly timerSchedules?: boolean;
  /** Called after every function invocation (main.ts logs one line each). */
  readonly onInvocation?: InvocationObserver;
  /**
   * What functions log through `context.log` / `context.error` / …: `true` prints it (main.ts), a function receives it
   * (tests that check what the app logs). Default: dropped.
   */
  readonly functionLogs?: boolean | ((functionName: string, level: string, message: string) => void);
  /** Host diagnostics (queue errors, library warnings). Default: console.error for errors only. */
  readonly log?: (message: string) => void;
}

export interface StatusFilter {
  readonly runtimeStatus?: readonly RuntimeStatus[];
  readonly createdTimeFrom?: Date;
  readonly createdTimeTo?: Date;
  readonly instanceIdPrefix?: string;
}

export interface LocalHostClient {
  startNew(name: string, options?: { instanceId?: string; input?: unknown }): Promise<string>;
  getStatus(instanceId: string, options?: { showHistory?: boolean; showInput?: boolean }): Promise<OrchestrationStatus | undefined>;
  waitForCompletion(instanceId: string, options?: { timeoutMs?: number; showHistory?: boolean }): Promise<OrchestrationStatus>;
  raiseEvent(instanceId: string, eventName: string, data?: unknown): Promise<void>;
  terminate(instanceId: string, reason?: string): Promise<void>;
  suspend(instanceId: string, reason?: string): Promise<void>;
  resume(instanceId: string, reason?: string): Promise<void>;
  purge(instanceId: string): Promise<number>;
  listInstances(filter?: StatusFilter): Promise<OrchestrationStatus[]>;
}

export interface LocalHost {
  readonly baseUrl: string;
  readonly port: number;
  readonly client: LocalHostClient;
  /** The stand-in for the `durabletask_extension` system key that the Durable management URLs carry. */
  readonly systemKey: string;
  /** Names of the registered functions. */
  readonly functions: readonly string[];
  waitForIdle(options?: { timeoutMs?: number }): Promise<void>;
  advanceTime(ms: number): Promise<void>;
  /** Engine counters since start (episodes, history events replayed, time in orchestrator invocations). */
  stats(): Readonly<EngineStats>;
  fireTimer(functionName: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Installed when this module is first imported, so an app module imported afterwards (a test importing its app's
 * probes) registers its functions instead of falling into the library's "test mode".
 */
let hostLog: (message: string) => void = (m) => console.error(`[local-host] ${m}`);
const core = installFunctionsCore((level, message) => {
  if (level === "Error" || level === "Warning") hostLog(message);
});

/** The compiled output root this file runs from (…/dist or …/.out/<name>). */
export const OUT_ROOT = path.resolve(__dirname, "..");

/** Runs synchronous engine work as a promise, so a thrown error becomes a rejection (as over HTTP). */
function settle<T>(fn: () => T): Promise<T> {
  return new Promise((resolve) => resolve(fn()));
}

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function userLogOf(functionLogs: LocalHostOptions["functionLogs"]): ((fn: RegisteredFunction, level: string, message: string) => void) | undefined {
  if (typeof functionLogs === "function") return (fn, level, message) => functionLogs(fn.name, level, message);
  if (functionLogs !== true) return undefined;
  return (fn, level, message) => console.log(`${new Date().toISOString().slice(11, 23)} [${fn.name}] ${level === "information" ? "" : `${level}: `}${message}`);
}

export async function startLocalHost(options: LocalHostOptions = {}): Promise<LocalHost> {
  const log = options.log ?? ((m: string) => console.error(`[local-host] ${m}`));
  Object.assign(process.env, options.settings ?? {});
  // The durable client (axios) honours HTTP(S)_PROXY; loopback must never go through a proxy.
  process.env.NO_PROXY = [process.env.NO_PROXY, "127.0.0.1", "localhost"].filter(Boolean).join(",");
  const repoRoot = findRepoRoot(OUT_ROOT);
  const hostSettings = loadHostJson(repoRoot, options.hostJson);

  hostLog = log;
  // Stands in for the durabletask_extension system key of the real host (a fresh one per host).
  const systemKey = randomBytes(24).toString("base64url");
  let urls = durableClientData("http://127.0.0.1:0", hostSettings.hubName, systemKey);
  const userLog = userLogOf(options.functionLogs);
  const invoker = new Invoker(core, {
    ...(options.onInvocation !== undefined ? { observe: options.onInvocation } : {}),
    bindingData: () => ({ durableClient: { json: JSON.stringify(urls) } }),
    ...(userLog !== undefined ? { userLog } : {}),
    ...(hostSettings.functionTimeoutMs !== undefined ? { timeoutMs: hostSettings.functionTimeoutMs } : {}),
  });
  const clock = options.clock === "virtual" ? new VirtualClock() : new RealClock();
  const store = options.stateDir !== undefined ? new InstanceStore(options.stateDir) : undefined;
  const engine = new Engine({
    registry: core.registry,
    invoker,
    clock,
    maxConcurrentActivities: hostSettings.maxConcurrentActivities,
    maxOrchestrationActions: hostSettings.maxOrchestrationActions,
    ...(store !== undefined ? { store } : {}),
    log,
  });

  const triggers = new HttpTriggers(core.registry, invoker, hostSettings.routePrefix);
  const durable = new DurableApi(engine, () => urls);
  const files = options.functions ?? resolveMainFiles(repoRoot, OUT_ROOT);
  if (files.length === 0) throw new Error(`no function files found (package.json main, resolved under ${OUT_ROOT})`);
  const server = await startServer(options.port ?? 0, { durable, triggers });
  const baseUrl = `http://127.0.0.1:${server.port}`;
  urls = durableClientData(baseUrl, hostSettings.hubName, systemKey);
  // With WEBSITE_HOSTNAME set, getClient keeps our URLs instead of rewriting them to localhost:7071.
  process.env.WEBSITE_HOSTNAME = `127.0.0.1:${server.port}`;

  // Nothing of a host that did not start may stay behind: its listening server would keep the caller's process alive.
  let pollers: QueuePoller[] = [];
  let timers = new Map<string, TimerTrigger>();
  try {
    loadFiles(files);
    const registry = core.registry;
    pollers = registry.byTrigger("queueTrigger").flatMap((fn) => {
      try {
        const leaseSeconds = options.queueMessageLeaseSeconds ?? QUEUE_MESSAGE_LEASE_SECONDS;
        return [new QueuePoller(fn, invoker, { ...hostSettings.queues, pollMs: options.queuePollMs ?? 200, leaseSeconds }, log)];
      } catch (err) {
        // As the real host: a function whose binding cannot be resolved is in error; the others run.
        log(`queue trigger '${fn.name}' is in error and will not run: ${err instanceof Error ? err.message : String(err)}`);
        return [];
      }
    });
    timers = new Map(
      registry.byTrigger("timerTrigger").flatMap((fn) => {
        try {
          return [[fn.name, new TimerTrigger(fn, invoker, log, options.timerSchedules ?? true)] as const];
        } catch (err) {
          // As for queue triggers: a schedule that cannot be resolved puts that function in error; the others run.
          log(`timer trigger '${fn.name}' is in error and will not run: ${err instanceof Error ? err.message : String(err)}`);
          return [];
        }
      }),
    );
    engine.restore();
    await Promise.all(pollers.map((p) => p.start()));
  } catch (err) {
    for (const p of pollers) p.stop();
    engine.stop();
    await server.close();
    throw err;
  }
  for (const t of timers.values()) if (t.runOnStartup) void t.fire().catch((err: unknown) => log(`timer '${t.fn.name}': ${String(err)}`));

  const statusOf = (id: string, opts?: { showHistory?: boolean; showInput?: boolean }) => {
    const inst = engine.get(id);
    return inst === undefined ? undefined : toStatus(inst, opts);
  };
  const check = (outcome: "ok" | "notFound" | "gone", id: string): void => {
    if (outcome === "notFound") throw new Error(`no instance with id '${id}'`);
    if (outcome === "gone") throw new Error(`instance '${id}' is already in a terminal state`);
  };

  const client: LocalHostClient = {
    startNew: (name, opts) => settle(() => engine.startNew(name, opts)),
    getStatus: (id, opts) => Promise.resolve(statusOf(id, opts)),
    async waitForCompletion(id, opts = {}) {
      const timeoutMs = opts.timeoutMs ?? 30_000;
      await until(() => TERMINAL.has(engine.get(id)?.runtimeStatus ?? "Pending"), timeoutMs, `instance '${id}' to complete (status ${engine.get(id)?.runtimeStatus ?? "unknown"})`);
      const status = statusOf(id, { showHistory: opts.showHistory ?? false });
      if (status === undefined) throw new Error(`instance '${id}' disappeared`);
      return status;
    },
    raiseEvent: (id, name, data) => settle(() => check(engine.raiseEvent(id, name, data), id)),
    terminate: (id, reason = "") => settle(() => check(engine.terminate(id, reason), id)),
    suspend: (id, reason = "") => settle(() => check(engine.suspend(id, reason), id)),
    resume: (id, reason = "") => settle(() => check(engine.resume(id, reason), id)),
    purge: (id) => settle(() => engine.purge(id)),
    listInstances: (filter = {}) =>
      Promise.resolve(
        engine
          .list()
          .filter((i) => filter.runtimeStatus === undefined || filter.runtimeStatus.includes(i.runtimeStatus))
          .filter((i) => filter.createdTimeFrom === undefined || i.createdTime >= filter.createdTimeFrom.toISOString())
          .filter((i) => filter.createdTimeTo === undefined || i.createdTime <= filter.createdTimeTo.toISOString())
          .filter((i) => filter.instanceIdPrefix === undefined || i.instanceId.startsWith(filter.instanceIdPrefix))
          .map((i) => toStatus(i)),
      ),
  };

  let stopped = false;
  return {
    baseUrl,
    port: server.port,
    client,
    systemKey,
    functions: core.registry.all().map((f) => f.name),
    async waitForIdle(opts = {}) {
      const settled = () => engine.isQuiescent() && (!clock.virtual || engine.pendingTimers() === 0) && pollers.every((p) => p.idle);
      // Two consecutive settled observations: a poll or a pump may be between ticks. And every watched queue empty: a
      // message enqueued after a poller's last empty poll is not in its `idle` yet.
      const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
      for (;;) {
        await until(() => settled(), Math.max(0, deadline - Date.now()), "the host to become idle");
        await new Promise((r) => setTimeout(r, 20));
        await until(() => settled(), Math.max(0, deadline - Date.now()), "the host to become idle");
        const queued = await Promise.all(pollers.map((p) => p.queued()));
        if (queued.every((n) => n === 0) && settled()) return;
        if (Date.now() > deadline) throw new Error(`timed out waiting for the host to become idle: ${queued.reduce((a, b) => a + b, 0)} queue message(s) not taken`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    stats: () => ({ ...engine.stats }),
    advanceTime(ms: number) {
      engine.advanceTo(clock.now() + ms);
      return Promise.resolve();
    },
    async fireTimer(name: string) {
      const timer = timers.get(name);
      if (timer === undefined) throw new Error(`no timer trigger named '${name}' (timer triggers: ${[...timers.keys()].join(", ") || "none"})`);
      await timer.fire();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const p of pollers) p.stop();
      for (const t of timers.values()) t.stop();
      engine.stop();
      await server.close();
    },
  };
}
