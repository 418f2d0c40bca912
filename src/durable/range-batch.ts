/**
 * The next batch of a container's name ranges (src/domain/listing-ranges.ts), run as sub-orchestrations `parallelism`
 * at a time: shared by reconciliation and the container scan, whose callers continue as new after each batch, so an
 * execution's history holds one batch whatever the number of ranges.
 */
import type { OrchestrationContext, Task } from "durable-functions";

import type { ListingRange, RangeFanOut } from "../domain/listing-ranges";

export interface RangeBatch {
  readonly batch: readonly ListingRange[];
  /** Each sub-orchestration's output, in the batch's order. */
  readonly results: readonly unknown[];
  /** The fan-out with the batch counted as done. */
  readonly fan: RangeFanOut;
}

/**
 * Runs ranges `fan.next …` (at most `fan.parallelism`) as `orchestrator`, range `i` under instance id `idOf(i)` with
 * input `inputOf(range)`. A failed sub-orchestration fails the batch (Task.all), as the durable library does.
 */
export function* runRangeBatch(
  context: OrchestrationContext,
  fan: RangeFanOut,
  orchestrator: string,
  inputOf: (range: ListingRange) => unknown,
  idOf: (index: number) => string,
): Generator<Task, RangeBatch, unknown> {
  const batch = fan.ranges.slice(fan.next, fan.next + fan.parallelism);
  const tasks = batch.map((range, k) => context.df.callSubOrchestrator(orchestrator, inputOf(range), idOf(fan.next + k)));
  const results = (yield context.df.Task.all(tasks)) as unknown[];
  return { batch, results, fan: { ...fan, next: fan.next + batch.length } };
}
