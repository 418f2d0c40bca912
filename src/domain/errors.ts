/** Error normalisation and secret redaction, so nothing thrown, logged or kept in history carries a key or a SAS signature. */

/** Turns anything thrown into an Error (JavaScript lets code throw strings, objects, undefined). */
export function ensureError(err: unknown): Error {
  if (err instanceof Error) return err;
  if (typeof err === "string") return new Error(err);
  try {
    return new Error(JSON.stringify(err));
  } catch {
    return new Error(String(err));
  }
}

/** SAS query parameters that are secret: the signature, and the user delegation key's identity and validity. */
const SAS_SECRET_PARAMS = "sig|skoid|sktid|skt|ske|sks|skv|skdutid|sduoid";
/** `?`, `&`, `=` as written, percent-encoded (`%3F`, `%26`, `%3D`), JSON-escaped (`\u0026`) or HTML-escaped (`&amp;`). */
const QUERY_START = String.raw`(?:[?&]|%3F|%26|\\u003[Ff]|\\u0026|&amp;)`;
const EQUALS = String.raw`(?:=|%3D|\\u003[Dd])`;
/** A value runs to the next separator, in any of those forms. */
const VALUE = String.raw`(?:(?!%26|\\u0026|&amp;)[^&\s"'<>()\\])+`;

const SECRET_PATTERNS: readonly RegExp[] = [
  // SAS signatures and user delegation key material in URLs, plain or encoded; also a bare `sig=` at the start.
  new RegExp(String.raw`((?:${QUERY_START}|^|(?<=[\s"'(]))(?:${SAS_SECRET_PARAMS})${EQUALS})${VALUE}`, "gi"),
  // Connection string secrets.
  /((?:AccountKey|SharedAccessSignature|SharedAccessKey)=)[^;\s"']+/gi,
  // JSON forms of the same, e.g. {"accountKey":"…"} or {"sig":"…"}.
  /("(?:accountKey|account_key|sharedAccessSignature|sig|access_token|refresh_token|client_secret)"\s*:\s*")[^"]*/gi,
  // Shared Key authorization headers: `SharedKey account:signature` (and SharedKeyLite).
  /(SharedKey(?:Lite)?\s+[^:\s"']+:)[A-Za-z0-9+/=%]+/g,
  // Bearer tokens in echoed headers.
  /(Bearer\s+)[A-Za-z0-9._~+/=-]+/gi,
];

/** Replaces secrets in free text with `REDACTED`, keeping the surrounding text readable. */
export function redact(text: string): string {
  return SECRET_PATTERNS.reduce((acc, pattern) => acc.replace(pattern, "$1REDACTED"), text);
}

/** A one-line, secret-free description of an error, for logs and orchestration outputs. */
export function describeError(err: unknown): string {
  const error = ensureError(err);
  return redact(error.message.split("\n")[0] ?? error.name);
}

/** Longest message an activity failure keeps (the Durable history stores it, and every replay reads it). */
const MAX_FAILURE_MESSAGE = 4_096;

/**
 * What an activity may throw into the Durable history (which the management API serves to system-key holders): a new
 * Error with the same name, its message and stack redacted and the message bounded. Nothing else of the original (an
 * SDK error's request, headers or response) travels.
 */
export function sanitizedError(err: unknown): Error {
  const error = ensureError(err);
  const message = redact(error.message);
  const clean = new Error(message.length > MAX_FAILURE_MESSAGE ? `${message.slice(0, MAX_FAILURE_MESSAGE)}… (cut)` : message);
  clean.name = error.name;
  clean.stack = error.stack === undefined ? `${clean.name}: ${clean.message}` : redact(error.stack);
  return clean;
}
