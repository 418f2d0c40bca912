/**
 * Reconciliation of the lake: discover its containers (new ones included, CONTAINERS / EXCLUDE_CONTAINERS honoured),
 * reconcile them with at most `parallelism` container sub-orchestrations at a time, then write the report into the
 * backup account. The history grows with the number of containers, never with blobs.
 */
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import { z } from "zod";

import { lakeContainersSchema } from "../activities/list-lake-containers";
import type { Settings } from "../config/settings";
import { backupContainerName, isValidContainerName } from "../domain/names";
import {
  addCounts,
  type ContainerReport,
  containerReportSchema,
  type ReconciliationReport,
  selectContainers,
  zeroCounts,
} from "../domain/reconciliation";
import { registerOrchestrator } from "../durable/register-orchestrator";
import { STORAGE_PAGE_RETRY } from "../durable/retry-policies";
import { Activities, Orchestrators } from "../function-names";
import type { ContainerReconciliationInput } from "./container-reconciliation";

export const RECONCILIATION_INSTANCE_ID = "reconciliation";

const containerName = z.string().refine(isValidContainerName, "must be a container name");

export const reconciliationInputSchema = z.strictObject({
  /** The containers asked for (request body, else CONTAINERS); absent: every container of the lake. */
  containers: z.array(containerName).optional(),
  excludeContainers: z.array(containerName),
  prefix: z.string().max(1024).optional(),
  dryRun: z.boolean(),
  snapshots: z.enum(["auto", "on", "off"]),
  parallelism: z.number().int().min(1).max(64),
  backupContainerTemplate: z.string(),
  account: z.string(),
  backupAccount: z.string(),
  startedBy: z.enum(["http", "timer"]),
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

/** The orchestration input from the settings and a request: configuration travels in the input, not in process.env. */
export function reconciliationInput(settings: Settings, accounts: { source: string; backup: string }, request: ReconciliationRequest, startedBy: "http" | "timer"): ReconciliationInput {
  const containers = request.containers ?? settings.containers;
  return {
    ...(containers !== undefined && { containers: [...containers] }),
    excludeContainers: [...settings.excludeContainers],
    ...(request.prefix !== undefined && { prefix: request.prefix }),
    dryRun: request.dryRun ?? false,
    snapshots: settings.snapshots,
    parallelism: settings.reconcileParallelism,
    backupContainerTemplate: settings.backupContainerTemplate,
    account: accounts.source,
    backupAccount: accounts.backup,
    startedBy,
  };
}

function failedReport(container: string, backupContainer: string, error: string, at: string): ContainerReport {
  return {
    container,
    backupContainer,
    status: "failed",
    error,
    counts: zeroCounts(),
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

  const lake = lakeContainersSchema.parse(yield context.df.callActivityWithRetry(Activities.listLakeContainers, STORAGE_PAGE_RETRY, null));
  const { selected, excluded, notFound } = selectContainers(lake.containers, input.containers, input.excludeContainers);

  const reports: ContainerReport[] = [];
  let totals = zeroCounts();
  // Sub-orchestration ids are unique per run, so a later run never collides with an earlier run's finished children.
  const runId = startedAt.replace(/[^0-9]/g, "");
  for (let i = 0; i < selected.length; i += input.parallelism) {
    const batch = selected.slice(i, i + input.parallelism);
    context.df.setCustomStatus({
      phase: "reconciling",
      containersTotal: selected.length,
      containersDone: reports.length,
      current: batch,
      blobs: totals.blobs,
      requests: totals.requests,
    });
    const tasks = [];
    const batchReports: (ContainerReport | undefined)[] = [];
    for (const container of batch) {
      const backupContainer = backupContainerName(input.backupContainerTemplate, container);
      if (!isValidContainerName(backupContainer)) {
        batchReports.push(failedReport(container, backupContainer, `backup container name "${backupContainer}" is not valid`, startedAt));
        continue;
      }
      const childInput: ContainerReconciliationInput = {
        container,
        backupContainer,
        options: {
          ...(input.prefix !== undefined && { prefix: input.prefix }),
          dryRun: input.dryRun,
          snapshots: input.snapshots,
          ...(input.pageSize !== undefined && { pageSize: input.pageSize }),
          sourcePages: input.sourcePages,
        },
        ...(input.windowsPerExecution !== undefined && { windowsPerExecution: input.windowsPerExecution }),
      };
      batchReports.push(undefined);
      tasks.push(
        context.df.callSubOrchestrator(Orchestrators.containerReconciliation, childInput, `${context.df.instanceId}-${runId}-${container}`),
      );
    }
    const results = tasks.length > 0 ? ((yield context.df.Task.all(tasks)) as unknown[]) : [];
    let next = 0;
    for (const report of batchReports) {
      const r = report ?? containerReportSchema.parse(results[next++]);
      reports.push(r);
      totals = addCounts(totals, r.counts);
    }
  }

  const report: ReconciliationReport = {
    instanceId: context.df.instanceId,
    account: input.account,
    backupAccount: input.backupAccount,
    dryRun: input.dryRun,
    ...(input.prefix !== undefined && { prefix: input.prefix }),
    startedAt,
    completedAt: context.df.currentUtcDateTime.toISOString(),
    containers: reports,
    excluded,
    notFound,
    totals,
  };
  context.df.setCustomStatus({ phase: "writing report", containersTotal: selected.length, containersDone: reports.length });
  if (input.dryRun) return report;
  const written = (yield context.df.callActivityWithRetry(Activities.writeReconciliationReport, STORAGE_PAGE_RETRY, { report })) as {
    reportBlob: string;
  };
  context.df.setCustomStatus({ phase: "done", containersTotal: selected.length, containersDone: reports.length });
  return { ...report, reportBlob: written.reportBlob };
};

registerOrchestrator(Orchestrators.reconciliation, reconciliation);
