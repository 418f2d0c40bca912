/** The host's HTTP server on 127.0.0.1: the Durable API first, then the app's HTTP triggers, else a 404 JSON. */
import http from "node:http";
import type { AddressInfo } from "node:net";

import type { DurableApi } from "./durable-api";
import type { HttpTriggers } from "./http-triggers";
import { sendJson } from "./io";

export interface HostServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startServer(port: number, handlers: { durable: DurableApi; triggers: HttpTriggers }): Promise<HostServer> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", `http://${req.headers.host ?? "127.0.0.1"}`);
    const { durable, triggers } = handlers;
    void (async () => {
      try {
        if (await durable.handle(req, res, url)) return;
        if (await triggers.handle(req, res, url)) return;
        sendJson(res, 404, { error: `no route for ${req.method ?? "GET"} ${url.pathname}` });
      } catch (err) {
        if (!res.headersSent) sendJson(res, 500, { error: err instanceof Error ? err.message : String(err) });
        else res.end();
      }
    })();
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    port: actual,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
