/**
 * Registers an activity built by its factory from the process runtime (settings + clients). The factory runs once,
 * on the first invocation, not at module load: registering never fails on configuration, and what the factory sets up
 * (a queue created once, a cached delegation key) lives as long as the process.
 *
 * Whatever an activity throws passes through `sanitizedError` first: the Durable extension stores a failed activity's
 * message and stack in the orchestration history, which the management API serves, so a SAS URL or key in an SDK
 * error must not get there.
 */
import * as df from "durable-functions";

import { sanitizedError } from "../domain/errors";
import { type Runtime, runtime } from "../runtime";

export function registerActivity<R>(name: string, build: (runtime: Runtime) => (input: unknown) => Promise<R>): void {
  let handler: ((input: unknown) => Promise<R>) | undefined;
  df.app.activity(name, {
    handler: async (input: unknown) => {
      try {
        handler ??= build(runtime());
        return await handler(input);
      } catch (err) {
        throw sanitizedError(err);
      }
    },
  });
}
