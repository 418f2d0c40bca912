/**
 * A local HTTPS fake of the ARM Data Factory API (api-version 2018-06-01) for the `adf` copy engine's tests.
 *
 * - createRun / pipelineRuns.get / cancel / queryPipelineRuns with a run state machine
 *   Queued → InProgress → Succeeded | Failed | Cancelled (Canceling while a cancel is pending).
 * - When a run executes it really copies the blob in Azurite as the shipped pipeline (adf/) would: the snapshot through
 *   its SAS URL (the HTTP connector), or the live blob through the lake account (the Blob connector with managed
 *   identity), written to the backup account with the sink metadata from the `metadata` parameter.
 * - A managed-identity token endpoint (App Service style: IDENTITY_ENDPOINT + IDENTITY_HEADER) on plain http, so the
 *   product's real credential chain (DefaultAzureCredential → ManagedIdentityCredential) gets the bearer token the
 *   fake then requires.
 * - Run parameters reported as ADF reports them: those the shipped pipeline declares SecureString are masked.
 * - Fault injection: per-operation HTTP faults (429 with Retry-After, 5xx, 403, a createRun whose response is lost
 *   after the run was created) and per-run behaviours (Failed, Cancelled, hang until cancelled, held until the test
 *   releases it, corrupt copy).
 */
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import path from "node:path";

import { BlobServiceClient } from "@azure/storage-blob";

import { findRepoRoot } from "../../../local-host/app-loader";

export type Operation = "createRun" | "get" | "cancel" | "query" | "token";

export type HttpFault =
  | { readonly kind: "status"; readonly status: number; readonly retryAfterSeconds?: number; readonly code?: string }
  /** createRun only: the run is created, then the socket is destroyed before the answer. */
  | { readonly kind: "loseResponse" };

export type RunBehaviour =
  | { readonly outcome: "Succeeded" }
  | { readonly outcome: "Failed"; readonly message: string }
  /** The run is cancelled from elsewhere (portal, another operator). */
  | { readonly outcome: "Cancelled" }
  /** Stays InProgress until cancelled (for timeouts). */
  | { readonly outcome: "Hang" }
  /** Stays InProgress until `release` settles, then copies and succeeds (a run as long as a test needs). */
  | { readonly outcome: "Held"; readonly release: Promise<void> }
  /** Copies, but the written content differs in its last byte (for verification failures). */
  | { readonly outcome: "Corrupt" };

export interface FakeRun {
  readonly runId: string;
  readonly pipelineName: string;
  /** As ADF reports them: every value a string; those the shipped pipeline declares SecureString masked. */
  readonly parameters: Record<string, string>;
  /** As createRun received them, unmasked (ADF never shows these; for tests that check what the app sent). */
  readonly received: Readonly<Record<string, string>>;
  status: "Queued" | "InProgress" | "Succeeded" | "Failed" | "Canceling" | "Cancelled";
  message: string;
  runStart: Date;
  runEnd?: Date;
  lastUpdated: Date;
}

export interface AdfFakeOptions {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly factory: string;
  readonly pipeline: string;
  readonly cert: string;
  readonly key: string;
  /** Connection strings the "pipeline" uses: the lake (its managed identity) and the backup account. */
  readonly sourceConnectionString: string;
  readonly backupConnectionString: string;
  /** Time in Queued, then in InProgress before the copy (ms). */
  readonly queuedMs?: number;
  readonly runMs?: number;
}

export interface AdfFake {
  /** ARM endpoint for ADF_ENDPOINT, e.g. https://127.0.0.1:PORT */
  readonly endpoint: string;
  /** IDENTITY_ENDPOINT / IDENTITY_HEADER for the app's managed identity. */
  readonly identityEndpoint: string;
  readonly identityHeader: string;
  readonly runs: Map<string, FakeRun>;
  /** Counts of requests per operation (after auth), for assertions such as "createRun was called once". */
  readonly calls: Record<Operation, number>;
  /** The filter of every queryPipelineRuns call, in order (how wide the duplicate-run lookup looked). */
  readonly queries: QueryFilter[];
  /** Queue a fault for the next calls of an operation (FIFO, one fault per call). */
  injectFault(operation: Operation, fault: HttpFault, times?: number): void;
  /** Behaviour of the next runs created (FIFO); Succeeded when none is queued. */
  nextRun(behaviour: RunBehaviour): void;
  /** Deletes (false) or restores (true) the pipeline: createRun on a missing pipeline answers 404 like ADF. */
  setPipelineExists(exists: boolean): void;
  stop(): Promise<void>;
}

/** The factory and pipeline the tests and the demo point the product at. */
export const FAKE_FACTORY = {
  subscriptionId: "6c1f7e4a-1b2c-4d5e-8f90-0a1b2c3d4e5f",
  resourceGroup: "rg-backup",
  factory: "adf-backup",
  pipeline: "BlobBackupCopy",
} as const;

/**
 * The app settings that put the product on its ADF engine against this fake, including the App Service
 * managed-identity endpoint the fake serves, so the product's credential chain runs unchanged. The fake copies small
 * blobs, so every blob goes through ADF here: one request per blob (no batches, BATCH_MAX_BLOB_BYTES 0) and no size
 * below which the server copies instead (ADF_MIN_BLOB_BYTES 0).
 */
export function adfEngineSettings(fake: AdfFake): Record<string, string> {
  return {
    COPY_ENGINE: "adf",
    BATCH_MAX_BLOB_BYTES: "0",
    ADF_MIN_BLOB_BYTES: "0",
    ADF_SUBSCRIPTION_ID: FAKE_FACTORY.subscriptionId,
    ADF_RESOURCE_GROUP: FAKE_FACTORY.resourceGroup,
    ADF_FACTORY: FAKE_FACTORY.factory,
    ADF_PIPELINE: FAKE_FACTORY.pipeline,
    ADF_ENDPOINT: fake.endpoint,
    IDENTITY_ENDPOINT: fake.identityEndpoint,
    IDENTITY_HEADER: fake.identityHeader,
  };
}

export interface QueryFilter {
  readonly lastUpdatedAfter: string;
  readonly lastUpdatedBefore: string;
  readonly filters?: readonly { operand: string; operator: string; values: string[] }[];
}

const TOKEN = `fake-arm-token-${randomUUID()}`;

/** The parameters the shipped pipeline (adf/pipeline/BlobBackupCopy.json) declares SecureString: ADF masks those. */
function shippedSecureParameters(): ReadonlySet<string> {
  const file = path.join(findRepoRoot(__dirname), "adf", "pipeline", "BlobBackupCopy.json");
  const pipeline = JSON.parse(fs.readFileSync(file, "utf8")) as { properties: { parameters: Record<string, { type: string }> } };
  return new Set(Object.entries(pipeline.properties.parameters).filter(([, p]) => p.type === "SecureString").map(([name]) => name));
}

export async function startAdfFake(options: AdfFakeOptions): Promise<AdfFake> {
  const runs = new Map<string, FakeRun>();
  const secureParameters = shippedSecureParameters();
  const faults = new Map<Operation, HttpFault[]>();
  const behaviours: RunBehaviour[] = [];
  const calls: Record<Operation, number> = { createRun: 0, get: 0, cancel: 0, query: 0, token: 0 };
  const queries: QueryFilter[] = [];
  const timing = { queuedMs: options.queuedMs ?? 200, runMs: options.runMs ?? 500 };
  const timers = new Set<NodeJS.Timeout>();
  let pipelineExists = true;
  const identityHeader = randomUUID();
  const source = BlobServiceClient.fromConnectionString(options.sourceConnectionString);
  const backup = BlobServiceClient.fromConnectionString(options.backupConnectionString);
  const prefix = `/subscriptions/${options.subscriptionId}/resourceGroups/${options.resourceGroup}/providers/Microsoft.DataFactory/factories/${options.factory}`;

  const later = (ms: number, fn: () => void): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  const touch = (run: FakeRun, status: FakeRun["status"], message = run.message): void => {
    run.status = status;
    run.message = message;
    run.lastUpdated = new Date();
    if (status === "Succeeded" || status === "Failed" || status === "Cancelled") run.runEnd = run.lastUpdated;
  };

  async function copy(run: FakeRun, secure: { snapshotUrl: string }, corrupt: boolean): Promise<void> {
    const p = run.parameters;
    let content: Buffer;
    let contentType: string | undefined;
    if (secure.snapshotUrl !== "") {
      const response = await fetch(secure.snapshotUrl);
      if (!response.ok) throw new Error(`ErrorCode=HttpSourceUnavailable, HTTP ${response.status} reading the snapshot`);
      content = Buffer.from(await response.arrayBuffer());
      contentType = response.headers.get("content-type") ?? undefined;
    } else {
      const blob = source.getContainerClient(p.sourceContainer ?? "").getBlobClient(p.sourcePath ?? "");
      content = await blob.downloadToBuffer();
      contentType = (await blob.getProperties()).contentType;
    }
    if (corrupt && content.length > 0) content[content.length - 1] = (content[content.length - 1] ?? 0) ^ 0xff;
    const metadata = Object.fromEntries(
      (JSON.parse(p.metadata ?? "[]") as { name: string; value: string }[]).map(({ name, value }) => [name, value]),
    );
    const target = backup.getContainerClient(p.backupContainer ?? "");
    await target.createIfNotExists();
    await target.getBlockBlobClient(p.backupPath ?? "").uploadData(content, {
      metadata,
      ...(contentType !== undefined && { blobHTTPHeaders: { blobContentType: contentType } }),
    });
  }

  function execute(run: FakeRun, behaviour: RunBehaviour, secure: { snapshotUrl: string }): void {
    later(timing.queuedMs, () => {
      if (run.status !== "Queued") return;
      touch(run, "InProgress");
      if (behaviour.outcome === "Hang") return;
      const finish = (): void => {
        if (run.status !== "InProgress") return;
        if (behaviour.outcome === "Failed") return touch(run, "Failed", behaviour.message);
        if (behaviour.outcome === "Cancelled") return touch(run, "Cancelled", "Pipeline run was cancelled by the user.");
        copy(run, secure, behaviour.outcome === "Corrupt").then(
          () => run.status === "InProgress" && touch(run, "Succeeded", ""),
          (err: unknown) => touch(run, "Failed", `Operation on target CopyBackup failed: ${err instanceof Error ? err.message : String(err)}`),
        );
      };
      if (behaviour.outcome === "Held") void behaviour.release.then(finish);
      else later(timing.runMs, finish);
    });
  }

  const armError = (res: http.ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { "content-type": "application/json", "x-ms-request-id": randomUUID(), ...headers });
    res.end(JSON.stringify({ error: { code, message } }));
  };

  const json = (res: http.ServerResponse, body: unknown): void => {
    res.writeHead(200, { "content-type": "application/json", "x-ms-request-id": randomUUID() });
    res.end(JSON.stringify(body));
  };

  const runJson = (run: FakeRun): unknown => ({
    id: `${prefix}/pipelineruns/${run.runId}`,
    runId: run.runId,
    runGroupId: run.runId,
    pipelineName: run.pipelineName,
    parameters: run.parameters,
    invokedBy: { name: "Manual", id: randomUUID(), invokedByType: "Manual" },
    runStart: run.runStart.toISOString(),
    runEnd: run.runEnd?.toISOString() ?? null,
    durationInMs: run.runEnd === undefined ? null : run.runEnd.getTime() - run.runStart.getTime(),
    status: run.status,
    message: run.message,
    lastUpdated: run.lastUpdated.toISOString(),
  });

  /** Applies an injected fault; true when the request was answered (or dropped) by it. */
  function fault(operation: Operation, req: http.IncomingMessage, res: http.ServerResponse, afterCreate?: () => void): boolean {
    const f = faults.get(operation)?.shift();
    if (f === undefined) return false;
    if (f.kind === "loseResponse") {
      afterCreate?.();
      req.socket.destroy();
      return true;
    }
    const headers: Record<string, string> = f.retryAfterSeconds === undefined ? {} : { "retry-after": String(f.retryAfterSeconds) };
    const code = f.code ?? (f.status === 429 ? "TooManyRequests" : f.status === 403 ? "AuthorizationFailed" : f.status >= 500 ? "InternalServerError" : "BadRequest");
    const message =
      f.status === 403
        ? "The client does not have authorization to perform action 'Microsoft.DataFactory/factories/pipelines/createrun/action'."
        : `Injected ${f.status}`;
    armError(res, f.status, code, message, headers);
    return true;
  }

  async function body(req: http.IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    return text === "" ? undefined : (JSON.parse(text) as unknown);
  }

  async function handleArm(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "https://fake");
    if (url.searchParams.get("api-version") !== "2018-06-01") return armError(res, 400, "InvalidApiVersionParameter", "api-version 2018-06-01 expected");
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return armError(res, 401, "InvalidAuthenticationToken", "missing or wrong bearer token");
    if (!url.pathname.startsWith(prefix)) return armError(res, 404, "ResourceNotFound", "factory not found");
    const rest = url.pathname.slice(prefix.length);
    let m: RegExpMatchArray | null;
    if (req.method === "POST" && (m = /^\/pipelines\/([^/]+)\/createRun$/.exec(rest))) {
      calls.createRun++;
      const pipelineName = decodeURIComponent(m[1] ?? "");
      const raw = ((await body(req)) ?? {}) as Record<string, unknown>;
      const create = (): FakeRun => {
        const received = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
        const snapshotUrl = received.sourceSnapshotUrl ?? "";
        // ADF masks the values of the parameters its pipeline declares SecureString in Get/List answers.
        const parameters = Object.fromEntries(Object.entries(received).map(([k, v]) => [k, secureParameters.has(k) && v !== "" ? "**********" : v]));
        const now = new Date();
        const run: FakeRun = { runId: randomUUID(), pipelineName, parameters, received, status: "Queued", message: "", runStart: now, lastUpdated: now };
        runs.set(run.runId, run);
        execute(run, behaviours.shift() ?? { outcome: "Succeeded" }, { snapshotUrl });
        return run;
      };
      if (fault("createRun", req, res, create)) return;
      if (pipelineName !== options.pipeline || !pipelineExists) return armError(res, 404, "PipelineNotFound", `Pipeline '${pipelineName}' not found in factory '${options.factory}'.`);
      return json(res, { runId: create().runId });
    }
    if (req.method === "GET" && (m = /^\/pipelineruns\/([^/]+)$/.exec(rest))) {
      calls.get++;
      if (fault("get", req, res)) return;
      const run = runs.get(decodeURIComponent(m[1] ?? ""));
      return run === undefined ? armError(res, 404, "PipelineRunNotFound", "The pipeline run was not found.") : json(res, runJson(run));
    }
    if (req.method === "POST" && (m = /^\/pipelineruns\/([^/]+)\/cancel$/.exec(rest))) {
      calls.cancel++;
      if (fault("cancel", req, res)) return;
      const run = runs.get(decodeURIComponent(m[1] ?? ""));
      if (run === undefined) return armError(res, 404, "PipelineRunNotFound", "The pipeline run was not found.");
      if (run.status === "Queued" || run.status === "InProgress") {
        touch(run, "Canceling");
        later(50, () => touch(run, "Cancelled", "Pipeline run was cancelled by the user."));
      }
      res.writeHead(200, { "x-ms-request-id": randomUUID() });
      return void res.end();
    }
    if (req.method === "POST" && rest === "/queryPipelineRuns") {
      calls.query++;
      if (fault("query", req, res)) return;
      const filter = ((await body(req)) ?? {}) as Partial<QueryFilter>;
      if (filter.lastUpdatedAfter === undefined || filter.lastUpdatedBefore === undefined) {
        return armError(res, 400, "InvalidRequest", "lastUpdatedAfter and lastUpdatedBefore are required");
      }
      queries.push({ lastUpdatedAfter: filter.lastUpdatedAfter, lastUpdatedBefore: filter.lastUpdatedBefore, ...(filter.filters !== undefined && { filters: filter.filters }) });
      const after = Date.parse(filter.lastUpdatedAfter);
      const before = Date.parse(filter.lastUpdatedBefore);
      const value = [...runs.values()]
        .filter((r) => r.lastUpdated.getTime() >= after && r.lastUpdated.getTime() <= before)
        .filter((r) =>
          (filter.filters ?? []).every((f) => f.operand !== "PipelineName" || (f.operator === "Equals" ? f.values.includes(r.pipelineName) : !f.values.includes(r.pipelineName))),
        )
        .map(runJson);
      return json(res, { value });
    }
    return armError(res, 404, "NotFound", `no route for ${req.method ?? ""} ${rest}`);
  }

  const arm = https.createServer({ cert: options.cert, key: options.key }, (req, res) => {
    handleArm(req, res).catch((err: unknown) => armError(res, 500, "InternalServerError", String(err)));
  });
  const identity = http.createServer((req, res) => {
    calls.token++;
    const url = new URL(req.url ?? "/", "http://fake");
    if (req.headers["x-identity-header"] !== identityHeader || url.searchParams.get("resource") === null) {
      res.writeHead(401, { "content-type": "application/json" });
      return void res.end(JSON.stringify({ error: "unauthorized", error_description: "bad identity header" }));
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify({
        access_token: TOKEN,
        expires_on: String(Math.floor(Date.now() / 1000) + 3600),
        resource: url.searchParams.get("resource"),
        token_type: "Bearer",
        client_id: "00000000-0000-0000-0000-000000000000",
      }),
    );
  });
  arm.listen(0, "127.0.0.1");
  identity.listen(0, "127.0.0.1");
  await Promise.all([once(arm, "listening"), once(identity, "listening")]);

  return {
    endpoint: `https://127.0.0.1:${(arm.address() as AddressInfo).port}`,
    identityEndpoint: `http://127.0.0.1:${(identity.address() as AddressInfo).port}/msi/token`,
    identityHeader,
    runs,
    calls,
    queries,
    injectFault(operation, f, times = 1) {
      const list = faults.get(operation) ?? [];
      for (let i = 0; i < times; i++) list.push(f);
      faults.set(operation, list);
    },
    nextRun(behaviour) {
      behaviours.push(behaviour);
    },
    setPipelineExists(exists) {
      pipelineExists = exists;
    },
    async stop() {
      for (const t of timers) clearTimeout(t);
      arm.closeAllConnections();
      identity.closeAllConnections();
      arm.close();
      identity.close();
      await Promise.all([once(arm, "close"), once(identity, "close")]);
    },
  };
}
