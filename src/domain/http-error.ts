/**
 * The error shape of every HTTP function: `{ "error": { "code", "message" } }`, and strict JSON body parsing that turns
 * every problem into one readable 400 message. Pure (no I/O): triggers read the body text and hand it over.
 */
import type { z } from "zod";

export interface HttpErrorBody {
  readonly error: { readonly code: string; readonly message: string };
}

export interface HttpErrorResponse {
  readonly status: number;
  readonly jsonBody: HttpErrorBody;
}

export function httpError(status: number, code: string, message: string): HttpErrorResponse {
  return { status, jsonBody: { error: { code, message } } };
}

export type ParsedBody<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly response: HttpErrorResponse };

/** An empty body means "no options" (`{}`); anything else must be JSON that the schema accepts. */
export function parseJsonBody<S extends z.ZodType>(text: string, schema: S): ParsedBody<z.infer<S>> {
  let value: unknown = {};
  if (text.trim() !== "") {
    try {
      value = JSON.parse(text) as unknown;
    } catch {
      return { ok: false, response: httpError(400, "InvalidJson", "the request body is not valid JSON") };
    }
  }
  const parsed = schema.safeParse(value);
  if (parsed.success) return { ok: true, value: parsed.data };
  const message = parsed.error.issues
    .map((issue) => (issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message))
    .join("; ");
  return { ok: false, response: httpError(400, "InvalidBody", `invalid request body: ${message}`) };
}
