import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { createHttpHeaders, createPipelineRequest, RestError } from "@azure/core-rest-pipeline";
import { z } from "zod";

import { describedError, describeError, ensureError, redact } from "../../src/domain/errors";

/** A RestError as the SDK builds it for a response without a body (the code only in x-ms-error-code). */
function bodilessRestError(status: number, code: string, method: "HEAD" | "PUT", url: string): RestError {
  const request = createPipelineRequest({ url, method });
  const headers = createHttpHeaders({ "x-ms-error-code": code });
  return new RestError("", { statusCode: status, request, response: { status, headers, request } });
}

describe("errors", { timeout: 30_000 }, () => {
  it("turns anything thrown into an Error", () => {
    assert.equal(ensureError("boom").message, "boom");
    assert.equal(ensureError({ code: 1 }).message, '{"code":1}');
    const e = new TypeError("t");
    assert.equal(ensureError(e), e);
  });

  it("redacts SAS signatures, account keys and bearer tokens", () => {
    const text =
      "GET https://a.blob.core.windows.net/c/b?sv=2024&sig=abc%2Bdef&se=x failed; AccountKey=Zm9vYmFy==;BlobEndpoint=x Authorization: Bearer eyJ0.eyJ1.sig";
    const clean = redact(text);
    assert.ok(!clean.includes("abc%2Bdef"));
    assert.ok(!clean.includes("Zm9vYmFy"));
    assert.ok(!clean.includes("eyJ0"));
    assert.match(clean, /sig=REDACTED&se=x/);
    assert.match(clean, /AccountKey=REDACTED;BlobEndpoint=x/);
  });

  it("describes an error on one secret-free line", () => {
    assert.equal(describeError(new Error("copy failed ?sig=SECRET\nstack")), "copy failed ?sig=REDACTED");
    assert.equal(
      describeError(new Error("GET http://h/runtime/webhooks/durabletask/instances/x?taskHub=h&code=SYSTEMKEY failed")),
      "GET http://h/runtime/webhooks/durabletask/instances/x?taskHub=h&code=REDACTED failed",
    );
  });

  it("names status, service error code and operation when the response had no body, without SAS parameters", () => {
    const err = bodilessRestError(503, "ServerBusy", "HEAD", "https://lake.blob.core.windows.net/c/dir/b.txt?snapshot=2024-01-01T00%3A00%3A00.0000000Z&sv=2024&sig=SECRET&timeout=30");
    assert.equal(describeError(err), "503 ServerBusy on HEAD https://lake.blob.core.windows.net/c/dir/b.txt?snapshot=2024-01-01T00%3A00%3A00.0000000Z");
  });

  it("keeps the service's message after status, code and operation", () => {
    const request = createPipelineRequest({ url: "https://lake.blob.core.windows.net/c/b?comp=lease", method: "PUT" });
    const err = new RestError("There is already a lease present.\nRequestId:1\nTime:2024", { statusCode: 409, code: "LeaseAlreadyPresent", request });
    assert.equal(describeError(err), "409 LeaseAlreadyPresent on PUT https://lake.blob.core.windows.net/c/b?comp=lease: There is already a lease present.");
  });

  it("describes a zod error by its issues, not by its first line '['", () => {
    const result = z.object({ container: z.string(), blob: z.string() }).safeParse({ container: 1 });
    assert.ok(!result.success);
    assert.equal(result.error.message.split("\n")[0], "[");
    assert.equal(describeError(result.error), "invalid container: Invalid input: expected string, received number; blob: Invalid input: expected string, received undefined");
  });

  it("reads a zod error's JSON after a prefix, as it arrives from another function", () => {
    const result = z.object({ etag: z.string() }).safeParse({});
    assert.ok(!result.success);
    const crossed = `Orchestrator function 'BlobBackupOrchestrator' failed: ${result.error.message}\n    at parse (x.js:1:1)`;
    assert.equal(describeError(crossed), "Orchestrator function 'BlobBackupOrchestrator' failed: invalid etag: Invalid input: expected string, received undefined");
  });

  it("skips lines that say nothing and joins a first line that ends in ':' with the next", () => {
    assert.equal(describeError(new Error("[\nsomething broke\nmore")), "something broke");
    assert.equal(describeError("Activity function 'X' failed:  \n RestError\n    at a (b.js:1:1)"), "Activity function 'X' failed: RestError");
    assert.equal(describeError(new RangeError("")), "RangeError");
  });

  it("rethrows with the description as the message and the original stack frames", () => {
    const original = bodilessRestError(404, "BlobNotFound", "HEAD", "https://lake.blob.core.windows.net/c/b?sig=SECRET");
    const described = describedError(original);
    assert.equal(described.message, "404 BlobNotFound on HEAD https://lake.blob.core.windows.net/c/b");
    assert.equal(described.cause, original);
    assert.match(described.stack ?? "", /^Error: 404 BlobNotFound on HEAD [^\n]+\n\s+at /);
  });
});
