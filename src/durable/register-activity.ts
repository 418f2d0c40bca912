/**
 * Registers an activity built by its factory from the process runtime (settings + clients). The factory runs once,
 * on the first invocation, not at module load: registering never fails on configuration, and what the factory sets up
 * (a queue created once, a cached delegation key) lives as long as the process.
 */
import * as df from "durable-functions";

import { type Runtime, runtime } from "../runtime";

export function registerActivity<R>(name: string, build: (runtime: Runtime) => (input: unknown) => Promise<R>): void {
  let handler: ((input: unknown) => Promise<R>) | undefined;
  df.app.activity(name, {
    handler: (input: unknown) => {
      handler ??= build(runtime());
      return handler(input);
    },
  });
}
