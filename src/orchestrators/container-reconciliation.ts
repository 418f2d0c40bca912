/**
 * Reconciliation of one container: window after window (a few source pages each) until the source listing ends,
 * then the container's report. `continueAsNew` every `windowsPerExecution` windows carries the cursors and totals, so
 * the history stays bounded whatever the container's size. A failure is reported, not thrown: the parent
 * reconciliation goes on with the other containers.
 */
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import { z } from "zod";

import { describeError } from "../domain/errors";
import { containerNameSchema } from "../domain/name-schemas";
import {
  addReconcileCounts,
  type ContainerReport,
  cursorSchema,
  MAX_ORPHAN_SAMPLES,
  reconcileCountsSchema,
  type WindowInput,
  windowOptionsSchema,
  windowResultSchema,
  zeroReconcileCounts,
} from "../domain/reconciliation";
import { registerOrchestrator } from "../durable/register-orchestrator";
import { STORAGE_PAGE_RETRY } from "../durable/retry-policies";
import { Activities, Orchestrators } from "../function-names";

export const DEFAULT_WINDOWS_PER_EXECUTION = 25;

const containerReconciliationProgressSchema = z.strictObject({
  startedAt: z.string(),
  cursor: cursorSchema,
  snapshotsRefusedReason: z.string().optional(),
  windows: z.number().int().nonnegative(),
  totals: reconcileCountsSchema,
  orphanSamples: z.array(z.string()),
});
type ContainerReconciliationProgress = z.infer<typeof containerReconciliationProgressSchema>;

export const containerReconciliationInputSchema = z.strictObject({
  container: containerNameSchema,
  backupContainer: containerNameSchema,
  options: windowOptionsSchema,
  windowsPerExecution: z.number().int().min(1).max(1000).default(DEFAULT_WINDOWS_PER_EXECUTION),
  progress: containerReconciliationProgressSchema.optional(),
});
export type ContainerReconciliationInput = z.input<typeof containerReconciliationInputSchema>;

export const containerReconciliation: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = containerReconciliationInputSchema.parse(context.df.getInput());
  let progress: ContainerReconciliationProgress = input.progress ?? {
    startedAt: context.df.currentUtcDateTime.toISOString(),
    cursor: { backup: {} },
    windows: 0,
    totals: zeroReconcileCounts(),
    orphanSamples: [],
  };
  const report = (status: ContainerReport["status"], error?: string): ContainerReport => ({
    container: input.container,
    backupContainer: input.backupContainer,
    status,
    ...(error !== undefined && { error }),
    counts: progress.totals,
    orphanSamples: progress.orphanSamples,
    ...(progress.snapshotsRefusedReason !== undefined && { snapshotsRefusedReason: progress.snapshotsRefusedReason }),
    windows: progress.windows,
    startedAt: progress.startedAt,
    completedAt: context.df.currentUtcDateTime.toISOString(),
  });

  for (let windowsThisExecution = 0; ; windowsThisExecution += 1) {
    if (windowsThisExecution >= input.windowsPerExecution) {
      context.df.continueAsNew({ ...input, progress });
      return undefined;
    }
    const windowInput: WindowInput = {
      container: input.container,
      backupContainer: input.backupContainer,
      options: input.options,
      cursor: progress.cursor,
      snapshotsRefused: progress.snapshotsRefusedReason !== undefined,
    };
    let result;
    try {
      result = windowResultSchema.parse(
        yield context.df.callActivityWithRetry(Activities.reconcileContainerWindow, STORAGE_PAGE_RETRY, windowInput),
      );
    } catch (err) {
      return report("failed", describeError(err));
    }
    if (result.kind === "containerNotFound") return report("failed", `container "${input.container}" no longer exists`);
    if (result.kind === "refused") return report("failed", `refused: ${result.reason}`);
    if (result.kind === "snapshotsRefused") {
      return report("failed", `the account refuses blob snapshots (${result.reason}); SNAPSHOTS=on requires them`);
    }
    const refused = progress.snapshotsRefusedReason ?? result.snapshotsRefusedReason;
    progress = {
      startedAt: progress.startedAt,
      cursor: result.cursor,
      ...(refused !== undefined && { snapshotsRefusedReason: refused }),
      windows: progress.windows + 1,
      totals: addReconcileCounts(progress.totals, result.counts),
      orphanSamples: [...progress.orphanSamples, ...result.orphanSamples].slice(0, MAX_ORPHAN_SAMPLES),
    };
    const t = progress.totals;
    context.df.setCustomStatus({
      container: input.container,
      phase: result.done ? "done" : "reconciling",
      windows: progress.windows,
      blobs: t.blobs,
      inSync: t.inSync,
      snapshots: t.snapshots,
      requests: t.requests,
      orphans: t.orphans,
    });
    if (result.done) return report("completed");
  }
};

registerOrchestrator(Orchestrators.containerReconciliation, containerReconciliation);
