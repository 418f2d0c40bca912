/**
 * RETENTION_SCHEDULE — the scheduled retention run (lake snapshots, backup history, orphans, task hub). Skipped and
 * logged while the previous run is still going.
 */
import { randomUUID } from "node:crypto";

import { app, type InvocationContext, type Timer } from "@azure/functions";
import * as df from "durable-functions";

import { DEFAULT_RETENTION_SCHEDULE } from "../config/settings";
import { startOrJoin } from "../durable/instances";
import { Orchestrators, Triggers } from "../function-names";
import { RETENTION_INSTANCE_ID, retentionInput } from "../orchestrators/retention";

export async function startScheduledRetention(timer: Timer, client: df.DurableClient, context: InvocationContext): Promise<void> {
  const input = retentionInput({}, "timer", randomUUID());
  const start = await startOrJoin(client, { orchestrator: Orchestrators.retention, instanceId: RETENTION_INSTANCE_ID, input, covers: () => false });
  if (start.kind === "started") context.log(`scheduled retention started${timer.isPastDue ? " (past due)" : ""}`);
  else context.log(`scheduled retention skipped: the previous one is still ${start.runtimeStatus}`);
}

/** Read when the functions are indexed, with the documented default (see timer-start-reconciliation.ts for why). */
app.timer(Triggers.timerStartRetention, {
  schedule: process.env.RETENTION_SCHEDULE?.trim() || DEFAULT_RETENTION_SCHEDULE,
  extraInputs: [df.input.durableClient()],
  handler: (timer: Timer, context: InvocationContext) => startScheduledRetention(timer, df.getClient(context), context),
});
