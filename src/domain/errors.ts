/** Error normalisation and secret redaction, so nothing thrown or logged carries a key or a SAS signature. */

/** Turns anything thrown into an Error (JavaScript lets code throw strings, objects, undefined). */
export function ensureError(err: unknown): Error {
  if (err instanceof Error) return err;
  if (typeof err === "string") return new Error(err);
  try {
    return new Error(JSON.stringify(err));
  } catch {
    return new Error(String(err));
  }
}

const SECRET_PATTERNS: readonly RegExp[] = [
  // SAS signatures and user delegation key material in URLs.
  /([?&](?:sig|skoid|sktid|skt|ske|sks|skv)=)[^&\s"']+/gi,
  // Connection string secrets.
  /((?:AccountKey|SharedAccessSignature|SharedAccessKey)=)[^;\s"']+/gi,
  // Bearer tokens in echoed headers.
  /(Bearer\s+)[A-Za-z0-9._~+/=-]+/g,
];

/** Replaces secrets in free text with `REDACTED`, keeping the surrounding text readable. */
export function redact(text: string): string {
  return SECRET_PATTERNS.reduce((acc, pattern) => acc.replace(pattern, "$1REDACTED"), text);
}

/** A one-line, secret-free description of an error, for logs and orchestration outputs. */
export function describeError(err: unknown): string {
  const error = ensureError(err);
  return redact(error.message.split("\n")[0] ?? error.name);
}
