/**
 * The app's own status route, `GET /api/status/{instanceId}`, and the `202 Accepted` answer every starter gives.
 *
 * Why not the Durable check-status response: its URLs carry the `durabletask_extension` system key, which lets its
 * holder list, read (with history), purge, terminate, raise events on and start any orchestration of the task hub.
 * A caller with a function key gets a URL of this app instead, which answers for the kinds of instance a caller starts
 * (scans, reconciliation, restores, retention runs) and nothing else: never a blob backup's or a sub-orchestration's
 * status, never an input or a history. The Durable management API stays for administrators holding the system key.
 */
import type { HttpRequest, HttpResponseInit } from "@azure/functions";

/** host.json `extensions.http.routePrefix` (a unit test keeps the two equal). */
export const ROUTE_PREFIX = "api";

/** The route of the status function, under the route prefix. */
export const STATUS_ROUTE = "status/{instanceId}";

/** How long a caller should wait between two polls of a running instance (the Durable default). */
export const RETRY_AFTER_SECONDS = 10;

/**
 * Instance ids a function-key caller may read: the singletons and the per-container scans the starters create.
 * A container reconciliation (`reconciliation-<run>-<container>`) is a sub-orchestration: its progress is in the
 * parent's status, and it is not listed here.
 */
const CALLER_VISIBLE: readonly RegExp[] = [
  /^scan-[a-z0-9]+(?:-[a-z0-9]+)*$/,
  /^reconciliation$/,
  /^restore-[a-z0-9-]{1,120}$/,
  /^retention$/,
];

export function isCallerVisibleInstance(instanceId: string): boolean {
  return CALLER_VISIBLE.some((pattern) => pattern.test(instanceId));
}

/**
 * The status URL of `instanceId`, on the origin the caller used. A function key the caller passed as `?code=` is
 * kept, so a client that follows `Location` without re-sending its headers (as some HTTP pollers do) is still
 * authorised; it is the caller's own key, never another one.
 */
export function statusUrl(request: Pick<HttpRequest, "url">, instanceId: string, pass?: number): string {
  const incoming = new URL(request.url);
  const url = new URL(`/${ROUTE_PREFIX}/status/${encodeURIComponent(instanceId)}`, incoming.origin);
  // A scan joined by this caller: its status is done once that pass is (src/triggers/http-get-status.ts).
  if (pass !== undefined) url.searchParams.set("pass", String(pass));
  const code = incoming.searchParams.get("code");
  if (code !== null && code !== "") url.searchParams.set("code", code);
  return url.href;
}

/**
 * What a starter answers once its instance runs: `202`, `Location` and `Retry-After`, as the async HTTP pattern wants.
 * `pass`: the scan pass that covers this caller's request, when it joined a running scan.
 */
export function acceptedResponse(request: Pick<HttpRequest, "url">, instanceId: string, pass?: number): HttpResponseInit {
  const location = statusUrl(request, instanceId, pass);
  return {
    status: 202,
    headers: { Location: location, "Retry-After": String(RETRY_AFTER_SECONDS) },
    jsonBody: { id: instanceId, statusQueryGetUri: location, ...(pass !== undefined && { coveredByPass: pass }) },
  };
}
