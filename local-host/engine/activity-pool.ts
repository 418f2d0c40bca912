/**
 * Runs activity calls with bounded concurrency (host.json maxConcurrentActivityFunctions) through the programming
 * model, and turns each outcome into the completion the orchestrator will see, with production's failure text.
 */
import type { Invoker } from "../invoke";
import { fromTypedData, jsonData } from "../invoke";
import type { Registry } from "../registry";
import type { Completion, Work } from "./types";

export interface ActivityJob {
  readonly instanceId: string;
  readonly executionId: string;
  readonly taskId: number;
  readonly work: Work;
}

export class ActivityPool {
  /**
   * FIFO of jobs not yet started, read from `#head`: `Array.prototype.shift` copies the whole backing store once it is
   * large (V8 left-trims only small arrays), which made every start O(backlog) with thousands of queued activities.
   */
  #queue: ActivityJob[] = [];
  #head = 0;
  #active = 0;
  /** Jobs queued or running per instance (the engine batches episodes while a fan-out is outstanding). */
  readonly #outstanding = new Map<string, number>();

  constructor(
    private readonly registry: Registry,
    private readonly invoker: Invoker,
    private readonly limit: number,
    private readonly done: (job: ActivityJob, outcome: Completion) => void,
  ) {}

  get idle(): boolean {
    return this.#queue.length === this.#head && this.#active === 0;
  }

  outstanding(instanceId: string): number {
    return this.#outstanding.get(instanceId) ?? 0;
  }

  enqueue(job: ActivityJob): void {
    this.#queue.push(job);
    this.#outstanding.set(job.instanceId, this.outstanding(job.instanceId) + 1);
  }

  /** Starts queued jobs up to the concurrency limit. */
  drain(): void {
    while (this.#active < this.limit && this.#head < this.#queue.length) {
      const job = this.#queue[this.#head++];
      if (job !== undefined) void this.#run(job);
    }
    // Drop the consumed front now and then (amortised O(1) per job).
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  async #run(job: ActivityJob): Promise<void> {
    this.#active++;
    let outcome: Completion;
    try {
      const fn = this.registry.get(job.work.name);
      if (fn?.triggerType !== "activityTrigger") {
        throw new Error(`The function '${job.work.name}' doesn't exist, is disabled, or is not an activity function.`);
      }
      const result = await this.invoker.invoke(fn, {
        trigger: jsonData(job.work.input) ?? { json: "null" },
        // The activity trigger's binding data, as the Durable extension provides it.
        triggerMetadata: { instanceId: { string: job.instanceId } },
        instanceId: job.instanceId,
      });
      outcome = { failed: false, result: JSON.stringify(fromTypedData(result.returnValue)) ?? "null" };
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      outcome = { failed: true, reason: `Activity function '${job.work.name}' failed: ${error.message}`, details: error.stack ?? "" };
    } finally {
      this.#active--;
      const left = this.outstanding(job.instanceId) - 1;
      if (left > 0) this.#outstanding.set(job.instanceId, left);
      else this.#outstanding.delete(job.instanceId);
    }
    this.done(job, outcome);
  }
}
