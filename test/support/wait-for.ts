/**
 * Waiting on a condition with a deadline — the one way tests wait for something asynchronous to happen. A fixed sleep
 * either wastes time or, on a loaded machine, is too short; a loop without a deadline hangs the run. On timeout the
 * error says what was awaited and what the check last saw, so a failure in CI can be read without a rerun.
 */
import { inspect } from "node:util";

export interface WaitOptions<T> {
  /** What is awaited, for the error: "instance x to complete". */
  readonly describe: string;
  readonly timeoutMs: number;
  /** Pause between checks (default 50 ms). */
  readonly intervalMs?: number;
  /** When the observation is good enough (default: truthy). */
  readonly until?: (value: T) => boolean;
}

/** Polls `check` until `until` accepts what it returns (truthy by default), and returns that observation. */
export async function waitFor<T>(check: () => T | Promise<T>, options: WaitOptions<T>): Promise<T> {
  const accept = options.until ?? ((value: T) => Boolean(value));
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const value = await check();
    if (accept(value)) return value;
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.describe}; last saw: ${inspect(value, { depth: 4, breakLength: Infinity })}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50));
  }
}

/**
 * Azure's Last-Modified has one-second resolution, so two versions only order by time when they are written in
 * different seconds: waits until the wall clock has left the second of `lastModified` (at most a second, usually less).
 */
export async function afterSecondOf(lastModified: string): Promise<void> {
  const next = Math.floor(Date.parse(lastModified) / 1000) * 1000 + 1000;
  await waitFor(() => Date.now() >= next, { describe: `the second after ${lastModified}`, timeoutMs: 5_000, intervalMs: 20 });
}
