/**
 * host.json as the Functions host reads it, for the settings the local host honours. The file (with a test's
 * overrides merged in) becomes configuration keys such as `extensions:queues:batchSize`; app settings named
 * `AzureFunctionsJobHost__path__to__setting` override them, and keys are case-insensitive, as in .NET configuration.
 * Defaults and validation messages are the real host's and the Durable extension's.
 */
import fs from "node:fs";
import path from "node:path";

export interface HostJson {
  readonly functionTimeout?: string;
  readonly extensions?: {
    readonly http?: { readonly routePrefix?: string };
    readonly durableTask?: {
      readonly hubName?: string;
      readonly maxConcurrentActivityFunctions?: number;
      readonly maxOrchestrationActions?: number;
    };
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
  /** The Durable extension's limit on the actions of one orchestration execution. */
  readonly maxOrchestrationActions: number;
  /** `functionTimeout`; undefined for no limit ("-1"). */
  readonly functionTimeoutMs: number | undefined;
  readonly queues: { readonly maxDequeueCount: number; readonly visibilityTimeoutMs: number; readonly base64: boolean; readonly batchSize: number };
}

/** The prefix of app settings that override host.json (`AzureFunctionsJobHost__extensions__http__routePrefix`). */
export const HOST_JSON_OVERRIDE_PREFIX = "AzureFunctionsJobHost__";

/** ScriptJobHostOptionsSetup: the default off the Consumption plan, and the smallest timeout the host accepts. */
const DEFAULT_FUNCTION_TIMEOUT_MS = 30 * 60_000;
const MIN_FUNCTION_TIMEOUT_MS = 1000;
/** DurableTaskOptions.MaxOrchestrationActions. */
const DEFAULT_MAX_ORCHESTRATION_ACTIONS = 100_000;
/** DurableTaskOptions.HubName when host.json names none and WEBSITE_SITE_NAME is unset (outside Azure). */
const LOCAL_DEFAULT_HUB_NAME = "TestHubName";

const TIME_SPAN = /^(-)?(?:(\d+)\.)?(\d+):(\d+)(?::(\d+)(?:\.(\d{1,7}))?)?$/;

/** A .NET TimeSpan ("hh:mm", "hh:mm:ss", "d.hh:mm:ss.fffffff", or whole days "d"; "-" for negative) → milliseconds. */
export function parseTimeSpan(text: string): number {
  const trimmed = text.trim();
  const days = /^(-)?(\d+)$/.exec(trimmed);
  if (days !== null) return (days[1] === "-" ? -1 : 1) * Number(days[2]) * 86_400_000;
  const m = TIME_SPAN.exec(trimmed);
  const [, sign, d = "0", h = "0", min = "0", s = "0", fraction = "0"] = m ?? [];
  if (m === null || Number(h) > 23 || Number(min) > 59 || Number(s) > 59) throw new Error(`not a TimeSpan (d.hh:mm:ss): ${text}`);
  const ms = ((Number(d) * 24 + Number(h)) * 60 + Number(min)) * 60_000 + Number(s) * 1000 + Number(`0.${fraction}`) * 1000;
  return sign === "-" ? -ms : ms;
}

/** Milliseconds → a TimeSpan as .NET prints it ("00:10:00", "1.02:00:00", "00:00:01.5000000"). */
export function formatTimeSpan(ms: number): string {
  const two = (n: number) => String(n).padStart(2, "0");
  const abs = Math.abs(ms);
  const days = Math.floor(abs / 86_400_000);
  const h = Math.floor(abs / 3_600_000) % 24;
  const min = Math.floor(abs / 60_000) % 60;
  const s = Math.floor(abs / 1000) % 60;
  const ticks = Math.round((abs % 1000) * 10_000);
  return `${ms < 0 ? "-" : ""}${days > 0 ? `${days}.` : ""}${two(h)}:${two(min)}:${two(s)}${ticks > 0 ? `.${String(ticks).padStart(7, "0")}` : ""}`;
}

/** An app setting by name, case-insensitively (configuration keys are). */
function appSetting(name: string, env: NodeJS.ProcessEnv): string | undefined {
  if (env[name] !== undefined) return env[name];
  const lower = name.toLowerCase();
  const key = Object.keys(env).find((k) => k.toLowerCase() === lower);
  return key === undefined ? undefined : env[key];
}

/**
 * Resolves `%SETTING%` in a binding property, as the WebJobs name resolver does (ResolveWholeString): an unknown
 * setting fails with its message, and the function whose binding it is does not run.
 */
export function resolveSetting(value: string, env: NodeJS.ProcessEnv = process.env): string {
  const resolved = tryResolveWholeString(value, env);
  if (typeof resolved === "string") return resolved;
  throw new Error(resolved.error);
}

/** Every `%name%` replaced by its app setting, or why not (TryResolveWholeString leaves the text as it was then). */
function tryResolveWholeString(value: string, env: NodeJS.ProcessEnv): string | { readonly error: string } {
  let out = "";
  for (let i = 0; i < value.length; ) {
    const start = value.indexOf("%", i);
    if (start < 0) return out + value.slice(i);
    const end = value.indexOf("%", start + 1);
    if (end < 0) return { error: `The '%' at position ${start} does not have a closing '%'` };
    const name = value.slice(start + 1, end);
    const setting = appSetting(name, env);
    if (setting === undefined) return { error: `'%${name}%' does not resolve to a value.` };
    out += value.slice(i, start) + setting;
    i = end + 1;
  }
  return out;
}

/**
 * The task hub name as the Durable extension settles it: host.json's `hubName` with `%SETTING%` resolved (left as
 * written when it cannot be, which then fails validation), else WEBSITE_SITE_NAME made valid, else "TestHubName".
 */
function taskHubName(configured: string | undefined, env: NodeJS.ProcessEnv): string {
  if (configured === undefined) return sanitizedHubName(env.WEBSITE_SITE_NAME ?? LOCAL_DEFAULT_HUB_NAME);
  const resolved = tryResolveWholeString(configured, env);
  const name = typeof resolved === "string" ? resolved : configured;
  // AzureStorageOptions.ValidateHubName: a valid table name (a letter, then letters and digits) of at most 50
  // characters; its message says 45, the documented maximum.
  if (!/^[A-Za-z][A-Za-z0-9]{2,49}$/.test(name)) {
    throw new Error(`Task hub name '${name}' should contain only alphanumeric characters, start with a letter, and have length between 3 and 45.`);
  }
  return name;
}

/** AzureStorageOptions.IsSanitizedHubName: letters and digits only, a letter first, 3–45 characters. */
function sanitizedHubName(siteName: string): string {
  const kept = siteName.replace(/[^A-Za-z0-9]/g, "");
  if (kept === "") return "DefaultTaskHub";
  const name = (/^[0-9]/.test(kept) ? `t${kept}` : kept).slice(0, 45);
  return name.length < 3 ? `${name}Hub` : name;
}

/** JSON → configuration keys ("extensions:queues:batchsize" → "16"), lower-cased because lookups ignore case. */
function flatten(value: unknown, prefix: string, out: Map<string, string>): void {
  if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix === "" ? k : `${prefix}:${k}`, out);
  } else if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
    out.set(prefix.toLowerCase(), String(value));
  } else if (value === null) {
    out.set(prefix.toLowerCase(), "");
  }
}

function merge(base: unknown, override: unknown): unknown {
  if (typeof base !== "object" || base === null || typeof override !== "object" || override === null || Array.isArray(override)) {
    return override === undefined ? base : override;
  }
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(override)) out[k] = merge(out[k], v);
  return out;
}

/** host.json's configuration: the file and a test's overrides, then AzureFunctionsJobHost__ app settings over them. */
class HostConfig {
  readonly #values = new Map<string, string>();

  constructor(json: unknown, env: NodeJS.ProcessEnv) {
    flatten(json, "", this.#values);
    const prefix = HOST_JSON_OVERRIDE_PREFIX.toLowerCase();
    for (const [name, value] of Object.entries(env)) {
      if (value !== undefined && name.toLowerCase().startsWith(prefix)) {
        this.#values.set(name.slice(prefix.length).replaceAll("__", ":").toLowerCase(), value);
      }
    }
  }

  string(key: string): string | undefined {
    return this.#values.get(key.toLowerCase());
  }

  integer(key: string, fallback: number): number {
    const text = this.string(key);
    if (text === undefined) return fallback;
    if (!/^\s*[+-]?\d+\s*$/.test(text)) throw this.#notConvertible(key, "System.Int32");
    return Number(text);
  }

  /** A TimeSpan in milliseconds, or undefined when absent. */
  timeSpan(key: string): number | undefined {
    const text = this.string(key);
    if (text === undefined) return undefined;
    try {
      return parseTimeSpan(text);
    } catch {
      throw this.#notConvertible(key, "System.TimeSpan");
    }
  }

  /** Microsoft.Extensions.Configuration's binder message. */
  #notConvertible(key: string, type: string): Error {
    return new Error(`Failed to convert configuration value at 'AzureFunctionsJobHost:${key}' to type '${type}'.`);
  }
}

/** `functionTimeout`: the host's default when absent, no limit for -1, and its bounds otherwise. */
function functionTimeout(config: HostConfig): number | undefined {
  const ms = config.timeSpan("functionTimeout");
  if (ms === undefined) return DEFAULT_FUNCTION_TIMEOUT_MS;
  if (ms === -86_400_000) return undefined;
  if (ms < MIN_FUNCTION_TIMEOUT_MS) {
    throw new Error(`FunctionTimeout must be greater than ${formatTimeSpan(MIN_FUNCTION_TIMEOUT_MS)} and less than 10675199.02:48:05.4775807.`);
  }
  return ms;
}

export function loadHostJson(repoRoot: string, overrides: HostJson = {}, env: NodeJS.ProcessEnv = process.env): HostSettings {
  const file = path.join(repoRoot, "host.json");
  const base = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as unknown) : {};
  const config = new HostConfig(merge(base, overrides), env);
  const visibilityTimeoutMs = config.timeSpan("extensions:queues:visibilityTimeout");
  return {
    routePrefix: (config.string("extensions:http:routePrefix") ?? "api").replace(/^\/+|\/+$/g, ""),
    hubName: taskHubName(config.string("extensions:durableTask:hubName"), env),
    maxConcurrentActivities: config.integer("extensions:durableTask:maxConcurrentActivityFunctions", 10),
    maxOrchestrationActions: config.integer("extensions:durableTask:maxOrchestrationActions", DEFAULT_MAX_ORCHESTRATION_ACTIONS),
    functionTimeoutMs: functionTimeout(config),
    queues: {
      maxDequeueCount: config.integer("extensions:queues:maxDequeueCount", 5),
      visibilityTimeoutMs: visibilityTimeoutMs ?? 0,
      base64: (config.string("extensions:queues:messageEncoding") ?? "base64").toLowerCase() === "base64",
      batchSize: config.integer("extensions:queues:batchSize", 16),
    },
  };
}
