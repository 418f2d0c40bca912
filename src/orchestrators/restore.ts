/**
 * A restore: check the backup container and create the target, then batch after batch — a page of the backup listing
 * with its versions, or a slice of the names asked for — each restored by one activity, then the report. Progress
 * (cursors, counts, a few samples) is carried through `continueAsNew` every `batchesPerExecution` batches, so history
 * and memory stay bounded whatever the container's size. Fan-out is bounded inside the batch (RESTORE_CONCURRENCY).
 *
 * A restore that cannot go on (no backup container, an activity failing past its retries) still writes its report,
 * then fails with the reason; blobs that failed one by one are counted and the restore completes
 * `completedWithFailures`.
 */
import type { OrchestrationContext, OrchestrationHandler, Task } from "durable-functions";
import * as df from "durable-functions";
import { z } from "zod";

import type { Settings } from "../config/settings";
import { describeError } from "../domain/errors";
import { backupContainerName, isValidContainerName } from "../domain/names";
import { RESTORE_SKIP_REASONS, type RestorePlan, restorePlanSchema, restoreReportBlobs } from "../domain/restore";
import {
  addRestoreCounts,
  type BatchInput,
  batchResultSchema,
  listingCursorSchema,
  MAX_SAMPLES,
  type PrepareRestoreInput,
  prepareRestoreResultSchema,
  type RestoreCounts,
  restoreCountsSchema,
  restoreLineSchema,
  type RestoreReport,
  targetCursorSchema,
  writesFirst,
  zeroRestoreCounts,
} from "../domain/restore-contracts";
import { STORAGE_PAGE_RETRY } from "../durable/retry-policies";
import { Activities, Orchestrators } from "../function-names";

export const DEFAULT_BATCHES_PER_EXECUTION = 25;
/** Names of a `blobs` request restored by one batch. */
export const DEFAULT_NAMES_PER_BATCH = 100;

const restoreProgressSchema = z.strictObject({
  startedAt: z.string(),
  prepared: z.boolean(),
  batches: z.number().int().nonnegative(),
  /** Blocks of the per-blob report staged so far. */
  blocks: z.number().int().nonnegative(),
  /** Listing restores: where the next batch starts (absent before the first). */
  next: z.strictObject({ cursor: listingCursorSchema, targetCursor: targetCursorSchema }).optional(),
  /** `blobs` restores: how many names are done. */
  namesDone: z.number().int().nonnegative(),
  counts: restoreCountsSchema,
  samples: z.array(restoreLineSchema),
  failures: z.array(restoreLineSchema),
});
type RestoreProgress = z.infer<typeof restoreProgressSchema>;

export const restoreInputSchema = z.strictObject({
  plan: restorePlanSchema,
  backupContainer: z.string().refine(isValidContainerName, "must be a container name"),
  history: z.enum(["snapshot", "versioning"]),
  accounts: z.strictObject({ source: z.string(), backup: z.string(), target: z.string() }),
  /** A fresh id per start, so a starter can tell whether the instance that runs is its own (src/durable/instances.ts). */
  startId: z.string().max(100).optional(),
  /** Listing page size; tests use small pages to cover paging cheaply. */
  pageSize: z.number().int().min(1).max(5000).optional(),
  /** Bytes one batch copies at most (DEFAULT_MAX_BATCH_BYTES). */
  maxBatchBytes: z.number().int().min(1).optional(),
  namesPerBatch: z.number().int().min(1).max(1000).default(DEFAULT_NAMES_PER_BATCH),
  batchesPerExecution: z.number().int().min(1).max(1000).default(DEFAULT_BATCHES_PER_EXECUTION),
  progress: restoreProgressSchema.optional(),
});
export type RestoreInput = z.input<typeof restoreInputSchema>;

/** The orchestration input from the plan and the settings (orchestrators read no settings). */
export function restoreInput(
  plan: RestorePlan,
  settings: Pick<Settings, "backupContainerTemplate" | "backupHistory">,
  accounts: RestoreInput["accounts"],
  startId: string,
): RestoreInput & { startId: string } {
  return {
    plan,
    backupContainer: backupContainerName(settings.backupContainerTemplate, plan.container),
    history: settings.backupHistory,
    accounts,
    startId,
  };
}

function nonZeroSkips(counts: RestoreCounts): Record<string, number> {
  return Object.fromEntries(RESTORE_SKIP_REASONS.filter((r) => counts.skipped[r] > 0).map((r) => [r, counts.skipped[r]]));
}

export const restoreOrchestrator: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = restoreInputSchema.parse(context.df.getInput());
  const { plan } = input;
  let progress: RestoreProgress = input.progress ?? {
    startedAt: context.df.currentUtcDateTime.toISOString(),
    prepared: false,
    batches: 0,
    blocks: 0,
    namesDone: 0,
    counts: zeroRestoreCounts(),
    samples: [],
    failures: [],
  };
  const blobs = restoreReportBlobs(context.df.instanceId, progress.startedAt);

  const status = (phase: string): void => {
    const c = progress.counts;
    context.df.setCustomStatus({
      phase,
      dryRun: plan.dryRun,
      target: `${input.accounts.target}/${plan.target.container}`,
      batches: progress.batches,
      considered: c.considered,
      planned: c.planned,
      restored: c.restored,
      failed: c.failed,
      bytes: c.bytes,
      skipped: nonZeroSkips(c),
    });
  };

  function* finish(outcome: RestoreReport["status"], error?: string): Generator<Task, RestoreReport, unknown> {
    status("reporting");
    const report: RestoreReport = {
      instanceId: context.df.instanceId,
      status: outcome,
      ...(error !== undefined && { error }),
      source: {
        account: input.accounts.source,
        container: plan.container,
        backupAccount: input.accounts.backup,
        backupContainer: input.backupContainer,
        history: input.history,
        ...(plan.prefix !== undefined && { prefix: plan.prefix }),
        ...(plan.blobs !== undefined && { blobs: plan.blobs.length }),
      },
      asOf: plan.asOf,
      target: { account: plan.target.account, accountName: input.accounts.target, container: plan.target.container, ...(plan.target.prefix !== undefined && { prefix: plan.target.prefix }) },
      overwrite: plan.overwrite,
      inPlace: plan.inPlace,
      dryRun: plan.dryRun,
      startedAt: progress.startedAt,
      completedAt: context.df.currentUtcDateTime.toISOString(),
      batches: progress.batches,
      counts: progress.counts,
      samples: progress.samples,
      failures: progress.failures,
    };
    let written: { reportBlob: string; detailsBlob?: string } | undefined;
    let reportError: string | undefined;
    try {
      written = (yield context.df.callActivityWithRetry(Activities.writeRestoreReport, STORAGE_PAGE_RETRY, {
        report,
        reportBlob: blobs.report,
        detailsBlob: blobs.details,
        detailsBlocks: progress.blocks,
      })) as { reportBlob: string; detailsBlob?: string };
    } catch (err) {
      reportError = `the report could not be written: ${describeError(err)}`;
    }
    status(outcome === "failed" ? "failed" : "done");
    const final: RestoreReport = {
      ...report,
      ...(written?.reportBlob !== undefined && { reportBlob: written.reportBlob }),
      ...(written?.detailsBlob !== undefined && { detailsBlob: written.detailsBlob }),
    };
    if (outcome === "failed") throw new Error(`restore failed: ${error ?? "unknown"}${written ? ` (report: ${written.reportBlob})` : ""}`);
    if (reportError !== undefined) throw new Error(`restore ${outcome}, but ${reportError}`);
    return final;
  }

  if (!progress.prepared) {
    status("preparing");
    const prepareInput: PrepareRestoreInput = {
      container: plan.container,
      backupContainer: input.backupContainer,
      target: { account: plan.target.account, container: plan.target.container },
      dryRun: plan.dryRun,
    };
    let prepared;
    try {
      prepared = prepareRestoreResultSchema.parse(yield context.df.callActivityWithRetry(Activities.prepareRestore, STORAGE_PAGE_RETRY, prepareInput));
    } catch (err) {
      return yield* finish("failed", `could not prepare the target ${plan.target.container}: ${describeError(err)}`);
    }
    if (prepared.kind === "backupContainerNotFound") {
      return yield* finish("failed", `the backup account ${input.accounts.backup} has no container ${input.backupContainer}: nothing of ${plan.container} was ever backed up`);
    }
    progress = { ...progress, prepared: true };
  }

  const names = plan.blobs;
  for (let batchesThisExecution = 0; ; batchesThisExecution += 1) {
    if (batchesThisExecution >= input.batchesPerExecution) {
      context.df.continueAsNew({ ...input, progress });
      return undefined;
    }
    const batchNames = names?.slice(progress.namesDone, progress.namesDone + input.namesPerBatch);
    const batchInput: BatchInput = {
      options: {
        container: plan.container,
        backupContainer: input.backupContainer,
        history: input.history,
        asOf: plan.asOf,
        ...(plan.prefix !== undefined && { prefix: plan.prefix }),
        target: plan.target,
        overwrite: plan.overwrite,
        dryRun: plan.dryRun,
        inPlace: plan.inPlace,
        ...(input.pageSize !== undefined && { pageSize: input.pageSize }),
        ...(input.maxBatchBytes !== undefined && { maxBatchBytes: input.maxBatchBytes }),
      },
      source:
        batchNames !== undefined
          ? { kind: "names", names: batchNames }
          : { kind: "listing", cursor: progress.next?.cursor ?? {}, targetCursor: progress.next?.targetCursor ?? {} },
      details: { blob: blobs.details, block: progress.blocks },
    };
    status(plan.dryRun ? "dry run" : "restoring");
    let result;
    try {
      result = batchResultSchema.parse(yield context.df.callActivityWithRetry(Activities.restoreBatch, STORAGE_PAGE_RETRY, batchInput));
    } catch (err) {
      return yield* finish("failed", `batch ${progress.batches + 1} failed: ${describeError(err)}`);
    }
    if (result.kind === "backupContainerNotFound") {
      return yield* finish("failed", `the backup container ${input.backupContainer} disappeared during the restore`);
    }
    const namesDone = progress.namesDone + (batchNames?.length ?? 0);
    progress = {
      ...progress,
      batches: progress.batches + 1,
      blocks: progress.blocks + (result.detailsStaged ? 1 : 0),
      ...(result.next !== undefined ? { next: result.next } : {}),
      namesDone,
      counts: addRestoreCounts(progress.counts, result.counts),
      samples: writesFirst([...progress.samples, ...result.samples]).slice(0, MAX_SAMPLES),
      failures: [...progress.failures, ...result.failures].slice(0, MAX_SAMPLES),
    };
    const done = names !== undefined ? namesDone >= names.length : result.next === undefined;
    if (done) return yield* finish(progress.counts.failed > 0 ? "completedWithFailures" : "completed");
  }
};

df.app.orchestration(Orchestrators.restore, restoreOrchestrator);
