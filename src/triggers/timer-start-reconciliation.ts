/**
 * RECONCILE_SCHEDULE — the scheduled safety net. Starts the reconciliation of the lake unless one is still running
 * (then this occurrence is skipped and logged: the running one covers it).
 */
import { randomUUID } from "node:crypto";

import { app, type InvocationContext, type Timer } from "@azure/functions";
import * as df from "durable-functions";

import { DEFAULT_RECONCILE_SCHEDULE } from "../config/settings";
import { startOrJoin } from "../durable/instances";
import { Orchestrators, Triggers } from "../function-names";
import { RECONCILIATION_INSTANCE_ID, reconciliationInput } from "../orchestrators/reconciliation";

export async function startScheduledReconciliation(timer: Timer, client: df.DurableClient, context: InvocationContext): Promise<void> {
  const input = reconciliationInput({}, "timer", randomUUID());
  const start = await startOrJoin(client, { orchestrator: Orchestrators.reconciliation, instanceId: RECONCILIATION_INSTANCE_ID, input, covers: () => false });
  if (start.kind === "started") context.log(`scheduled reconciliation started${timer.isPastDue ? " (past due)" : ""}`);
  else context.log(`scheduled reconciliation skipped: the previous one is still ${start.runtimeStatus}`);
}

/**
 * The schedule is read when the functions are indexed, with the documented default, rather than bound as
 * `%RECONCILE_SCHEDULE%`: the host refuses to index a binding expression whose setting is missing. An invalid value is
 * reported by the settings validation on the first run.
 */
app.timer(Triggers.timerStartReconciliation, {
  schedule: process.env.RECONCILE_SCHEDULE?.trim() || DEFAULT_RECONCILE_SCHEDULE,
  extraInputs: [df.input.durableClient()],
  handler: (timer: Timer, context: InvocationContext) => startScheduledReconciliation(timer, df.getClient(context), context),
});
