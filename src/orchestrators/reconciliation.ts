/**
 * Reconciliation of the lake: discover its containers (new ones included, CONTAINERS / EXCLUDE_CONTAINERS honoured),
 * reconcile them with at most `parallelism` container sub-orchestrations at a time, then write the report into the
 * backup account. The history grows with the number of containers, never with blobs.
 */
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import { z } from "zod";

import { blobNameSchema, containerNameSchema } from "../domain/name-schemas";
import {
  addReconcileCounts,
  type ContainerReport,
  containerReportSchema,
  type PlanInput,
  reconciliationPlanSchema,
  type ReconciliationReport,
  zeroReconcileCounts,
} from "../domain/reconciliation";
import { inSync } from "../domain/stuck-backups";
import { registerOrchestrator } from "../durable/register-orchestrator";
import { STORAGE_PAGE_RETRY } from "../durable/retry-policies";
import { findStuckBackups } from "../durable/stuck-backups-step";
import { Activities, Orchestrators } from "../function-names";
import type { ContainerReconciliationInput } from "./container-reconciliation";

export const RECONCILIATION_INSTANCE_ID = "reconciliation";

/**
 * The request only: which containers (narrowing the settings' selection), prefix, dry run. What the settings decide
 * (selection, backup containers, parallelism, snapshot mode, accounts) comes from the plan activity.
 */
export const reconciliationInputSchema = z.strictObject({
  /** The containers asked for; absent: every container the settings select. */
  containers: z.array(containerNameSchema).max(5000).optional(),
  prefix: blobNameSchema.optional(),
  dryRun: z.boolean(),
  startedBy: z.enum(["http", "timer"]),
  /** A fresh id per start, so a starter can tell whether the instance that runs is its own (src/durable/instances.ts). */
  startId: z.string().max(100).optional(),
  /** Listing page size and source pages per window; tests use small pages to cover paging cheaply. */
  pageSize: z.number().int().min(1).max(5000).optional(),
  sourcePages: z.number().int().min(1).max(20).default(4),
  windowsPerExecution: z.number().int().min(1).max(1000).optional(),
});
export type ReconciliationInput = z.input<typeof reconciliationInputSchema>;

export interface ReconciliationRequest {
  readonly containers?: readonly string[];
  readonly prefix?: string;
  readonly dryRun?: boolean;
}

/** The orchestration input for a request. */
export function reconciliationInput(request: ReconciliationRequest, startedBy: "http" | "timer", startId: string): ReconciliationInput & { startId: string } {
  return {
    ...(request.containers !== undefined && { containers: [...request.containers] }),
    ...(request.prefix !== undefined && { prefix: request.prefix }),
    dryRun: request.dryRun ?? false,
    startedBy,
    startId,
  };
}

function failedReport(container: string, backupContainer: string, error: string, at: string): ContainerReport {
  return {
    container,
    backupContainer,
    status: "failed",
    error,
    counts: zeroReconcileCounts(),
    orphanSamples: [],
    windows: 0,
    startedAt: at,
    completedAt: at,
  };
}

export const reconciliation: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = reconciliationInputSchema.parse(context.df.getInput());
  const startedAt = context.df.currentUtcDateTime.toISOString();
  context.df.setCustomStatus({ phase: "discovering containers" });

  const planInput: PlanInput = input.containers === undefined ? {} : { containers: input.containers };
  const plan = reconciliationPlanSchema.parse(yield context.df.callActivityWithRetry(Activities.planReconciliation, STORAGE_PAGE_RETRY, planInput));
  const selected = plan.containers;
  const containersTotal = selected.length + plan.refused.length;

  const reports: ContainerReport[] = plan.refused.map((r) => failedReport(r.container, "", r.reason, startedAt));
  let totals = zeroReconcileCounts();
  // Sub-orchestration ids are unique per run, so a later run never collides with an earlier run's finished children.
  const runId = startedAt.replace(/[^0-9]/g, "");
  for (let i = 0; i < selected.length; i += plan.parallelism) {
    const batch = selected.slice(i, i + plan.parallelism);
    context.df.setCustomStatus({
      phase: "reconciling",
      containersTotal,
      containersDone: reports.length,
      current: batch.map((b) => b.container),
      blobs: totals.blobs,
      requests: totals.requests,
    });
    const tasks = [];
    for (const { container, backupContainer } of batch) {
      const childInput: ContainerReconciliationInput = {
        container,
        backupContainer,
        options: {
          ...(input.prefix !== undefined && { prefix: input.prefix }),
          dryRun: input.dryRun,
          snapshots: plan.snapshots,
          ...(input.pageSize !== undefined && { pageSize: input.pageSize }),
          sourcePages: input.sourcePages,
        },
        ...(input.windowsPerExecution !== undefined && { windowsPerExecution: input.windowsPerExecution }),
      };
      tasks.push(
        context.df.callSubOrchestrator(Orchestrators.containerReconciliation, childInput, `${context.df.instanceId}-${runId}-${container}`),
      );
    }
    const results = (yield context.df.Task.all(tasks)) as unknown[];
    for (const result of results) {
      const r = containerReportSchema.parse(result);
      reports.push(r);
      totals = addReconcileCounts(totals, r.counts);
    }
  }

  context.df.setCustomStatus({ phase: "checking backups", containersTotal, containersDone: reports.length });
  const backups = yield* findStuckBackups(context, { dryRun: input.dryRun, containers: selected.map((c) => c.container), prefix: input.prefix });
  const report: ReconciliationReport = {
    instanceId: context.df.instanceId,
    account: plan.account,
    backupAccount: plan.backupAccount,
    dryRun: input.dryRun,
    ...(input.prefix !== undefined && { prefix: input.prefix }),
    startedAt,
    completedAt: context.df.currentUtcDateTime.toISOString(),
    containers: reports,
    excluded: plan.excluded,
    notFound: plan.notFound,
    totals,
    backups,
    inSync: inSync(reports, totals, backups),
  };
  const stuck = { failedBackups: backups.failed, stuckBackups: backups.stuck, leasesHeld: backups.leasesHeld };
  context.df.setCustomStatus({ phase: "writing report", containersTotal, containersDone: reports.length, ...stuck });
  if (input.dryRun) return report;
  const written = (yield context.df.callActivityWithRetry(Activities.writeReconciliationReport, STORAGE_PAGE_RETRY, { report })) as {
    reportBlob: string;
  };
  context.df.setCustomStatus({ phase: "done", containersTotal, containersDone: reports.length, ...stuck });
  return { ...report, reportBlob: written.reportBlob };
};

registerOrchestrator(Orchestrators.reconciliation, reconciliation);
