/**
 * BACKUP_HISTORY=versioning: the history is blob versions, which Azurite does not have (it ignores `include=versions`
 * and `versionid`). So this test runs a restore batch against a stand-in for the Blob service that answers as Azure
 * documents it (List Blobs with `<VersionId>` / `<IsCurrentVersion>`, Put Block From URL, Put Block List, Get Blob
 * Properties), through the real SDK clients: the listing asks for versions, the SDK parses them, the version chosen
 * as of a time is copied from its `versionid` URL with a version SAS (`sr=bv`), and a deletion recorded on the
 * current version (reconciliation's metadata write creates a new version) is honoured.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";

import { createHttpHeaders, type PipelineRequest, type PipelineResponse } from "@azure/core-rest-pipeline";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";

import type { BlobAccount } from "../../src/config/clients";
import type { BatchInput, BatchResult } from "../../src/domain/restore-contracts";
import { restoreBatch } from "../../src/storage/restore-batch";
import { addPipelinePolicy } from "../support/scan-fixtures";

const md5 = (s: string): string => createHash("md5").update(s).digest("base64");
const httpDate = (iso: string): string => new Date(iso).toUTCString();

interface FakeVersion {
  readonly name: string;
  readonly versionId: string;
  readonly current: boolean;
  readonly content: string;
  readonly metadata: Record<string, string>;
}

function blobXml(v: FakeVersion): string {
  const meta = Object.entries(v.metadata).map(([k, val]) => `<${k}>${val}</${k}>`).join("");
  return `<Blob><Name>${v.name}</Name><VersionId>${v.versionId}</VersionId>${v.current ? "<IsCurrentVersion>true</IsCurrentVersion>" : ""}<Properties><Creation-Time>${httpDate(v.versionId)}</Creation-Time><Last-Modified>${httpDate(v.versionId)}</Last-Modified><Etag>0x${createHash("sha1").update(v.versionId).digest("hex").slice(0, 12).toUpperCase()}</Etag><Content-Length>${Buffer.byteLength(v.content)}</Content-Length><Content-Type>text/csv</Content-Type><Content-MD5>${md5(v.content)}</Content-MD5><BlobType>BlockBlob</BlobType><AccessTier>Hot</AccessTier><LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState></Properties><Metadata>${meta}</Metadata></Blob>`;
}

function listXml(container: string, blobs: readonly FakeVersion[]): string {
  return `<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="http://127.0.0.1:9/acct/" ContainerName="${container}"><Blobs>${blobs.map(blobXml).join("")}</Blobs><NextMarker /></EnumerationResults>`;
}

const record = (etag: string, lastModified: string, extra: Record<string, string> = {}) => ({
  backup_source_etag: `"${etag}"`,
  backup_source_last_modified: lastModified,
  backup_copied_at: lastModified,
  ...extra,
});

// a.csv: v1, then v2; reconciliation later recorded a.csv deleted, which (with versioning) made a new current version.
const versions: FakeVersion[] = [
  { name: "a.csv", versionId: "2026-11-01T00:00:05.0000000Z", current: false, content: "a v1", metadata: record("0x1", "2026-11-01T00:00:00.000Z") },
  { name: "a.csv", versionId: "2026-11-10T00:00:05.0000000Z", current: false, content: "a v2", metadata: { owner: "x", ...record("0x2", "2026-11-10T00:00:00.000Z") } },
  {
    name: "a.csv",
    versionId: "2026-11-20T00:00:00.0000000Z",
    current: true,
    content: "a v2",
    metadata: { owner: "x", ...record("0x2", "2026-11-10T00:00:00.000Z", { backup_source_deleted_at: "2026-11-20T00:00:00.000Z" }) },
  },
  { name: "b.csv", versionId: "2026-11-05T00:00:05.0000000Z", current: true, content: "b v1", metadata: record("0xB", "2026-11-05T00:00:00.000Z") },
];

function fakeAccount(): { account: BlobAccount; copies: { target: string; source: URL; md5?: string }[]; listIncludes: string[] } {
  const copies: { target: string; source: URL; md5?: string }[] = [];
  const listIncludes: string[] = [];
  const staged = new Map<string, string>();
  const sharedKey = new StorageSharedKeyCredential("acct", Buffer.from("not-a-secret-key-for-a-stand-in").toString("base64"));
  const service = new BlobServiceClient("http://127.0.0.1:9/acct", sharedKey, { retryOptions: { maxTries: 1 } });
  const respond = (request: PipelineRequest, status: number, headers: Record<string, string> = {}, body?: string): PipelineResponse => ({
    request,
    status,
    headers: createHttpHeaders({ "x-ms-request-id": "fake", "x-ms-version": "2025-11-05", ...(body !== undefined && { "content-type": "application/xml" }), ...headers }),
    ...(body !== undefined && { bodyAsText: body }),
  });
  addPipelinePolicy(service, {
    name: "blob-service-stand-in",
    sendRequest(request) {
      const url = new URL(request.url);
      const [, , container = "", ...rest] = url.pathname.split("/");
      const blob = decodeURIComponent(rest.join("/"));
      const comp = url.searchParams.get("comp");
      if (request.method === "GET" && comp === "list") {
        listIncludes.push(url.searchParams.get("include") ?? "");
        return Promise.resolve(respond(request, 200, {}, listXml(container, container === "sales" ? versions : [])));
      }
      if (request.method === "PUT" && comp === "block") {
        const source = request.headers.get("x-ms-copy-source");
        if (source !== undefined) {
          const sourceMd5 = request.headers.get("x-ms-source-content-md5");
          copies.push({ target: blob, source: new URL(source), ...(sourceMd5 !== undefined && { md5: sourceMd5 }) });
          const version = versions.find((v) => v.versionId === new URL(source).searchParams.get("versionid"));
          staged.set(blob, version?.content ?? "");
        }
        return Promise.resolve(respond(request, 201));
      }
      if (request.method === "PUT" && comp === "blocklist") {
        return Promise.resolve(respond(request, 201, { etag: `"0xT-${blob}"`, "last-modified": new Date().toUTCString() }));
      }
      if (request.method === "HEAD") {
        const content = staged.get(blob) ?? "";
        return Promise.resolve(
          respond(request, 200, { etag: `"0xT-${blob}"`, "content-length": String(Buffer.byteLength(content)), "content-md5": md5(content), "last-modified": new Date().toUTCString(), "x-ms-blob-type": "BlockBlob" }),
        );
      }
      return Promise.resolve(respond(request, 400, { "x-ms-error-code": "UnexpectedRequest" }));
    },
  });
  return { account: { accountName: "acct", service, singleAttempt: service, sharedKey }, copies, listIncludes };
}

function input(asOf: string, dryRun: boolean): BatchInput {
  return {
    options: {
      container: "sales",
      backupContainer: "sales",
      history: "versioning",
      asOf,
      target: { account: "lake", container: "sales-restored" },
      overwrite: "never",
      dryRun,
      inPlace: false,
    },
    source: { kind: "listing", cursor: {}, targetCursor: {} },
    details: { blob: "restore/x.blobs.jsonl", block: 0 },
  };
}

const batchOf = (r: BatchResult) => {
  assert.equal(r.kind, "batch");
  return r;
};

describe("restore with BACKUP_HISTORY=versioning (Blob service stand-in)", () => {
  it("lists blob versions and copies the version chosen as of a time from its versionid URL with a version SAS", async () => {
    const { account, copies, listIncludes } = fakeAccount();
    const result = batchOf(await restoreBatch({ backup: account, target: account, reportsContainer: "backup-reports", concurrency: 4 }, input("2026-11-15T00:00:00Z", false)));
    assert.ok(listIncludes[0]?.split(",").includes("versions"), `the backup listing asks for versions (include=${listIncludes[0]})`);
    assert.equal(result.counts.restored, 2, JSON.stringify(result.failures));
    const a = copies.find((c) => c.target === "a.csv");
    assert.ok(a !== undefined);
    assert.ok(["2026-11-10T00:00:05.0000000Z", "2026-11-20T00:00:00.0000000Z"].includes(a.source.searchParams.get("versionid") ?? ""), a.source.href);
    assert.equal(a.source.searchParams.get("sr"), "bv", "a blob-version SAS");
    assert.equal(a.md5, md5("a v2"), "the service is asked to check the bytes against the version's MD5");
    assert.equal(copies.find((c) => c.target === "b.csv")?.source.searchParams.get("versionid"), "2026-11-05T00:00:05.0000000Z");
    const line = result.samples.find((l) => l.name === "a.csv");
    assert.equal(line?.version?.sourceEtag, '"0x2"');
    assert.ok(line?.version?.backupVersionId !== undefined);
  });

  it("leaves out a blob whose deletion was recorded on its current version before asOf, and picks older versions by time", async () => {
    const { account, copies } = fakeAccount();
    const after = batchOf(await restoreBatch({ backup: account, target: account, reportsContainer: "backup-reports", concurrency: 4 }, input("2026-11-25T00:00:00Z", true)));
    assert.deepEqual(after.samples.map((l) => `${l.name}:${l.outcome}:${l.reason ?? ""}`).sort(), ["a.csv:skipped:deleted", "b.csv:planned:"]);
    const early = batchOf(await restoreBatch({ backup: account, target: account, reportsContainer: "backup-reports", concurrency: 4 }, input("2026-11-02T00:00:00Z", true)));
    const a = early.samples.find((l) => l.name === "a.csv");
    assert.equal(a?.version?.backupVersionId, "2026-11-01T00:00:05.0000000Z");
    assert.equal(early.samples.find((l) => l.name === "b.csv")?.reason, "noVersionAsOf");
    assert.deepEqual(copies, [], "a dry run copies nothing");
  });
});
