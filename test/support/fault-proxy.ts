/**
 * A loopback HTTP proxy between the app and Azurite (blob and queue endpoints) that injects the faults Azure Storage
 * really produces, at seeded rates, per operation:
 *
 * - `serverBusy` / `internalError`: 503 `ServerBusy` / 500 `InternalError` with Azure's error XML body and
 *   `x-ms-error-code` (no body for HEAD, as Azure), without forwarding the request;
 * - `lostResponse`: the request is forwarded, Azurite applies it and answers, then the client's connection is reset
 *   (ECONNRESET): the write happened, the client does not know;
 * - `latency`: a delay before forwarding and/or before answering (`Infinity` holds the request until `release()`).
 *
 * Requests are forwarded unchanged, `Host` included: shared-key signatures cover the path and the `x-ms-*` headers, and
 * Azurite accepts a copy source only when its host:port equals the request's `Host` (Azurite
 * 3.37.0's copy-source check). So the app's copy-source URLs, built from its proxied clients, point at the proxy
 * too, and Azurite's own check of a copy source (an HTTP HEAD it sends to that URL) comes back through the proxy. That
 * check is the service reading its own data, which in Azure never crosses the client's network path: it is counted as
 * `internal` and never faulted. Faults on the copy itself are selected with `copy`.
 *
 * A fault is decided by a hash of (seed, operation, the request's number within its operation), so a run with the same
 * seed and the same sequence of requests per operation gets the same faults, whatever the interleaving across
 * operations.
 */
import { createHash, randomUUID } from "node:crypto";
import { once } from "node:events";
import http from "node:http";
import type net from "node:net";
import { pipeline } from "node:stream";

import type { AzuriteInstance } from "../../dev/azurite";

/** What a request does, as the proxy classifies it (first match wins, in this order). */
export type ProxyOperation =
  /** `comp=snapshot` */
  | "snapshot"
  /** `comp=lease` (acquire, renew, release, break, change) */
  | "lease"
  /** a request with `x-ms-copy-source`: Copy Blob, Put Blob From URL (sync copy), Put Block From URL */
  | "copy"
  /** `comp=list`: list blobs or containers */
  | "list"
  /** any other GET or HEAD on the blob endpoint (download, properties, block list, ...) */
  | "read"
  /** any other DELETE on the blob endpoint */
  | "delete"
  /** any other blob write: Put Blob, Put Block, Put Block List, set metadata, create container, ... */
  | "put"
  /** every request to the queue endpoint (messages and queue management) */
  | "queue";

export const PROXY_OPERATIONS: readonly ProxyOperation[] = ["snapshot", "lease", "copy", "list", "read", "delete", "put", "queue"];

export interface LatencyFault {
  /** Share of the operation's requests delayed (default 1: all). */
  readonly rate?: number;
  /** Delay before the request is forwarded to Azurite (it is not applied yet). `Infinity`: until `release()`. */
  readonly beforeForwardMs?: number;
  /** Delay after Azurite answered (it is applied) before the answer is passed on. `Infinity`: until `release()`. */
  readonly beforeAnswerMs?: number;
}

export interface OperationFaults {
  /** Share of requests answered `503 ServerBusy` (not forwarded). */
  readonly serverBusy?: number;
  /** Share of requests answered `500 InternalError` (not forwarded). */
  readonly internalError?: number;
  /** Share of requests forwarded and applied whose response is then lost (the client's connection is reset). */
  readonly lostResponse?: number;
  readonly latency?: LatencyFault;
  /** Only requests with one of these HTTP methods get faults (e.g. `["POST"]` for Put Message on `queue`). */
  readonly methods?: readonly string[];
}

/**
 * Faults per operation. `all` applies to every operation; an operation's own entry overrides it field by field.
 * The three error rates of one operation must add up to at most 1 (one draw decides which, if any, applies).
 */
export type FaultPlan = Partial<Record<ProxyOperation | "all", OperationFaults>>;

export type FaultKind = "serverBusy" | "internalError" | "lostResponse" | "latency";

export interface OperationCounts {
  /** Requests received (faulted or not). */
  requests: number;
  serverBusy: number;
  internalError: number;
  lostResponse: number;
  /** Requests delayed by a latency fault. */
  delayed: number;
  /** Requests received per HTTP method. */
  byMethod: Record<string, number>;
}

export interface InjectedFault {
  readonly operation: ProxyOperation;
  /** The request's number within its operation, from 1. */
  readonly n: number;
  readonly fault: FaultKind;
  readonly method: string;
  /** The URL path (`/<account>/<container>/<blob>` or `/<account>/<queue>/messages`), without the query. */
  readonly path: string;
}

export interface HeldRequest {
  readonly operation: ProxyOperation | "internal";
  readonly method: string;
  readonly path: string;
  readonly phase: "beforeForward" | "beforeAnswer";
}

type ProxiedSettings = Readonly<Record<"AzureWebJobsStorage" | "SourceStorage" | "BackupStorage", string>>;

export interface FaultProxy {
  readonly seed: number;
  readonly blobPort: number;
  readonly queuePort: number;
  /** Azurite's three connection strings with their blob and queue endpoints on the proxy. */
  readonly settings: ProxiedSettings;
  /** A copy of app settings with every Azurite blob/queue endpoint (host:port) pointed at the proxy. */
  throughProxy<T extends Record<string, string>>(settings: T): T;
  /** Replaces the faults of each operation named (an empty object clears it); the others keep theirs. */
  set(plan: FaultPlan): void;
  /** No faults from now on (held requests stay held until `release()`). */
  clear(): void;
  /** Counts per operation since the start (or the last `resetCounts()`); `internal` = Azurite's own copy-source checks. */
  counts(): Record<ProxyOperation | "internal", OperationCounts>;
  resetCounts(): void;
  /** Faults injected so far (the latest 10,000), oldest first. */
  injected(): readonly InjectedFault[];
  /** Requests waiting in a latency fault now. */
  held(): readonly HeldRequest[];
  /** Ends every current latency wait now (the requests go on). */
  release(): void;
  stop(): Promise<void>;
}

export interface FaultProxyOptions {
  /** Decides which requests get faults (default 1). Print it when a test fails, to replay the run. */
  readonly seed?: number;
  readonly faults?: FaultPlan;
}

const HOST = "127.0.0.1";
const INJECTED_KEPT = 10_000;
/** Hop-by-hop headers are the proxy's own business on each of its two connections. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"]);

const ERRORS = {
  serverBusy: { status: 503, code: "ServerBusy", message: "The server is currently unable to receive requests. Please retry your request." },
  internalError: { status: 500, code: "InternalError", message: "The server encountered an internal error. Please retry the request." },
} as const;

/** Classifies a request. Azurite's copy-source check is its own HTTP client (axios), which no SDK request is. */
export function classifyProxyRequest(endpoint: "blob" | "queue", method: string, url: URL, headers: http.IncomingHttpHeaders): ProxyOperation | "internal" {
  if (endpoint === "queue") return "queue";
  if (headers["x-ms-version"] === undefined && /^axios\//.test(headers["user-agent"] ?? "")) return "internal";
  const comp = url.searchParams.get("comp");
  if (comp === "snapshot") return "snapshot";
  if (comp === "lease") return "lease";
  if (headers["x-ms-copy-source"] !== undefined) return "copy";
  if (comp === "list") return "list";
  if (method === "GET" || method === "HEAD") return "read";
  if (method === "DELETE") return "delete";
  return "put";
}

/** A uniform number in [0, 1) fixed by its inputs. */
function draw(seed: number, operation: string, n: number, purpose: string): number {
  return createHash("sha256").update(`${seed}:${operation}:${n}:${purpose}`).digest().readUInt32BE(0) / 2 ** 32;
}

function checkRate(name: string, value: number | undefined): void {
  if (value !== undefined && !(value >= 0 && value <= 1)) throw new Error(`fault rate ${name} must be within [0, 1]: ${value}`);
}

function validate(plan: FaultPlan): void {
  for (const [op, f] of Object.entries(plan)) {
    if (f === undefined) continue;
    if (op !== "all" && !PROXY_OPERATIONS.includes(op as ProxyOperation)) throw new Error(`unknown proxy operation: ${op}`);
    checkRate(`${op}.serverBusy`, f.serverBusy);
    checkRate(`${op}.internalError`, f.internalError);
    checkRate(`${op}.lostResponse`, f.lostResponse);
    checkRate(`${op}.latency.rate`, f.latency?.rate);
    if ((f.serverBusy ?? 0) + (f.internalError ?? 0) + (f.lostResponse ?? 0) > 1) throw new Error(`the error rates of ${op} add up to more than 1`);
  }
}

function emptyCounts(): Record<ProxyOperation | "internal", OperationCounts> {
  const zero = (): OperationCounts => ({ requests: 0, serverBusy: 0, internalError: 0, lostResponse: 0, delayed: 0, byMethod: {} });
  return Object.fromEntries([...PROXY_OPERATIONS, "internal"].map((op) => [op, zero()])) as Record<ProxyOperation | "internal", OperationCounts>;
}

function forwardedHeaders(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name)));
}

/** Azure's error response: XML body (none for HEAD), `x-ms-error-code`, request id, the request's API version echoed. */
function answerError(req: http.IncomingMessage, res: http.ServerResponse, kind: keyof typeof ERRORS): void {
  const { status, code, message } = ERRORS[kind];
  const requestId = randomUUID();
  const body =
    req.method === "HEAD"
      ? ""
      : `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}\nRequestId:${requestId}\nTime:${new Date().toISOString()}</Message></Error>`;
  const headers: http.OutgoingHttpHeaders = {
    "content-type": "application/xml",
    "content-length": Buffer.byteLength(body),
    "x-ms-request-id": requestId,
    "x-ms-error-code": code,
    server: "Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0",
    date: new Date().toUTCString(),
  };
  if (req.headers["x-ms-version"] !== undefined) headers["x-ms-version"] = req.headers["x-ms-version"];
  if (req.headers["x-ms-client-request-id"] !== undefined) headers["x-ms-client-request-id"] = req.headers["x-ms-client-request-id"];
  res.writeHead(status, headers);
  res.end(body);
}

export async function startFaultProxy(azurite: AzuriteInstance, options: FaultProxyOptions = {}): Promise<FaultProxy> {
  const seed = options.seed ?? 1;
  let plan: FaultPlan = {};
  let counts = emptyCounts();
  const numbers = new Map<string, number>();
  const injected: InjectedFault[] = [];
  const held = new Set<HeldRequest & { readonly wake: () => void }>();
  const sockets = new Set<net.Socket>();
  const agent = new http.Agent({ keepAlive: true });

  const set = (next: FaultPlan): void => {
    validate(next);
    const merged = { ...plan, ...next };
    for (const op of PROXY_OPERATIONS) validate({ [op]: { ...merged.all, ...merged[op] } });
    plan = merged;
  };
  if (options.faults !== undefined) set(options.faults);

  const note = (operation: ProxyOperation, n: number, fault: FaultKind, method: string, path: string): void => {
    counts[operation][fault === "latency" ? "delayed" : fault] += 1;
    injected.push({ operation, n, fault, method, path });
    if (injected.length > INJECTED_KEPT) injected.splice(0, injected.length - INJECTED_KEPT);
  };

  const wait = async (ms: number | undefined, request: Omit<HeldRequest, "phase">, phase: HeldRequest["phase"]): Promise<void> => {
    if (ms === undefined || ms <= 0) return;
    await new Promise<void>((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(() => wake(), ms) : undefined;
      const entry = { ...request, phase, wake: () => wake() };
      function wake(): void {
        if (timer !== undefined) clearTimeout(timer);
        held.delete(entry);
        resolve();
      }
      held.add(entry);
    });
  };

  const handle = (endpoint: "blob" | "queue", upstreamPort: number) => async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const method = req.method ?? "GET";
    const url = new URL(req.url ?? "/", `http://${HOST}`);
    const operation = classifyProxyRequest(endpoint, method, url, req.headers);
    counts[operation].requests += 1;
    counts[operation].byMethod[method] = (counts[operation].byMethod[method] ?? 0) + 1;
    let fault: "serverBusy" | "internalError" | "lostResponse" | undefined;
    let latency: LatencyFault | undefined;
    if (operation !== "internal") {
      const n = (numbers.get(operation) ?? 0) + 1;
      numbers.set(operation, n);
      const faults: OperationFaults = { ...plan.all, ...plan[operation] };
      if (faults.methods === undefined || faults.methods.includes(method)) {
        const u = draw(seed, operation, n, "error");
        const busy = faults.serverBusy ?? 0;
        const internal = busy + (faults.internalError ?? 0);
        const lost = internal + (faults.lostResponse ?? 0);
        fault = u < busy ? "serverBusy" : u < internal ? "internalError" : u < lost ? "lostResponse" : undefined;
        if (faults.latency !== undefined && draw(seed, operation, n, "latency") < (faults.latency.rate ?? 1)) latency = faults.latency;
        if (fault !== undefined) note(operation, n, fault, method, url.pathname);
        if (latency !== undefined) note(operation, n, "latency", method, url.pathname);
      }
    }
    const request = { operation, method, path: url.pathname };

    await wait(latency?.beforeForwardMs, request, "beforeForward");
    if (fault === "serverBusy" || fault === "internalError") {
      // Read the body first so the keep-alive connection stays usable, as the service's front end does.
      req.resume();
      if (!req.readableEnded) await once(req, "end");
      await wait(latency?.beforeAnswerMs, request, "beforeAnswer");
      answerError(req, res, fault);
      return;
    }

    const upstream = http.request({ host: HOST, port: upstreamPort, method, path: req.url, headers: forwardedHeaders(req.headers), agent });
    // A client that goes away aborts the forwarded request; Azurite closing or resetting its side resets the client's.
    res.on("close", () => {
      if (!res.writableFinished) upstream.destroy();
    });
    pipeline(req, upstream, (err) => {
      if (err) req.socket.destroy();
    });
    const [answer] = (await once(upstream, "response")) as [http.IncomingMessage];
    if (fault === "lostResponse") {
      // The write is applied once Azurite has answered; read the whole answer, then reset the client's connection.
      answer.resume();
      if (!answer.readableEnded) await once(answer, "end");
      await wait(latency?.beforeAnswerMs, request, "beforeAnswer");
      req.socket.resetAndDestroy();
      return;
    }
    await wait(latency?.beforeAnswerMs, request, "beforeAnswer");
    res.writeHead(answer.statusCode ?? 502, answer.statusMessage, forwardedHeaders(answer.headers));
    pipeline(answer, res, (err) => {
      if (err) req.socket.destroy();
    });
  };

  const listen = async (endpoint: "blob" | "queue", upstreamPort: number): Promise<http.Server> => {
    const onRequest = handle(endpoint, upstreamPort);
    const server = http.createServer((req, res) => {
      onRequest(req, res).catch(() => req.socket.destroy());
    });
    server.on("connection", (socket: net.Socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    server.listen(0, HOST);
    await once(server, "listening");
    return server;
  };
  const blobServer = await listen("blob", azurite.blobPort);
  const queueServer = await listen("queue", azurite.queuePort);
  const portOf = (server: http.Server): number => {
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("the proxy is not listening on a port");
    return address.port;
  };
  const blobPort = portOf(blobServer);
  const queuePort = portOf(queueServer);

  function throughProxy<T extends Record<string, string>>(settings: T): T {
    const rewrite = (value: string): string =>
      value.replaceAll(`${azurite.host}:${azurite.blobPort}`, `${HOST}:${blobPort}`).replaceAll(`${azurite.host}:${azurite.queuePort}`, `${HOST}:${queuePort}`);
    return Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, rewrite(v)])) as T;
  }

  return {
    seed,
    blobPort,
    queuePort,
    settings: throughProxy({ ...azurite.settings }),
    throughProxy,
    set,
    clear: () => {
      plan = {};
    },
    counts: () => structuredClone(counts),
    resetCounts: () => {
      counts = emptyCounts();
    },
    injected: () => [...injected],
    held: () => [...held].map(({ operation, method, path, phase }) => ({ operation, method, path, phase })),
    release: () => {
      for (const entry of [...held]) entry.wake();
    },
    async stop() {
      for (const entry of [...held]) entry.wake();
      const closed = [blobServer, queueServer].map((server) => new Promise((resolve) => server.close(resolve)));
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      await Promise.all(closed);
    },
  };
}
