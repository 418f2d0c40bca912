/**
 * Registers an orchestrator so that its failure is logged once, when it happens (not on replay), with the instance id
 * and a one-line description: the Functions host logs the invocation id and the raw message (a zod error's first line
 * is `[`), the Durable extension the instance id but redacts the reason unless `traceInputsAndOutputs` is on. The error
 * itself is rethrown unchanged, so the library reports it (and a failed activity's details) as it would without this.
 */
import * as df from "durable-functions";

import { describeError } from "../domain/errors";

export function registerOrchestrator(name: string, orchestrator: df.OrchestrationHandler): void {
  df.app.orchestration(name, function* (context: df.OrchestrationContext) {
    try {
      return (yield* orchestrator(context));
    } catch (err) {
      if (!context.df.isReplaying) context.error(`${name} failed (instance ${context.df.instanceId}): ${describeError(err)}`);
      throw err;
    }
  });
}
