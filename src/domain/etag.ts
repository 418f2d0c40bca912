const QUOTE = 0x22;

/**
 * ETags in one form. The Blob service returns them quoted in headers (`"0x8DC…"`, what the SDK gives for
 * getProperties, upload, snapshot) but bare in listings (`0x8DC…`). Everything in this app — change detection, backup
 * requests, `backup_source_etag`, conditions — uses the quoted header form, converted at the listing boundary.
 */
export function canonicalEtag(etag: string): string {
  // The two forms every listing and header gives, without a regular expression: this runs for each entry listed.
  if (etag.length > 2 && etag.charCodeAt(0) === QUOTE && etag.charCodeAt(etag.length - 1) === QUOTE) return etag;
  if (etag.length > 0 && etag.charCodeAt(0) !== QUOTE && !etag.startsWith("W/")) return `"${etag}"`;
  const bare = etag.replace(/^W\//, "").replace(/^"(.*)"$/, "$1");
  return bare === "" ? "" : `"${bare}"`;
}

/** Equality that does not care whether either side came from a listing or a header. */
export function sameEtag(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && (a === b || canonicalEtag(a) === canonicalEtag(b));
}
