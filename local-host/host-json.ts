/** The host.json settings the local host honours, with the real host's defaults. */
import fs from "node:fs";
import path from "node:path";

export interface HostJson {
  readonly extensions?: {
    readonly http?: { readonly routePrefix?: string };
    readonly durableTask?: { readonly hubName?: string; readonly maxConcurrentActivityFunctions?: number };
    readonly queues?: {
      readonly maxDequeueCount?: number;
      readonly visibilityTimeout?: string;
      readonly messageEncoding?: "base64" | "none";
      readonly batchSize?: number;
      readonly maxPollingInterval?: string;
    };
  };
}

export interface HostSettings {
  readonly routePrefix: string;
  readonly hubName: string;
  readonly maxConcurrentActivities: number;
  readonly queues: { readonly maxDequeueCount: number; readonly visibilityTimeoutMs: number; readonly base64: boolean; readonly batchSize: number };
}

/** "hh:mm:ss" or "d.hh:mm:ss" (a .NET TimeSpan) → milliseconds. */
export function parseTimeSpan(text: string): number {
  const m = /^(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)$/.exec(text.trim());
  if (m === null) throw new Error(`not a TimeSpan (d.hh:mm:ss): ${text}`);
  const [, d = "0", h = "0", min = "0", s = "0"] = m;
  return ((Number(d) * 24 + Number(h)) * 60 + Number(min)) * 60_000 + Number(s) * 1000;
}

/** Resolves `%SETTING%` from the environment, as binding properties allow. */
export function resolveSetting(value: string, env: NodeJS.ProcessEnv = process.env): string {
  return value.replace(/%([^%]+)%/g, (_m, name: string) => {
    const v = env[name];
    if (v === undefined) throw new Error(`app setting '${name}' (used as %${name}%) is not set`);
    return v;
  });
}

function merge(base: unknown, override: unknown): unknown {
  if (typeof base !== "object" || base === null || typeof override !== "object" || override === null || Array.isArray(override)) {
    return override === undefined ? base : override;
  }
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(override)) out[k] = merge(out[k], v);
  return out;
}

export function loadHostJson(repoRoot: string, overrides: HostJson = {}): HostSettings {
  const file = path.join(repoRoot, "host.json");
  const base = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as HostJson) : {};
  const json = merge(base, overrides) as HostJson;
  const ext = json.extensions ?? {};
  let hubName = ext.durableTask?.hubName ?? "TestHubName";
  try {
    hubName = resolveSetting(hubName);
  } catch {
    hubName = "TestHubName";
  }
  return {
    routePrefix: (ext.http?.routePrefix ?? "api").replace(/^\/+|\/+$/g, ""),
    hubName,
    maxConcurrentActivities: ext.durableTask?.maxConcurrentActivityFunctions ?? 10,
    queues: {
      maxDequeueCount: ext.queues?.maxDequeueCount ?? 5,
      visibilityTimeoutMs: ext.queues?.visibilityTimeout !== undefined ? parseTimeSpan(ext.queues.visibilityTimeout) : 0,
      base64: (ext.queues?.messageEncoding ?? "base64") === "base64",
      batchSize: ext.queues?.batchSize ?? 16,
    },
  };
}
