/**
 * Runs the local Durable host with the app in a child process. Used where the host needs process-start settings that
 * a test process cannot change afterwards — NODE_EXTRA_CA_CERTS, so the app's real ADF client (built by
 * src/config/clients.ts, no test hooks) trusts the ARM fake's self-signed certificate.
 *
 * The child reads its app settings from LOCAL_HOST_SETTINGS (JSON), prints one line `{"baseUrl": …}` when ready, and
 * stops when its stdin closes. The parent talks to it over the Durable HTTP API.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import readline from "node:readline";

import { recordPid } from "../../dev/pid-log";
import { waitFor } from "./wait-for";

const CHILD_SCRIPT = "host-child-main.js";

export interface ChildStatus {
  readonly runtimeStatus: string;
  readonly output: unknown;
  readonly customStatus?: unknown;
  readonly historyEvents?: readonly { readonly EventType: string; readonly Name?: string; readonly InstanceId?: string; readonly Timestamp: string }[];
}

export interface HostChild {
  readonly baseUrl: string;
  readonly pid: number;
  /** Durable status over HTTP (showHistory): undefined while the instance does not exist. */
  status(instanceId: string): Promise<ChildStatus | undefined>;
  waitForCompletion(instanceId: string, timeoutMs: number): Promise<ChildStatus>;
  /** The child's stderr so far (host diagnostics), for failure messages. */
  readonly log: () => string;
  stop(): Promise<void>;
}

/** `clock: "virtual"`: durable timers fire as soon as the host is otherwise idle (see local-host/engine/clock.ts). */
export async function startHostChild(settings: Record<string, string>, env: Record<string, string>, options: { clock?: "real" | "virtual" } = {}): Promise<HostChild> {
  const child: ChildProcess = spawn(process.execPath, [path.join(__dirname, CHILD_SCRIPT)], {
    env: { ...process.env, ...env, LOCAL_HOST_SETTINGS: JSON.stringify(settings), LOCAL_HOST_CLOCK: options.clock ?? "real" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  recordPid(child.pid, CHILD_SCRIPT);
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-20_000)));
  const lines = readline.createInterface({ input: child.stdout! });
  const first = await Promise.race([
    once(lines, "line").then(([line]) => String(line)),
    once(child, "exit").then(() => {
      throw new Error(`the host child exited before it was ready: ${stderr}`);
    }),
  ]);
  const { baseUrl } = JSON.parse(first) as { baseUrl: string };
  const status: HostChild["status"] = async (id) => {
    const res = await fetch(`${baseUrl}/runtime/webhooks/durabletask/instances/${encodeURIComponent(id)}?showHistory=true`);
    if (res.status === 404) return undefined;
    if (res.status !== 200 && res.status !== 202) throw new Error(`status of ${id}: HTTP ${res.status}`);
    return (await res.json()) as ChildStatus;
  };
  return {
    baseUrl,
    pid: child.pid ?? -1,
    status,
    async waitForCompletion(id, timeoutMs) {
      try {
        const done = await waitFor(() => status(id), {
          until: (s) => s !== undefined && ["Completed", "Failed", "Terminated", "Canceled"].includes(s.runtimeStatus),
          describe: `instance ${id} to complete`,
          timeoutMs,
          intervalMs: 100,
        });
        if (done !== undefined) return done;
      } catch (err) {
        throw new Error(`${err instanceof Error ? err.message : String(err)}\nhost log:\n${stderr}`);
      }
      throw new Error(`instance ${id} vanished`);
    },
    log: () => stderr,
    async stop() {
      process.removeListener("exit", killOnExit);
      if (child.exitCode !== null) return;
      child.stdin?.end();
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await once(child, "exit");
      clearTimeout(timer);
    },
  };
}
