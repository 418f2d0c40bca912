/**
 * The one check every HTTP answer of the app gets in the tests: a function-key caller must never receive the Durable
 * system key (or a management URL, which carries it), a SAS signature, an account key or a bearer token. The generic
 * patterns catch any of them; values registered with `treatAsSecret` (the local host's stand-in system key) and the
 * Azurite account keys are looked for verbatim too.
 */
import assert from "node:assert/strict";

import { LOCAL_ACCOUNTS } from "../../dev/azurite";

const secrets = new Set<string>(LOCAL_ACCOUNTS.map((a) => a.key));

/** Adds values no answer may contain (e.g. `host.systemKey`). */
export function treatAsSecret(...values: readonly string[]): void {
  for (const v of values) if (v !== "") secrets.add(v);
}

const FORBIDDEN: readonly { readonly what: string; readonly pattern: RegExp }[] = [
  { what: "a Durable management URL", pattern: /\/runtime\/webhooks\//i },
  { what: "a SAS signature", pattern: /(?:[?&]|%3F|%26|\\u0026|\b)sig(?:=|%3D)/i },
  { what: "an account key", pattern: /AccountKey=|"accountKey"\s*:/i },
  { what: "a Shared Key signature", pattern: /SharedKey(?:Lite)?\s+[^:\s]+:[A-Za-z0-9+/=]{8,}/ },
  { what: "a bearer token", pattern: /Bearer\s+[A-Za-z0-9._~+/=-]{8,}/i },
];

/** The problems of one answer's text (status line, headers and body), empty when it is clean. */
export function secretsIn(text: string): string[] {
  const found = FORBIDDEN.filter((f) => f.pattern.test(text)).map((f) => f.what);
  for (const s of secrets) if (text.includes(s)) found.push("a registered secret value");
  return found;
}

/** Asserts that `res` (status, headers, body) hands out no secret; returns it unread, for the caller to use. */
export async function assertNoSecrets(res: Response, what = ""): Promise<Response> {
  const headers = [...res.headers.entries()].map(([k, v]) => `${k}: ${v}`).join("\n");
  const text = `${res.status}\n${headers}\n${await res.clone().text()}`;
  const found = secretsIn(text);
  assert.deepEqual(found, [], `${what} answer hands out ${found.join(", ")}:\n${text}`);
  return res;
}

/** `fetch`, with every answer checked. */
export async function checkedFetch(input: string, init?: RequestInit): Promise<Response> {
  return assertNoSecrets(await fetch(input, init), `${init?.method ?? "GET"} ${input}`);
}
