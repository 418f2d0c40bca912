/**
 * A bounded run of ADF polls for one blob backup (src/orchestrators/blob-backup.ts): waits on fresh durable timers,
 * renews the lease when due, polls the run every `pollSeconds` (longer when ARM answers 429 with Retry-After), and
 * returns as soon as the run ended, failed to be read, or passed its deadline — or after ADF_POLLS_PER_MONITOR polls
 * with the state the next monitor starts from. A copy of two hours at one poll a second is then about 150 monitors of
 * bounded history each, and two events apiece in the backup's history, instead of tens of thousands of events there.
 */
import type { OrchestrationContext, OrchestrationHandler, Task } from "durable-functions";

import { getAdfRunResultSchema, renewLeaseResultSchema } from "../domain/blob-backup-activities";
import { ADF_POLLS_PER_MONITOR, adfRunMonitorInputSchema, type AdfRunMonitorOutput, MAX_THROTTLED_WAITS } from "../domain/blob-copy-monitors";
import { registerOrchestrator } from "../durable/register-orchestrator";
import { blobBackupRetry } from "../durable/retry-policies";
import { Activities, Orchestrators } from "../function-names";

const addSeconds = (d: Date, s: number): Date => new Date(d.getTime() + s * 1000);
const earlier = (a: Date, b: Date): Date => (a < b ? a : b);

export const adfRunMonitorOrchestrator: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = adfRunMonitorInputSchema.parse(context.df.getInput());
  const { lease, runId } = input;
  const deadline = new Date(input.deadline);
  let nextPoll = new Date(input.nextPoll);
  let nextRenew = new Date(input.nextRenew);
  let throttledWaits = input.throttledWaits;
  let leaseLost: string | undefined;
  const withLease = <T extends object>(o: T): T & { leaseLost?: string } => (leaseLost === undefined ? o : { ...o, leaseLost });

  /** Waits until `until` on fresh timers (never a task yielded twice), renewing the lease whenever it is due. */
  function* waitUntil(until: Date): Generator<Task, void, unknown> {
    for (;;) {
      const wake = lease !== undefined ? earlier(nextRenew, until) : until;
      if (wake > context.df.currentUtcDateTime) yield context.df.createTimer(wake);
      if (lease !== undefined && input.renewEverySeconds !== undefined && context.df.currentUtcDateTime >= nextRenew) {
        const renewed = renewLeaseResultSchema.parse(yield context.df.callActivityWithRetry(Activities.renewBlobLease, blobBackupRetry(), lease));
        if (renewed.kind === "lost") leaseLost ??= renewed.reason;
        nextRenew = addSeconds(context.df.currentUtcDateTime, input.renewEverySeconds);
      }
      if (context.df.currentUtcDateTime >= until) return;
    }
  }

  for (let polls = 0; polls < ADF_POLLS_PER_MONITOR; polls++) {
    yield* waitUntil(earlier(nextPoll, deadline));
    if (context.df.currentUtcDateTime >= deadline) return withLease({ kind: "timedOut" }) satisfies AdfRunMonitorOutput;
    const polled = getAdfRunResultSchema.parse(yield context.df.callActivityWithRetry(Activities.getAdfCopyRun, blobBackupRetry(), { runId }));
    if (polled.kind === "failed") return withLease({ kind: "failed", reason: polled.reason }) satisfies AdfRunMonitorOutput;
    if (polled.kind === "throttled") {
      if (++throttledWaits > MAX_THROTTLED_WAITS) {
        return withLease({ kind: "failed", reason: `${polled.reason} ${MAX_THROTTLED_WAITS} times` }) satisfies AdfRunMonitorOutput;
      }
      nextPoll = addSeconds(context.df.currentUtcDateTime, Math.max(input.pollSeconds, polled.retryAfterSeconds));
      continue;
    }
    if (polled.status === "Succeeded" || polled.status === "Failed" || polled.status === "Cancelled") {
      return withLease({ kind: "finished", status: polled.status, message: polled.message }) satisfies AdfRunMonitorOutput;
    }
    nextPoll = addSeconds(context.df.currentUtcDateTime, input.pollSeconds);
  }
  return withLease({ kind: "continue", nextPoll: nextPoll.toISOString(), nextRenew: nextRenew.toISOString(), throttledWaits }) satisfies AdfRunMonitorOutput;
};

registerOrchestrator(Orchestrators.adfRunMonitor, adfRunMonitorOrchestrator);
