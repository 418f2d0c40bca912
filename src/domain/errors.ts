/**
 * Error normalisation, descriptions and secret redaction: every failure the app reports or logs says why in one line,
 * and nothing thrown, logged or kept in history carries a key or a SAS signature.
 */
import { isRestError, type RestError } from "@azure/core-rest-pipeline";

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

/**
 * Query parameters that are secret: a SAS's signature and its user delegation key's identity and validity, and the
 * Functions key (`code`).
 */
const SECRET_QUERY_PARAMS = "sig|skoid|sktid|skt|ske|sks|skv|skdutid|sduoid|code";
/** `?`, `&`, `=` as written, percent-encoded (`%3F`, `%26`, `%3D`), JSON-escaped (`\u0026`) or HTML-escaped (`&amp;`). */
const QUERY_START = String.raw`(?:[?&]|%3F|%26|\\u003[Ff]|\\u0026|&amp;)`;
const EQUALS = String.raw`(?:=|%3D|\\u003[Dd])`;
/** A value runs to the next separator, in any of those forms. */
const VALUE = String.raw`(?:(?!%26|\\u0026|&amp;)[^&\s"'<>()\\])+`;

const SECRET_PATTERNS: readonly RegExp[] = [
  // SAS signatures and user delegation key material in URLs, plain or encoded; also a bare `sig=` at the start; and
  // function and system keys (`code=`) in Functions URLs.
  new RegExp(String.raw`((?:${QUERY_START}|^|(?<=[\s"'(]))(?:${SECRET_QUERY_PARAMS})${EQUALS})${VALUE}`, "gi"),
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

/** Query parameters that say which operation a request was; the others (SAS, timeouts, API versions) are noise. */
const TELLING_PARAMETERS = ["restype", "comp", "snapshot"];
/** More validation issues than this are counted, not listed. */
const ISSUES_LISTED = 5;

interface ValidationIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** The issues of a zod error (or of its JSON message, as it reads after crossing the Durable boundary). */
function validationIssues(value: unknown): readonly ValidationIssue[] | undefined {
  const issues = value instanceof Error ? (value as { issues?: unknown }).issues : value;
  if (!Array.isArray(issues) || issues.length === 0) return undefined;
  const valid = issues.every((i: unknown) => typeof i === "object" && i !== null && typeof (i as ValidationIssue).message === "string" && Array.isArray((i as ValidationIssue).path));
  return valid ? (issues as ValidationIssue[]) : undefined;
}

function describeIssues(issues: readonly ValidationIssue[]): string {
  const listed = issues.slice(0, ISSUES_LISTED).map((i) => `${i.path.length > 0 ? i.path.join(".") : "(input)"}: ${i.message}`);
  const more = issues.length > ISSUES_LISTED ? `; and ${issues.length - ISSUES_LISTED} more` : "";
  return `invalid ${listed.join("; ")}${more}`;
}

/** `HEAD http://host/account/container/blob?snapshot=…`: the operation, without SAS or other parameters. */
function operationOf(err: RestError): string | undefined {
  if (err.request === undefined) return undefined;
  try {
    const url = new URL(err.request.url);
    const kept = new URLSearchParams();
    for (const name of TELLING_PARAMETERS) {
      const value = url.searchParams.get(name);
      if (value !== null) kept.set(name, value);
    }
    const query = kept.toString() === "" ? "" : `?${kept.toString()}`;
    return `${err.request.method} ${url.origin}${url.pathname}${query}`;
  } catch {
    return err.request.method;
  }
}

/** `503 ServerBusy on HEAD …`: what the service said, even when the response had no body (every HEAD). */
function describeServiceError(err: RestError): string {
  const code = err.code ?? err.response?.headers.get("x-ms-error-code");
  const said = [err.statusCode, code].filter((part) => part !== undefined).join(" ");
  const operation = operationOf(err);
  return [said, operation === undefined ? "" : `on ${operation}`].filter((part) => part !== "").join(" ");
}

const meaningful = (line: string): boolean => /[\p{L}\p{N}]/u.test(line);
const stackFrame = (line: string): boolean => /^at\s/.test(line);

/**
 * The first line that says something. A zod message (its issues as JSON, first line `[`) is read as its issues, also
 * after a prefix such as "Activity function 'X' failed: ". A first line that ends in ":" takes the next line with it.
 */
function describeText(text: string): string {
  const start = text.search(/\[\s*\{/);
  if (start >= 0) {
    const end = text.indexOf("\n]", start);
    if (end >= 0) {
      try {
        const issues = validationIssues(JSON.parse(text.slice(start, end + 2)));
        if (issues !== undefined) return `${text.slice(0, start).trim()} ${describeIssues(issues)}`.trim();
      } catch {
        // not JSON after all: fall through to the plain text
      }
    }
  }
  const lines = text.split("\n").map((line) => line.trim()).filter((line) => meaningful(line) && !stackFrame(line));
  const [first, second] = lines;
  if (first === undefined) return "";
  return first.endsWith(":") && second !== undefined ? `${first} ${second}` : first;
}

/**
 * A one-line, secret-free description of an error, for logs, orchestration outputs and the local host: a storage or
 * ARM error names its status, service error code and operation; a validation error its issues; anything else its first
 * meaningful line.
 */
export function describeError(err: unknown): string {
  const error = ensureError(err);
  const issues = validationIssues(error);
  const text = issues !== undefined ? describeIssues(issues) : describeText(error.message);
  const service = isRestError(error) ? describeServiceError(error) : "";
  const description = [service, text].filter((part) => part !== "").join(": ");
  return redact(description === "" ? error.name : description);
}

/**
 * An Error whose message is `describeError(err)` and whose stack keeps the original frames, for throwing across the
 * Durable boundary: only the message and the stack reach the orchestration, and an SDK error's message can be empty.
 */
export function describedError(err: unknown): Error {
  const error = ensureError(err);
  const described = new Error(describeError(error), { cause: error });
  const frames = (error.stack ?? "").split("\n").filter((line) => stackFrame(line.trim()));
  described.stack = [`Error: ${described.message}`, ...frames].join("\n");
  return described;
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
