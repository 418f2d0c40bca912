import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { describeError, ensureError, redact } from "../../src/domain/errors";

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
  });
});
