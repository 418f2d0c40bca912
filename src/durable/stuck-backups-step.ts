/**
 * Reconciliation's step over the backups themselves: one FindStuckBackups activity (src/activities/find-stuck-backups.ts)
 * that lists failed and stuck blob backups and leases they left, and — unless it is a dry run — repairs them. Kept out
 * of reconciliation.ts so the parent's control flow stays one call.
 */
import type { OrchestrationContext, Task } from "durable-functions";

import { type FindStuckInput, type StuckBackupsReport, stuckBackupsReportSchema } from "../domain/stuck-backups";
import { Activities } from "../function-names";
import { STORAGE_PAGE_RETRY } from "./retry-policies";

export function* findStuckBackups(
  context: OrchestrationContext,
  run: { readonly dryRun: boolean; readonly containers?: readonly string[] | undefined; readonly prefix?: string | undefined },
): Generator<Task, StuckBackupsReport, unknown> {
  const input: FindStuckInput = {
    now: context.df.currentUtcDateTime.toISOString(),
    repair: !run.dryRun,
    ...(run.containers !== undefined && { containers: [...run.containers] }),
    ...(run.prefix !== undefined && { prefix: run.prefix }),
  };
  return stuckBackupsReportSchema.parse(yield context.df.callActivityWithRetry(Activities.findStuckBackups, STORAGE_PAGE_RETRY, input));
}
