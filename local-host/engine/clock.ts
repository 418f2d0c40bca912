/**
 * Time for the engine. The real clock is wall time; the virtual clock only moves on advanceTime() or when the engine
 * has nothing else to do and jumps to the next durable timer, so a 30-day timer fires in milliseconds.
 */
export interface Clock {
  readonly virtual: boolean;
  now(): number;
}

export class RealClock implements Clock {
  readonly virtual = false;
  now(): number {
    return Date.now();
  }
}

export class VirtualClock implements Clock {
  readonly virtual = true;
  #now: number;
  constructor(start = Date.now()) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  set(ms: number): void {
    if (ms > this.#now) this.#now = ms;
  }
}
