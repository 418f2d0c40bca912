/**
 * Reconciliation of the lake: discover its containers (new ones included, CONTAINERS / EXCLUDE_CONTAINERS honoured),
 * reconcile them with at most `parallelism` container sub-orchestrations at a time, then write the report into the
 * backup account. The history holds one batch of containers (continueAsNew), never all of them, never blobs.
 */
import type { OrchestrationContext, OrchestrationHandler, Task } from "durable-functions";
import { z } from "zod";

import { blobNameSchema, containerNameSchema } from "../domain/name-schemas";
import {
  addReconcileCounts,
  type ContainerReport,
  containerReportSchema,
  type PlanInput,
  reconcileCountsSchema,
  reconciliationPlanSchema,
  type ReconciliationReport,
  stagedPartSchema,
  type StagePartInput,
  zeroReconcileCounts,
} from "../domain/reconciliation";
import { inSync } from "../domain/stuck-backups";
import { registerOrchestrator } from "../durable/register-orchestrator";
import { STORAGE_PAGE_RETRY } from "../durable/retry-policies";
import { findStuckBackups } from "../durable/stuck-backups-step";
import { Activities, Orchestrators } from "../function-names";
import type { ContainerReconciliationInput } from "./container-reconciliation";

export const RECONCILIATION_INSTANCE_ID = "reconciliation";

/** Container reports kept in the output; the report blob holds every one of them. */
export const MAX_OUTPUT_CONTAINERS = 50;

const progressSchema = z.strictObject({
  startedAt: z.string(),
  account: z.string(),
  backupAccount: z.string(),
  excluded: z.array(z.string()),
  notFound: z.array(z.string()),
  /** The last container of the batches done: the next batch is planned after it. */
  after: containerNameSchema,
  containersDone: z.number().int().nonnegative(),
  totals: reconcileCountsSchema,
  /** The first MAX_OUTPUT_CONTAINERS container reports (failed ones kept in preference), for the output. */
  kept: z.array(containerReportSchema).max(MAX_OUTPUT_CONTAINERS),
  /** Report parts staged on the report blob so far, and the blob's name (chosen by the first part). */
  parts: z.number().int().nonnegative(),
  reportName: z.string().optional(),
});
type Progress = z.infer<typeof progressSchema>;

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
  /** Carried through continueAsNew (one batch of containers per execution); absent on the first execution. */
  progress: progressSchema.optional(),
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

/** Keeps the output's sample of container reports bounded: the first ones, failed ones preferred. */
function keep(kept: readonly ContainerReport[], more: readonly ContainerReport[]): ContainerReport[] {
  const all = [...kept, ...more];
  if (all.length <= MAX_OUTPUT_CONTAINERS) return all;
  const failed = all.filter((r) => r.status === "failed").slice(0, MAX_OUTPUT_CONTAINERS);
  const rest = all.filter((r) => r.status !== "failed").slice(0, MAX_OUTPUT_CONTAINERS - failed.length);
  return [...failed, ...rest];
}

/**
 * One batch of containers per execution, then `continueAsNew` with the position (the batch's last container name) and
 * the totals: the plan activity gives the next batch each time (containers are planned in name order), each batch's
 * container reports are staged on the report blob as one part (src/activities/stage-reconciliation-report-part.ts),
 * and only counts travel on. The output keeps the first MAX_OUTPUT_CONTAINERS reports and the totals; the report blob
 * every one. So neither the history nor an execution's input grows with the number of containers.
 */
export const reconciliation: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = reconciliationInputSchema.parse(context.df.getInput());
  const carried = input.progress;
  const startedAt = carried?.startedAt ?? context.df.currentUtcDateTime.toISOString();
  if (carried === undefined) context.df.setCustomStatus({ phase: "discovering containers" });
  const planInput: PlanInput = {
    ...(input.containers !== undefined && { containers: input.containers }),
    batch: true,
    ...(carried !== undefined && { after: carried.after }),
  };
  const plan = reconciliationPlanSchema.parse(yield context.df.callActivityWithRetry(Activities.planReconciliation, STORAGE_PAGE_RETRY, planInput));
  let progress: Progress = carried ?? {
    startedAt,
    account: plan.account,
    backupAccount: plan.backupAccount,
    excluded: plan.excluded,
    notFound: plan.notFound,
    after: plan.last ?? "",
    containersDone: 0,
    totals: zeroReconcileCounts(),
    kept: [],
    parts: 0,
  };
  // Sub-orchestration ids are unique per run, so a later run never collides with an earlier run's finished children.
  const runId = startedAt.replace(/[^0-9]/g, "");
  const batch = plan.containers;
  const refused = plan.refused.map((r) => failedReport(r.container, "", r.reason, startedAt));

  if (batch.length + refused.length > 0) {
    context.df.setCustomStatus({
      phase: "reconciling",
      containersDone: progress.containersDone,
      current: batch.map((b) => b.container),
      blobs: progress.totals.blobs,
      requests: progress.totals.requests,
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
      tasks.push(context.df.callSubOrchestrator(Orchestrators.containerReconciliation, childInput, `${context.df.instanceId}-${runId}-${container}`));
    }
    const results = tasks.length === 0 ? [] : ((yield context.df.Task.all(tasks)) as unknown[]);
    const reports = [...refused, ...results.map((r) => containerReportSchema.parse(r))].sort((a, b) => (a.container < b.container ? -1 : 1));
    progress = yield* reportBatch(context, input, { ...progress, ...(plan.last !== undefined && { after: plan.last }) }, reports);
    if (plan.more === true) {
      context.df.continueAsNew({ ...input, progress });
      return undefined;
    }
  }

  context.df.setCustomStatus({ phase: "checking backups", containersDone: progress.containersDone });
  const backups = yield* findStuckBackups(context, { dryRun: input.dryRun, containers: input.containers, prefix: input.prefix });
  const report: ReconciliationReport = {
    instanceId: context.df.instanceId,
    account: progress.account,
    backupAccount: progress.backupAccount,
    dryRun: input.dryRun,
    ...(input.prefix !== undefined && { prefix: input.prefix }),
    startedAt,
    completedAt: context.df.currentUtcDateTime.toISOString(),
    containersReported: progress.containersDone,
    containers: progress.kept,
    excluded: progress.excluded,
    notFound: progress.notFound,
    totals: progress.totals,
    backups,
    // The kept reports prefer failed ones, so a failed container is always among them.
    inSync: inSync(progress.kept, progress.totals, backups),
  };
  const stuck = { failedBackups: backups.failed, stuckBackups: backups.stuck, leasesHeld: backups.leasesHeld };
  context.df.setCustomStatus({ phase: "writing report", containersDone: progress.containersDone, ...stuck });
  if (input.dryRun) return report;
  const written = (yield context.df.callActivityWithRetry(Activities.writeReconciliationReport, STORAGE_PAGE_RETRY, {
    report,
    parts: progress.parts,
    ...(progress.reportName !== undefined && { reportName: progress.reportName }),
  })) as { reportBlob: string };
  context.df.setCustomStatus({ phase: "done", containersDone: progress.containersDone, ...stuck });
  return { ...report, reportBlob: written.reportBlob };
};

/** Adds a batch of container reports: staged as the report blob's next part (not in a dry run), counted, sampled. */
function* reportBatch(
  context: OrchestrationContext,
  input: z.infer<typeof reconciliationInputSchema>,
  progress: Progress,
  reports: readonly ContainerReport[],
): Generator<Task, Progress, unknown> {
  let parts = progress.parts;
  let reportName = progress.reportName;
  if (!input.dryRun && reports.length > 0) {
    const part: StagePartInput = {
      instanceId: context.df.instanceId,
      startedAt: progress.startedAt,
      ...(reportName !== undefined && { reportName }),
      part: parts,
      containers: [...reports],
    };
    const staged = stagedPartSchema.parse(yield context.df.callActivityWithRetry(Activities.stageReconciliationReportPart, STORAGE_PAGE_RETRY, part));
    reportName = staged.reportName;
    parts += 1;
  }
  return {
    ...progress,
    ...(reportName !== undefined && { reportName }),
    containersDone: progress.containersDone + reports.length,
    totals: reports.reduce((sum, r) => addReconcileCounts(sum, r.counts), progress.totals),
    kept: keep(progress.kept, reports),
    parts,
  };
}

registerOrchestrator(Orchestrators.reconciliation, reconciliation);
