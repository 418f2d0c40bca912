/** Durable timers due at a time; fired by the real clock through one setTimeout, or by the virtual clock on demand. */
import type { Clock } from "./clock";

export interface DueTimer {
  readonly at: number;
  /** Instance id and task id, so cancelled timers and those of finished instances can be removed. */
  readonly owner: string;
  readonly taskId: number;
  readonly fire: () => void;
}

const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export class TimerQueue {
  #timers: DueTimer[] = [];
  #handle: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(private readonly clock: Clock) {}

  get size(): number {
    return this.#timers.length;
  }

  add(timer: DueTimer): void {
    // Sorted insert from the back: new timers are usually the latest.
    let i = this.#timers.length;
    while (i > 0 && (this.#timers[i - 1]?.at ?? 0) > timer.at) i--;
    this.#timers.splice(i, 0, timer);
    this.#arm();
  }

  remove(predicate: (t: DueTimer) => boolean): void {
    this.#timers = this.#timers.filter((t) => !predicate(t));
    this.#arm();
  }

  next(): number | undefined {
    return this.#timers[0]?.at;
  }

  /** Fires every timer due by the clock's current time. */
  fireDue(): number {
    const now = this.clock.now();
    let fired = 0;
    while (this.#timers.length > 0 && (this.#timers[0]?.at ?? Infinity) <= now) {
      const t = this.#timers.shift();
      t?.fire();
      fired++;
    }
    this.#arm();
    return fired;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#handle !== undefined) clearTimeout(this.#handle);
  }

  #arm(): void {
    if (this.clock.virtual || this.#stopped) return;
    if (this.#handle !== undefined) clearTimeout(this.#handle);
    this.#handle = undefined;
    const next = this.next();
    if (next === undefined) return;
    const delay = Math.min(Math.max(0, next - this.clock.now()), MAX_TIMEOUT_MS);
    this.#handle = setTimeout(() => {
      this.#handle = undefined;
      this.fireDue();
    }, delay);
  }
}
