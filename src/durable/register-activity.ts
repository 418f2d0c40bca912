/**
 * Registers an activity built by its factory from the process runtime (settings + clients). The factory runs once,
 * on the first invocation, not at module load: registering never fails on configuration, and what the factory sets up
 * (a queue created once, a cached delegation key) lives as long as the process.
 *
 * A failure is logged with the orchestration's instance id and rethrown described (`describedError`) and sanitised
 * (`sanitizedError`): only its message and stack reach the orchestration, an SDK error's message is empty for a
 * bodiless response (every HEAD), the Functions host's failure log names the invocation, not the instance, and the
 * Durable extension's names the instance but redacts the reason unless `traceInputsAndOutputs` is on; and the Durable
 * extension stores a failed activity's message and stack in the orchestration history, which the management API
 * serves, so a SAS URL or key in an SDK error must not get there.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";

import { describedError, sanitizedError } from "../domain/errors";
import { type Runtime, runtime } from "../runtime";

export function registerActivity<R>(
  name: string,
  build: (runtime: Runtime) => (input: unknown, context: InvocationContext) => Promise<R>,
  options: { readonly durableClient?: boolean } = {},
): void {
  let handler: ((input: unknown, context: InvocationContext) => Promise<R>) | undefined;
  df.app.activity(name, {
    // An activity that manages instances (reconciliation's look at stuck backups) reads them through the client binding.
    ...(options.durableClient === true && { extraInputs: [df.input.durableClient()] }),
    handler: async (input: unknown, context: InvocationContext) => {
      try {
        handler ??= build(runtime());
        return await handler(input, context);
      } catch (err) {
        const failure = sanitizedError(describedError(err));
        // The activity trigger's binding data carries the orchestration's instance id.
        const instanceId = context.triggerMetadata?.instanceId;
        const instance = typeof instanceId === "string" || typeof instanceId === "number" ? String(instanceId) : "unknown";
        context.error(`${name} failed (instance ${instance}): ${failure.message}`);
        throw failure;
      }
    },
  });
}
