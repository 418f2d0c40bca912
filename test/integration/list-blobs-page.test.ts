/**
 * The app's own List Blobs request and reader (src/storage/list-blobs-page.ts) against the SDK's listing of the same
 * Azurite container: for every listing the app makes — flat or hierarchical, with metadata, snapshots or neither, in
 * pages small enough that markers carry names like `a`, `a/b`, `50%` and astral characters — both read the same items,
 * directories and markers. The SDK is the oracle: the app reads listings itself only for speed.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import type { PipelinePolicy } from "@azure/core-rest-pipeline";
import { type BlobItem, BlobServiceClient, ContainerClient, ContainerSASPermissions } from "@azure/storage-blob";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { LIST_BLOBS_API_VERSION, type ListBlobsOptions,listBlobsPage } from "../../src/storage/list-blobs-page";
import { isContainerNotFound } from "../../src/storage/list-source-page";
import { addPipelinePolicy, RANGE_EDGE_NAMES, seedBlobs } from "../support/scan-fixtures";

const ODD_NAMES = [`a&b<c>'d".txt`, "sp ace/+plus+/x", "tab\tname", "emoji/\u{1F600}\u{1F601}"];
const NAMES = [...RANGE_EDGE_NAMES, ...ODD_NAMES];

/** A value made comparable with deepEqual: dates as ISO strings, bytes as base64, undefined members dropped. */
function plain(value: unknown): unknown {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

/** Every member of an item the SDK fills from a listing, all of its properties included. */
function view(item: BlobItem): unknown {
  const { tags: _tags, objectReplicationSourceProperties: _replication, ...rest } = item;
  return plain({ ...rest, deleted: item.deleted === true, ...(item.metadata !== undefined && Object.keys(item.metadata).length === 0 && { metadata: undefined }) });
}

interface Listed {
  readonly pages: { items: unknown[]; prefixes: string[]; marker: string | undefined }[];
}

async function bySdk(container: ContainerClient, o: ListBlobsOptions): Promise<Listed> {
  const options = { includeMetadata: o.metadata === true, includeSnapshots: o.snapshots === true, ...(o.prefix !== undefined && { prefix: o.prefix }) };
  const pages: Listed["pages"] = [];
  const byPage = { maxPageSize: o.maxResults ?? 5000 };
  if (o.delimiter !== undefined) {
    for await (const page of container.listBlobsByHierarchy(o.delimiter, options).byPage(byPage)) {
      const token = page.continuationToken;
      pages.push({ items: page.segment.blobItems.map(view), prefixes: (page.segment.blobPrefixes ?? []).map((p) => p.name), marker: token === "" ? undefined : token });
    }
  } else {
    for await (const page of container.listBlobsFlat(options).byPage(byPage)) {
      const token = page.continuationToken;
      pages.push({ items: page.segment.blobItems.map(view), prefixes: [], marker: token === "" ? undefined : token });
    }
  }
  return { pages };
}

async function byApp(container: ContainerClient, o: ListBlobsOptions): Promise<Listed> {
  const pages: Listed["pages"] = [];
  let marker: string | undefined;
  do {
    const page = await listBlobsPage(container, { ...o, ...(marker !== undefined && { marker }) });
    pages.push({ items: page.items.map(view), prefixes: page.prefixes, marker: page.nextMarker });
    marker = page.nextMarker;
  } while (marker !== undefined);
  return { pages };
}

describe("the app's List Blobs request and reader", { timeout: 120_000 }, () => {
  let azurite: AzuriteInstance;
  let lake: ContainerClient;

  before(async () => {
    azurite = await startAzurite();
    lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage).getContainerClient("listed");
    await lake.create();
    await seedBlobs(lake, NAMES, { metadata: { backup_source_etag: `"0x8DD"`, note: `x&y<z>"q'` } });
    for (const name of ["a", "a/b", "50%.csv", ODD_NAMES[0] ?? ""]) await lake.getBlobClient(name).createSnapshot();
    await lake.getBlobClient("a0").getBlobLeaseClient().acquireLease(-1);
    await lake.getBlobClient("a.b").setHTTPHeaders({ blobContentType: "application/json", blobContentEncoding: "identity", blobContentLanguage: "en", blobContentDisposition: "inline", blobCacheControl: "no-cache" });
  });

  after(async () => {
    await azurite.stop();
  });

  const cases: [string, ListBlobsOptions][] = [
    ["flat, metadata and snapshots, pages of 3", { metadata: true, snapshots: true, maxResults: 3 }],
    ["flat, live blobs with metadata, pages of 2", { metadata: true, maxResults: 2 }],
    ["flat, nothing included, one page", {}],
    ["flat under a prefix that needs escaping", { prefix: "b c/", metadata: true, maxResults: 1 }],
    ["hierarchical from the root, pages of 4", { delimiter: "/", maxResults: 4 }],
    ["hierarchical under a directory, with metadata", { delimiter: "/", prefix: "a/", metadata: true }],
  ];
  for (const [title, options] of cases) {
    it(`reads what the SDK reads: ${title}`, async () => {
      const expected = await bySdk(lake, options);
      assert.ok(expected.pages.some((p) => p.items.length > 0 || p.prefixes.length > 0), "the case lists something");
      assert.deepEqual(await byApp(lake, options), expected);
    });
  }

  it("sends the REST version the SDK sends, so both read one schema", async () => {
    const versions: string[] = [];
    const client = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage);
    const spy: PipelinePolicy = {
      name: "version-spy",
      sendRequest: (request, next) => {
        versions.push(request.headers.get("x-ms-version") ?? "");
        return next(request);
      },
    };
    addPipelinePolicy(client, spy);
    const container = client.getContainerClient("listed");
    await container.listBlobsFlat().byPage({ maxPageSize: 1 }).next();
    await listBlobsPage(container, { maxResults: 1 });
    assert.deepEqual(versions, [LIST_BLOBS_API_VERSION, LIST_BLOBS_API_VERSION]);
  });

  it("lists through a SAS URL: the token's query is kept and the listing's is added", async () => {
    const sasUrl = await lake.generateSasUrl({ permissions: ContainerSASPermissions.parse("rl"), expiresOn: new Date(Date.now() + 3_600_000) });
    const viaSas = new ContainerClient(sasUrl);
    assert.deepEqual(await byApp(viaSas, { prefix: "sp ace/+plus+/", metadata: true }), await bySdk(lake, { prefix: "sp ace/+plus+/", metadata: true }));
  });

  it("fails as the SDK fails: a missing container is a RestError with ContainerNotFound", async () => {
    const service = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage);
    await assert.rejects(listBlobsPage(service.getContainerClient("no-such-container"), {}), (err: unknown) => {
      assert.ok(isContainerNotFound(err), String(err));
      return true;
    });
  });
});
