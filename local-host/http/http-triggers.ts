/** Serves the app's HTTP triggers under the route prefix, invoking them through the programming model. */
import type { IncomingMessage, ServerResponse } from "node:http";

import type { Invoker, RpcHttpData, RpcTypedData } from "../invoke";
import type { RegisteredFunction, Registry } from "../registry";
import { headersOf, readBody, sendJson } from "./io";
import { type CompiledRoute, compileRoute } from "./routes";

interface HttpRoute {
  readonly fn: RegisteredFunction;
  readonly route: CompiledRoute;
  readonly methods: readonly string[] | undefined;
}

export class HttpTriggers {
  #compiled: HttpRoute[] | undefined;

  constructor(
    private readonly registry: Registry,
    private readonly invoker: Invoker,
    private readonly routePrefix: string,
  ) {}

  /** Compiled on first use: the app registers its functions after the server starts (its port goes into settings). */
  get #routes(): HttpRoute[] {
    this.#compiled ??= this.registry.byTrigger("httpTrigger").map((fn) => {
      const route = typeof fn.trigger.route === "string" ? fn.trigger.route : fn.name;
      const methods = Array.isArray(fn.trigger.methods) ? (fn.trigger.methods as string[]).map((m) => m.toUpperCase()) : undefined;
      return { fn, route: compileRoute(route), methods };
    });
    return this.#compiled;
  }

  /** Answers the request if it is under the route prefix; false otherwise. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const prefix = this.routePrefix === "" ? "" : `/${this.routePrefix}`;
    if (prefix !== "" && url.pathname !== prefix && !url.pathname.toLowerCase().startsWith(`${prefix.toLowerCase()}/`)) return false;
    const path = url.pathname.slice(prefix.length) || "/";
    const method = (req.method ?? "GET").toUpperCase();
    let methodMismatch = false;
    for (const { fn, route, methods } of this.#routes) {
      const params = route.match(path);
      if (params === undefined) continue;
      if (methods !== undefined && !methods.includes(method)) {
        methodMismatch = true;
        continue;
      }
      await this.#invoke(fn, req, res, url, params);
      return true;
    }
    if (methodMismatch) sendJson(res, 405, { error: `method ${method} not allowed for ${url.pathname}` });
    else sendJson(res, 404, { error: `no HTTP function matches ${method} ${url.pathname}` });
    return true;
  }

  async #invoke(fn: RegisteredFunction, req: IncomingMessage, res: ServerResponse, url: URL, params: Record<string, string>): Promise<void> {
    const body = await readBody(req);
    const http: RpcHttpData = {
      method: req.method ?? "GET",
      url: url.href,
      headers: headersOf(req),
      query: Object.fromEntries(url.searchParams),
      params,
      ...(body.length > 0 ? { body: { bytes: body } } : {}),
    };
    let returnValue: RpcTypedData | undefined;
    try {
      ({ returnValue } = await this.invoker.invoke(fn, { trigger: { http } }));
    } catch (err) {
      // As the real host does: an unhandled error is a bare 500 (details go to the log only).
      void err;
      res.writeHead(500).end();
      return;
    }
    const out = returnValue?.http;
    if (out === undefined) {
      res.writeHead(204).end();
      return;
    }
    const bytes = out.body?.bytes !== undefined ? Buffer.from(out.body.bytes) : Buffer.from(out.body?.string ?? "");
    res.writeHead(Number(out.statusCode ?? "200"), out.headers ?? {});
    res.end(bytes);
  }
}
