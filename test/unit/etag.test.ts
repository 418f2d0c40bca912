import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { canonicalEtag, sameEtag } from "../../src/domain/etag";

/** The definition the fast paths must agree with: strip a weak marker and one pair of quotes, quote what is left. */
function byDefinition(etag: string): string {
  const bare = etag.replace(/^W\//, "").replace(/^"(.*)"$/, "$1");
  return bare === "" ? "" : `"${bare}"`;
}

describe("canonicalEtag (the quoted header form, for ETags from listings and headers alike)", () => {
  it("quotes a listing's bare ETag and keeps a header's quoted one", () => {
    assert.equal(canonicalEtag("0x8DC1A2B3C4D5E6F"), '"0x8DC1A2B3C4D5E6F"');
    assert.equal(canonicalEtag('"0x8DC1A2B3C4D5E6F"'), '"0x8DC1A2B3C4D5E6F"');
    assert.equal(canonicalEtag('W/"0x8DC1"'), '"0x8DC1"');
    assert.equal(canonicalEtag(""), "");
  });

  it("agrees with its definition on every odd form, the fast paths included", () => {
    const odd = ["", '"', '""', '"""', "a", '"a', 'a"', '"a"', '"a"b"', "W/", 'W/""', 'W/"a"', "W/a", 'w/"a"', '"W/a"', "0x8D", " 0x8D "];
    for (const etag of odd) assert.equal(canonicalEtag(etag), byDefinition(etag), JSON.stringify(etag));
  });

  it("compares a listed ETag with a header's as equal, and tells different ones apart", () => {
    assert.equal(sameEtag("0x8D1", '"0x8D1"'), true);
    assert.equal(sameEtag('"0x8D1"', '"0x8D1"'), true);
    assert.equal(sameEtag("0x8D1", "0x8D2"), false);
    assert.equal(sameEtag(undefined, undefined), false);
    assert.equal(sameEtag("0x8D1", undefined), false);
  });
});
