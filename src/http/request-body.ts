/**
 * The one way HTTP functions read a request body: at most MAX_BODY_BYTES, refused with `413` before anything is parsed
 * (a declared Content-Length over the limit is refused without reading; a body that turns out longer is cut off while
 * it is read), then parsed as strict JSON by the function's schema (src/domain/http-error.ts).
 */
import type { HttpRequest } from "@azure/functions";
import type { z } from "zod";

import { httpError, type ParsedBody, parseJsonBody } from "../domain/http-error";

/** Starter bodies are a few options; 64 KiB leaves room for a long container list and refuses anything bigger. */
export const MAX_BODY_BYTES = 64 * 1024;

const tooLarge = () => httpError(413, "PayloadTooLarge", `the request body is larger than ${MAX_BODY_BYTES / 1024} KiB`);

type BodyText = { readonly ok: true; readonly text: string } | { readonly ok: false; readonly response: ReturnType<typeof httpError> };

async function readBodyText(request: Pick<HttpRequest, "headers" | "body">, limit: number): Promise<BodyText> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (Number.isFinite(declared) && declared > limit) return { ok: false, response: tooLarge() };
  if (request.body === null) return { ok: true, text: "" };
  const reader = (request.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return { ok: false, response: tooLarge() };
    }
    chunks.push(value);
  }
  return { ok: true, text: Buffer.concat(chunks).toString("utf8") };
}

/** The request's JSON body, validated by `schema`; an empty body means `{}`. */
export async function readJsonBody<S extends z.ZodType>(
  request: Pick<HttpRequest, "headers" | "body">,
  schema: S,
  limit = MAX_BODY_BYTES,
): Promise<ParsedBody<z.infer<S>>> {
  const body = await readBodyText(request, limit);
  if (!body.ok) return body;
  return parseJsonBody(body.text, schema);
}
