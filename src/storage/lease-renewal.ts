/**
 * Lease mode: keeps a blob lease renewed while work runs in this process (a server-side copy), so the orchestration
 * waits on one activity instead of racing it with renew timers: a task the orchestrator has already yielded must
 * never be yielded again (the Durable extension schedules every child of a WhenAny again).
 */
import type { BlobLeaseClient } from "@azure/storage-blob";

import { describeError } from "../domain/errors";
import { statusOf } from "./rest-errors";

/** A renewal the service refused for good: the lease is someone else's, expired and taken, or the blob is gone. */
export function isLeaseLost(err: unknown): boolean {
  const status = statusOf(err);
  return status === 409 || status === 404 || status === 412;
}

/**
 * Runs `work` while renewing `lease` every `everyMs`. A transient renewal failure is tried again at the next tick
 * (the lease outlives three ticks); a lost lease stops the renewals and is reported with the work's result.
 */
export async function whileLeaseRenewed<T>(lease: BlobLeaseClient, everyMs: number, work: () => Promise<T>): Promise<{ result: T; lost?: string }> {
  let lost: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let renewing: Promise<void> = Promise.resolve();
  const tick = (): void => {
    renewing = lease.renewLease().then(
      () => undefined,
      (err: unknown) => {
        if (isLeaseLost(err)) lost = describeError(err);
      },
    ).finally(() => {
      if (!stopped && lost === undefined) timer = setTimeout(tick, everyMs);
    });
  };
  timer = setTimeout(tick, everyMs);
  try {
    const result = await work();
    return lost === undefined ? { result } : { result, lost };
  } finally {
    stopped = true;
    clearTimeout(timer);
    // A renewal in flight must not outlive the activity (the orchestration releases the lease next).
    await renewing;
  }
}
