import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { z } from "zod";

import { httpError, parseJsonBody } from "../../src/domain/http-error";

const schema = z.strictObject({ prefix: z.string().min(1).optional(), dryRun: z.boolean().optional() });

describe("parseJsonBody", { timeout: 30_000 }, () => {
  it("treats an empty or blank body as no options", () => {
    assert.deepEqual(parseJsonBody("", schema), { ok: true, value: {} });
    assert.deepEqual(parseJsonBody("  \n", schema), { ok: true, value: {} });
  });

  it("accepts a body the schema accepts", () => {
    assert.deepEqual(parseJsonBody('{"prefix":"raw/","dryRun":true}', schema), { ok: true, value: { prefix: "raw/", dryRun: true } });
  });

  it("answers 400 InvalidJson for text that is not JSON", () => {
    const parsed = parseJsonBody("{nope", schema);
    assert.equal(parsed.ok, false);
    assert.deepEqual(!parsed.ok && parsed.response, httpError(400, "InvalidJson", "the request body is not valid JSON"));
  });

  it("answers 400 InvalidBody naming the offending field, including unknown keys", () => {
    const wrongType = parseJsonBody('{"dryRun":"yes"}', schema);
    assert.ok(!wrongType.ok);
    assert.equal(wrongType.response.status, 400);
    assert.equal(wrongType.response.jsonBody.error.code, "InvalidBody");
    assert.match(wrongType.response.jsonBody.error.message, /dryRun/);
    const unknown = parseJsonBody('{"dryrun":true}', schema);
    assert.ok(!unknown.ok);
    assert.match(unknown.response.jsonBody.error.message, /dryrun/);
  });
});
