/**
 * ETags in one form. The Blob service returns them quoted in headers (`"0x8DC…"`, what the SDK gives for
 * getProperties, upload, snapshot) but bare in listings (`0x8DC…`). Everything in this app — change detection, backup
 * requests, `backup_source_etag`, conditions — uses the quoted header form, converted at the listing boundary.
 */
export function canonicalEtag(etag: string): string {
  const bare = etag.replace(/^W\//, "").replace(/^"(.*)"$/, "$1");
  return bare === "" ? "" : `"${bare}"`;
}

/** Equality that does not care whether either side came from a listing or a header. */
export function sameEtag(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && canonicalEtag(a) === canonicalEtag(b);
}
