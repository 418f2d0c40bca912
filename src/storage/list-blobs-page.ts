/**
 * One List Blobs request, sent through the container client's own pipeline (its credential — managed identity, key or
 * SAS —, the SDK's retry policy and any policy the app or a test added) and read by src/storage/list-blobs-xml.ts
 * instead of the SDK's generic deserializer, which cost more CPU than the listing itself (see there). A failure is
 * thrown as the SDK throws it: a RestError with the service's status and error code.
 */
import type { PipelineRequest, PipelineResponse } from "@azure/core-rest-pipeline";
import { createPipelineRequest } from "@azure/core-rest-pipeline";
import { type ContainerClient, RestError } from "@azure/storage-blob";

import { type ListBlobsPage, parseListBlobsXml } from "./list-blobs-xml";

/**
 * The REST version of the listings, as the SDK in package-lock.json sends it (test/list-blobs-page.test.ts checks they
 * agree): the XML schema read here is that version's.
 */
export const LIST_BLOBS_API_VERSION = "2026-04-06";

export interface ListBlobsOptions {
  readonly prefix?: string;
  /** A hierarchical listing: names past the delimiter are folded into `prefixes`. */
  readonly delimiter?: string;
  readonly marker?: string;
  readonly maxResults?: number;
  readonly metadata?: boolean;
  readonly snapshots?: boolean;
  readonly versions?: boolean;
}

interface RequestSender {
  sendRequest(request: PipelineRequest): Promise<PipelineResponse>;
}

/** The client's core pipeline: a protected member of every storage client, the one its own operations go through. */
function senderOf(container: ContainerClient): RequestSender {
  const context = (container as unknown as { storageClientContext?: Partial<RequestSender> }).storageClientContext;
  if (typeof context?.sendRequest !== "function") throw new Error("this @azure/storage-blob has no storageClientContext.sendRequest; see src/storage/list-blobs-page.ts");
  return context as RequestSender;
}

export function listBlobsUrl(containerUrl: string, options: ListBlobsOptions): string {
  const include = [options.metadata === true && "metadata", options.snapshots === true && "snapshots", options.versions === true && "versions"].filter(
    (x): x is string => x !== false,
  );
  const query: [string, string][] = [
    ["restype", "container"],
    ["comp", "list"],
    ...(options.prefix !== undefined && options.prefix !== "" ? [["prefix", options.prefix] as [string, string]] : []),
    ...(options.delimiter !== undefined ? [["delimiter", options.delimiter] as [string, string]] : []),
    ...(options.marker !== undefined && options.marker !== "" ? [["marker", options.marker] as [string, string]] : []),
    ...(options.maxResults !== undefined ? [["maxresults", String(options.maxResults)] as [string, string]] : []),
    ...(include.length > 0 ? [["include", include.join(",")] as [string, string]] : []),
  ];
  const url = new URL(containerUrl);
  // encodeURIComponent, not URLSearchParams: the latter writes a space as `+`, which a signed request must not.
  const added = query.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&");
  const existing = url.search.startsWith("?") ? url.search.slice(1) : "";
  return `${url.origin}${url.pathname}?${existing === "" ? added : `${existing}&${added}`}`;
}

function errorCodeOf(response: PipelineResponse): string | undefined {
  return response.headers.get("x-ms-error-code") ?? /<Code>([^<]*)<\/Code>/.exec(response.bodyAsText ?? "")?.[1];
}

/** One page of a container's listing. */
export async function listBlobsPage(container: ContainerClient, options: ListBlobsOptions): Promise<ListBlobsPage> {
  const url = listBlobsUrl(container.url, options);
  const request = createPipelineRequest({ url, method: "GET", allowInsecureConnection: url.startsWith("http:") });
  request.headers.set("x-ms-version", LIST_BLOBS_API_VERSION);
  request.headers.set("accept", "application/xml");
  // A streamed body is one the pipeline leaves alone: a buffered XML body would be parsed by the core client's
  // deserialization policy first, which is the cost this file avoids. Error answers stay buffered (and small).
  request.streamResponseStatusCodes = new Set([200]);
  const response = await senderOf(container).sendRequest(request);
  if (response.status < 200 || response.status > 299) {
    const code = errorCodeOf(response);
    const message = /<Message>([^<]*)<\/Message>/.exec(response.bodyAsText ?? "")?.[1] ?? `List Blobs answered ${response.status}`;
    throw new RestError(message.split("\n")[0] ?? message, { statusCode: response.status, ...(code !== undefined && { code }), request, response });
  }
  return parseListBlobsXml(await bodyText(response));
}

async function bodyText(response: PipelineResponse): Promise<string> {
  if (response.bodyAsText !== undefined && response.bodyAsText !== null) return response.bodyAsText;
  const stream = response.readableStreamBody;
  if (stream === undefined) return "";
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString("utf8");
}
