/**
 * The Durable Functions HTTP API, under /runtime/webhooks/durabletask/ — both the public webhook routes that
 * createCheckStatusResponse links to and the RPC routes the durable-functions client calls (same paths, rpcBaseUrl).
 */
import type { IncomingMessage, ServerResponse } from "node:http";

import { ConflictError, type Engine } from "../engine/engine";
import { toStatus } from "../engine/status";
import { type Instance, TERMINAL } from "../engine/types";
import { readBody, sendJson } from "./io";

export const WEBHOOK_PREFIX = "/runtime/webhooks/durabletask";
const PAGE_SIZE = 100;

export interface DurableUrls {
  readonly taskHubName: string;
  readonly creationUrls: Record<string, string>;
  readonly managementUrls: Record<string, string>;
  readonly baseUrl: string;
  readonly requiredQueryStringParameters: string;
  readonly rpcBaseUrl: string;
}

/**
 * The `durableClient` input binding data, with every URL on this host. As in Azure, the query string every
 * management URL carries includes the `durabletask_extension` system key (`code=`): the local host does not check it,
 * but a test can then prove that no answer of the app hands it out.
 */
export function durableClientData(baseUrl: string, hubName: string, systemKey: string): DurableUrls {
  const w = `${baseUrl}${WEBHOOK_PREFIX}`;
  const qs = `taskHub=${encodeURIComponent(hubName)}&connection=Storage&code=${encodeURIComponent(systemKey)}`;
  const i = `${w}/instances/INSTANCEID`;
  return {
    taskHubName: hubName,
    creationUrls: {
      createNewInstancePostUri: `${w}/orchestrators/{functionName}[/{instanceId}]`,
      createAndWaitOnNewInstancePostUri: `${w}/orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}`,
    },
    managementUrls: {
      id: "INSTANCEID",
      statusQueryGetUri: `${i}?${qs}`,
      sendEventPostUri: `${i}/raiseEvent/{eventName}?${qs}`,
      terminatePostUri: `${i}/terminate?reason={text}&${qs}`,
      rewindPostUri: `${i}/rewind?reason={text}&${qs}`,
      purgeHistoryDeleteUri: `${i}?${qs}`,
      restartPostUri: `${i}/restart?${qs}`,
      suspendPostUri: `${i}/suspend?reason={text}&${qs}`,
      resumePostUri: `${i}/resume?reason={text}&${qs}`,
    },
    baseUrl: w,
    requiredQueryStringParameters: qs,
    rpcBaseUrl: `${w}/`,
  };
}

function managementPayload(urls: DurableUrls, instanceId: string): Record<string, string> {
  const id = encodeURIComponent(instanceId);
  return Object.fromEntries(Object.entries(urls.managementUrls).map(([k, v]) => [k, v.replaceAll("INSTANCEID", id)]));
}

function parseJsonBody(body: Buffer): { ok: true; value: unknown } | { ok: false } {
  if (body.length === 0) return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(body.toString("utf8")) as unknown };
  } catch {
    return { ok: false };
  }
}

export class DurableApi {
  constructor(
    private readonly engine: Engine,
    private readonly urls: () => DurableUrls,
  ) {}

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    if (!url.pathname.startsWith(`${WEBHOOK_PREFIX}/`)) return false;
    const parts = url.pathname.slice(WEBHOOK_PREFIX.length + 1).split("/").map(decodeURIComponent);
    const method = (req.method ?? "GET").toUpperCase();
    const [collection, id, verb, arg] = parts;
    const q = url.searchParams;
    if (collection === "orchestrators" && method === "POST" && id !== undefined && id !== "") {
      return this.#start(req, res, id, verb);
    }
    if (collection !== "instances") return this.#notFound(res);
    if ((id === undefined || id === "") && method === "GET") return this.#query(req, res, q);
    if ((id === undefined || id === "") && method === "DELETE") return this.#purgeMatching(res, q);
    if (id === undefined || id === "") return this.#notFound(res);
    if (verb === undefined && method === "GET") return this.#status(res, id, q);
    if (verb === undefined && method === "DELETE") return this.#purge(res, id);
    if (method !== "POST") return this.#notFound(res);
    const reason = q.get("reason") ?? "";
    switch (verb ?? "") {
      case "terminate":
        return this.#answer(res, this.engine.terminate(id, reason));
      case "suspend":
        return this.#answer(res, this.engine.suspend(id, reason));
      case "resume":
        return this.#answer(res, this.engine.resume(id, reason));
      case "raiseEvent": {
        if (arg === undefined || arg === "") return this.#notFound(res);
        const body = parseJsonBody(await readBody(req));
        if (!body.ok) {
          sendJson(res, 400, { message: "the event data must be JSON" });
          return true;
        }
        return this.#answer(res, this.engine.raiseEvent(id, arg, body.value));
      }
      case "rewind":
        sendJson(res, 501, { message: "rewind is not supported by the local host" });
        return true;
      default:
        return this.#notFound(res);
    }
  }

  async #start(req: IncomingMessage, res: ServerResponse, name: string, instanceId: string | undefined): Promise<boolean> {
    const body = parseJsonBody(await readBody(req));
    if (!body.ok) {
      sendJson(res, 400, { message: "the orchestration input must be JSON" });
      return true;
    }
    try {
      const id = this.engine.startNew(name, { ...(instanceId ? { instanceId } : {}), input: body.value });
      const payload = managementPayload(this.urls(), id);
      sendJson(res, 202, payload, { Location: payload.statusQueryGetUri ?? "", "Retry-After": "10" });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      sendJson(res, err instanceof ConflictError ? 409 : 400, { message });
    }
    return true;
  }

  #status(res: ServerResponse, id: string, q: URLSearchParams): boolean {
    const inst = this.engine.get(id);
    if (inst === undefined) return this.#notFound(res, `no instance with id '${id}'`);
    const status = toStatus(inst, { showHistory: q.get("showHistory") === "true", showInput: q.get("showInput") !== "false" });
    if (TERMINAL.has(inst.runtimeStatus)) {
      sendJson(res, 200, status);
    } else {
      const location = managementPayload(this.urls(), id).statusQueryGetUri ?? "";
      sendJson(res, 202, status, { Location: location, "Retry-After": "10" });
    }
    return true;
  }

  #query(req: IncomingMessage, res: ServerResponse, q: URLSearchParams): boolean {
    const top = Number(q.get("top") ?? PAGE_SIZE) || PAGE_SIZE;
    const matching = this.#matching(q);
    const tokenHeader = req.headers["x-ms-continuation-token"];
    const offset = typeof tokenHeader === "string" && tokenHeader !== "" ? Number(Buffer.from(tokenHeader, "base64").toString("utf8")) || 0 : 0;
    const page = matching.slice(offset, offset + top);
    const headers: Record<string, string> = {};
    if (offset + top < matching.length) headers["x-ms-continuation-token"] = Buffer.from(String(offset + top)).toString("base64");
    sendJson(res, 200, page.map((i) => toStatus(i, { showInput: q.get("showInput") !== "false" })), headers);
    return true;
  }

  /** Instances matching the query-string filters (runtimeStatus list, createdTimeFrom/To, instanceIdPrefix). */
  #matching(q: URLSearchParams): Instance[] {
    const statuses = (q.get("runtimeStatus") ?? "").split(",").filter((s) => s !== "");
    const from = q.get("createdTimeFrom");
    const to = q.get("createdTimeTo");
    const prefix = q.get("instanceIdPrefix");
    return this.engine
      .list()
      .filter((i) => statuses.length === 0 || statuses.includes(i.runtimeStatus))
      .filter((i) => from === null || i.createdTime >= new Date(from).toISOString())
      .filter((i) => to === null || i.createdTime <= new Date(to).toISOString())
      .filter((i) => prefix === null || i.instanceId.startsWith(prefix))
      .sort((a, b) => a.createdTime.localeCompare(b.createdTime) || a.instanceId.localeCompare(b.instanceId));
  }

  /**
   * Bulk purge (the client's purgeInstanceHistoryBy): terminal instances matching the filters. As the extension's
   * HttpApiHandler (HandleDeleteHistoryWithFiltersRequestAsync): `createdTimeFrom` is required (400 without it),
   * `createdTimeTo` defaults to now, and nothing purged is a 404 (which the client reads as 0 deleted).
   */
  #purgeMatching(res: ServerResponse, q: URLSearchParams): boolean {
    const from = q.get("createdTimeFrom");
    if (from === null || Number.isNaN(Date.parse(from))) {
      sendJson(res, 400, "Please provide value for 'createdTimeFrom' parameter.");
      return true;
    }
    let deleted = 0;
    for (const inst of this.#matching(q)) if (TERMINAL.has(inst.runtimeStatus)) deleted += this.engine.purge(inst.instanceId);
    if (deleted === 0) return this.#notFound(res, "no terminal instance matches");
    sendJson(res, 200, { instancesDeleted: deleted });
    return true;
  }

  #purge(res: ServerResponse, id: string): boolean {
    try {
      const deleted = this.engine.purge(id);
      if (deleted === 0) return this.#notFound(res, `no instance with id '${id}'`);
      sendJson(res, 200, { instancesDeleted: deleted });
    } catch (err) {
      sendJson(res, 409, { message: err instanceof Error ? err.message : String(err) });
    }
    return true;
  }

  #answer(res: ServerResponse, outcome: "ok" | "notFound" | "gone"): boolean {
    if (outcome === "ok") sendJson(res, 202, undefined);
    else if (outcome === "gone") sendJson(res, 410, { message: "the instance is already in a terminal state" });
    else this.#notFound(res);
    return true;
  }

  #notFound(res: ServerResponse, message = "not found"): boolean {
    sendJson(res, 404, { message });
    return true;
  }
}
