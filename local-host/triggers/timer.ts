/** Timer triggers on their six-field NCRONTAB schedule (croner reads the seconds field), plus firing on demand. */
import { Cron } from "croner";

import { resolveSetting } from "../host-json";
import type { Invoker } from "../invoke";
import type { RegisteredFunction } from "../registry";

export class TimerTrigger {
  readonly #cron: Cron | undefined;
  #last: Date | undefined;

  constructor(
    readonly fn: RegisteredFunction,
    private readonly invoker: Invoker,
    private readonly onError: (message: string) => void,
    schedule: boolean,
  ) {
    try {
      const pattern = resolveSetting(String(fn.trigger.schedule));
      if (pattern.trim().split(/\s+/).length !== 6) throw new Error(`schedule '${pattern}' is not a six-field NCRONTAB expression`);
      this.#cron = new Cron(pattern, { timezone: "UTC", paused: !schedule }, () => {
        this.fire().catch((err: unknown) => this.onError(`timer '${fn.name}': ${err instanceof Error ? err.message : String(err)}`));
      });
    } catch (err) {
      // As the real host: this function is in error, the others run. fireTimer still works (tests).
      if (schedule) onError(`timer trigger '${fn.name}' is in error and will not run on a schedule: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  get runOnStartup(): boolean {
    return this.fn.trigger.runOnStartup === true;
  }

  async fire(isPastDue = false): Promise<void> {
    const now = new Date();
    const timer = {
      Schedule: { AdjustForDST: true },
      ScheduleStatus: { Last: (this.#last ?? now).toISOString(), Next: this.#cron?.nextRun()?.toISOString() ?? null, LastUpdated: now.toISOString() },
      IsPastDue: isPastDue,
    };
    this.#last = now;
    await this.invoker.invoke(this.fn, { trigger: { json: JSON.stringify(timer) } });
  }

  stop(): void {
    this.#cron?.stop();
  }
}
