/**
 * HTTP pipeline policies for the storage SDK clients the app builds, for service behaviours Azurite cannot show: an
 * answer lost after the service applied a write, an error answer, headers of a feature Azurite lacks (blob
 * versioning). Add them with addPipelinePolicy (test/support/scan-fixtures.ts), on clients built for the test.
 */
import { createHttpHeaders, type PipelinePolicy, type PipelineRequest, RestError } from "@azure/core-rest-pipeline";

export type RequestMatch = (request: PipelineRequest) => boolean;

/** A copy into a blob (Copy Blob From URL / Put Blob From URL): a PUT naming a copy source. */
export const isCopyWrite: RequestMatch = (r) => r.method === "PUT" && r.headers.has("x-ms-copy-source");
/** Snapshot Blob. */
export const isSnapshot: RequestMatch = (r) => r.method === "PUT" && new URL(r.url).searchParams.get("comp") === "snapshot";
/** Get Blob Properties. */
export const isHead: RequestMatch = (r) => r.method === "HEAD";
/**
 * List Blobs with a delimiter that asks for snapshots or versions: Azure refuses it (400; a hierarchical listing cannot
 * include them — the SDKs' own docs and samples say so), Azurite lists them. Answer it with answerWith to be as strict.
 */
export const isHierarchicalListingWithSnapshots: RequestMatch = (r) => {
  const query = new URL(r.url).searchParams;
  const include = (query.get("include") ?? "").split(",");
  return r.method === "GET" && query.get("comp") === "list" && query.has("delimiter") && (include.includes("snapshots") || include.includes("versions"));
};

/** Forwards the first `times` matching requests, then loses their answers as a reset connection would. */
export function loseAnswers(match: RequestMatch, times = 1): PipelinePolicy & { readonly lost: () => number } {
  let lost = 0;
  return {
    name: "lose-answers",
    lost: () => lost,
    async sendRequest(request, next) {
      const response = await next(request);
      if (!match(request) || lost >= times) return response;
      lost += 1;
      throw new RestError("read ECONNRESET", { code: "ECONNRESET", request });
    },
  };
}

/** Answers matching requests with a storage error (x-ms-error-code and an XML body), without forwarding them. */
export function answerWith(match: RequestMatch, status: number, code: string, times = Number.POSITIVE_INFINITY): PipelinePolicy {
  let answered = 0;
  return {
    name: `answer-${status}-${code}`,
    sendRequest(request, next) {
      if (!match(request) || answered >= times) return next(request);
      answered += 1;
      return Promise.resolve({
        request,
        status,
        headers: createHttpHeaders({ "x-ms-error-code": code, "content-type": "application/xml" }),
        bodyAsText: `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>Injected ${code}.</Message></Error>`,
      });
    },
  };
}

/** Adds headers to the answers of matching requests (e.g. x-ms-version-id, which Azurite never sends). */
export function addAnswerHeaders(match: RequestMatch, headers: (request: PipelineRequest) => Record<string, string>): PipelinePolicy {
  return {
    name: "add-answer-headers",
    async sendRequest(request, next) {
      const response = await next(request);
      if (match(request) && response.status < 300) for (const [name, value] of Object.entries(headers(request))) response.headers.set(name, value);
      return response;
    },
  };
}
