/** Narrowing of Azure SDK errors (RestError) to the status and service error code that decide what to do next. */
import { isRestError } from "@azure/core-rest-pipeline";

export function statusOf(err: unknown): number | undefined {
  return isRestError(err) ? err.statusCode : undefined;
}

/** The service's error code (x-ms-error-code for storage, error.code for ARM). */
export function errorCodeOf(err: unknown): string | undefined {
  if (!isRestError(err)) return undefined;
  if (err.code !== undefined) return err.code;
  const header = err.response?.headers.get("x-ms-error-code");
  return header ?? undefined;
}

export function isNotFound(err: unknown): boolean {
  return statusOf(err) === 404;
}

export function isPreconditionFailed(err: unknown): boolean {
  return statusOf(err) === 412;
}

/** `Retry-After` of a throttled response, in seconds (ARM sends whole seconds). */
export function retryAfterSecondsOf(err: unknown, fallback: number): number {
  if (!isRestError(err)) return fallback;
  const raw = err.response?.headers.get("retry-after");
  if (raw === undefined) return fallback;
  const seconds = Number(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds;
  const date = Date.parse(raw);
  return Number.isNaN(date) ? fallback : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}
