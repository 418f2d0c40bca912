/** Named retry policies for activities, so every orchestration retries the same kind of work the same way. */
import * as df from "durable-functions";

function policy(firstMs: number, attempts: number, maxIntervalMs: number): df.RetryOptions {
  const retry = new df.RetryOptions(firstMs, attempts);
  retry.backoffCoefficient = 2;
  retry.maxRetryIntervalInMilliseconds = maxIntervalMs;
  return retry;
}

/** Listing, snapshot and enqueue work on a page: five attempts over about a minute. */
export const STORAGE_PAGE_RETRY = policy(5_000, 5, 30_000);

/** A blob backup's activities (transient 5xx, network): five attempts, 2 s doubling to at most a minute. */
export function blobBackupRetry(): df.RetryOptions {
  return policy(2_000, 5, 60_000);
}
