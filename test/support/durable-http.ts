/**
 * The app's HTTP API as a caller sees it: follow a `Location` until the instance is no longer running, POST a JSON
 * body. Every answer is checked for secrets (test/support/no-secrets.ts).
 */
import assert from "node:assert/strict";

import { checkedFetch } from "./no-secrets";
import { waitFor } from "./wait-for";

export interface StatusBody {
  readonly name: string;
  readonly instanceId: string;
  readonly runtimeStatus: string;
  readonly output: unknown;
  readonly customStatus: unknown;
}

const RUNNING = ["Pending", "Running", "ContinuedAsNew", "Suspended"];

/** Polls `location` as ADF's Web activity does (202 while running, then 200) until a terminal status. */
export async function followStatus(location: string, timeoutMs = 180_000): Promise<StatusBody> {
  const poll = async (): Promise<StatusBody> => {
    const res = await checkedFetch(location);
    const status = (await res.json()) as StatusBody;
    assert.equal(res.status, RUNNING.includes(status.runtimeStatus) ? 202 : 200, `HTTP status for a ${status.runtimeStatus} instance`);
    return status;
  };
  return waitFor(poll, { until: (status) => !RUNNING.includes(status.runtimeStatus), describe: `${location} to finish`, timeoutMs, intervalMs: 100 });
}

export async function postJson(url: string, body?: unknown): Promise<Response> {
  return checkedFetch(url, {
    method: "POST",
    ...(body !== undefined && { body: typeof body === "string" ? body : JSON.stringify(body), headers: { "content-type": "application/json" } }),
  });
}
