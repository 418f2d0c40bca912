/**
 * Reconciliation's JSON contracts (orchestration inputs, activity results, the report) and the arithmetic on its
 * counts. Everything here crosses the Durable JSON boundary, so it is a zod schema first and a type second.
 */
import { z } from "zod";

import { backupCursorSchema } from "./backup-join";
import { backupTargetOf, type ContainerPolicy } from "./container-policy";
import { listingRangeSchema } from "./listing-ranges";
import { blobNameSchema, containerNameSchema } from "./name-schemas";
import { addSkipCounts, skipCountsSchema, zeroSkipCounts } from "./skip-counts";
import { snapshotModeSchema } from "./snapshot-mode";
import { stuckBackupsReportSchema } from "./stuck-backups";

const count = z.number().int().nonnegative();
const containerName = containerNameSchema;

/** What reconciliation found and did in one container (or, summed, in the lake). */
export const reconcileCountsSchema = z.strictObject({
  /** Source blobs listed (live blobs, skipped ones included). */
  blobs: count,
  /** Live versions that had no snapshot yet: new blobs, and blobs changed since their newest snapshot. */
  new: count,
  changed: count,
  /** Snapshots taken (0 in a dry run). */
  snapshots: count,
  /** Backup holds the source's current version. */
  inSync: count,
  /** No backup blob. */
  missing: count,
  /** A backup blob of an older version. */
  outdated: count,
  /** Backup requests sent (0 in a dry run; missing + outdated otherwise). */
  requests: count,
  /** Backup blobs whose source blob no longer exists (never deleted by us). */
  orphans: count,
  /** Orphans seen for the first time: their deletion time written on the backup blob, for restore. */
  deletionsRecorded: count,
  /** Orphans whose deletion the backup account refused to record (e.g. an immutability policy). */
  deletionsRefused: count,
  skipped: skipCountsSchema,
  sourceListRequests: count,
  backupListRequests: count,
  snapshotRequests: count,
});
export type ReconcileCounts = z.infer<typeof reconcileCountsSchema>;

export function zeroReconcileCounts(): ReconcileCounts {
  return {
    blobs: 0,
    new: 0,
    changed: 0,
    snapshots: 0,
    inSync: 0,
    missing: 0,
    outdated: 0,
    requests: 0,
    orphans: 0,
    deletionsRecorded: 0,
    deletionsRefused: 0,
    skipped: zeroSkipCounts(),
    sourceListRequests: 0,
    backupListRequests: 0,
    snapshotRequests: 0,
  };
}

export function addReconcileCounts(a: ReconcileCounts, b: ReconcileCounts): ReconcileCounts {
  const sum = zeroReconcileCounts();
  for (const key of Object.keys(sum) as (keyof ReconcileCounts)[]) {
    if (key === "skipped") continue;
    sum[key] = a[key] + b[key];
  }
  sum.skipped = addSkipCounts(a.skipped, b.skipped);
  return sum;
}

/** At most this many orphan names are kept per container in the report; the count is always complete. */
export const MAX_ORPHAN_SAMPLES = 20;

export const cursorSchema = z.strictObject({
  source: z.strictObject({ continuationToken: z.string().optional(), skipName: z.string().optional() }).optional(),
  backup: backupCursorSchema,
});

export const windowOptionsSchema = z.strictObject({
  prefix: blobNameSchema.optional(),
  dryRun: z.boolean(),
  snapshots: snapshotModeSchema,
  /** Listing page size; the service's maximum unless a test asks for many small pages. */
  pageSize: z.number().int().min(1).max(5000).optional(),
  /** Source pages per activity call. */
  sourcePages: z.number().int().min(1).max(20),
  /** Backup pages per activity call at most (src/storage/reconcile-window.ts); tests use few to cover the cursor. */
  backupPages: z.number().int().min(1).max(100).optional(),
  /** One name range of the container (src/domain/listing-ranges.ts), inside `prefix`; absent: the whole container. */
  range: listingRangeSchema.optional(),
});
export type WindowOptions = z.infer<typeof windowOptionsSchema>;

export const windowInputSchema = z.strictObject({
  container: containerName,
  backupContainer: containerName,
  options: windowOptionsSchema,
  cursor: cursorSchema,
  snapshotsRefused: z.boolean(),
});
export type WindowInput = z.infer<typeof windowInputSchema>;

export const windowResultSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("containerNotFound") }),
  /** The settings do not allow this window (container selection, backup container, snapshot mode): nothing was done. */
  z.strictObject({ kind: z.literal("refused"), reason: z.string() }),
  z.strictObject({ kind: z.literal("snapshotsRefused"), reason: z.string() }),
  z.strictObject({
    kind: z.literal("window"),
    counts: reconcileCountsSchema,
    orphanSamples: z.array(z.string()).max(MAX_ORPHAN_SAMPLES),
    cursor: cursorSchema,
    done: z.boolean(),
    snapshotsRefusedReason: z.string().optional(),
    /**
     * Top-level directories (under the run's prefix) among the window's names but the last name's: those it covered
     * wholly when it started at the listing's first name, as a container's first window does — which is the one whose
     * count tells PlanListingRanges whether ranges can pay (later windows' counts are not used).
     */
    directoriesCovered: z.number().int().nonnegative().optional(),
  }),
]);
export type WindowResult = z.infer<typeof windowResultSchema>;

export const containerReportSchema = z.strictObject({
  container: z.string(),
  backupContainer: z.string(),
  status: z.enum(["completed", "failed"]),
  /** Why the container could not be reconciled (status failed). */
  error: z.string().optional(),
  counts: reconcileCountsSchema,
  orphanSamples: z.array(z.string()),
  /** Snapshots were refused by the account: requests name live versions by ETag. */
  snapshotsRefusedReason: z.string().optional(),
  windows: count,
  startedAt: z.string(),
  completedAt: z.string(),
});
export type ContainerReport = z.infer<typeof containerReportSchema>;

export const reconciliationReportSchema = z.strictObject({
  instanceId: z.string(),
  account: z.string(),
  backupAccount: z.string(),
  dryRun: z.boolean(),
  prefix: z.string().optional(),
  startedAt: z.string(),
  completedAt: z.string(),
  /** Containers reported: all of them in the report blob; the output keeps the first few (failed ones first). */
  containersReported: count.optional(),
  containers: z.array(containerReportSchema),
  /** Containers of the lake left out by CONTAINERS / EXCLUDE_CONTAINERS. */
  excluded: z.array(z.string()),
  /** Containers asked for that the lake does not have. */
  notFound: z.array(z.string()),
  totals: reconcileCountsSchema,
  /** Blob backups that failed, are stuck, or left a lease (src/domain/stuck-backups.ts), and what the run did about them. */
  backups: stuckBackupsReportSchema.optional(),
  /** Nothing missing, outdated, failed or stuck (`inSync` in src/domain/stuck-backups.ts). */
  inSync: z.boolean().optional(),
  /** Where the JSON report was written in the backup account (absent in a dry run). */
  reportBlob: z.string().optional(),
});
export type ReconciliationReport = z.infer<typeof reconciliationReportSchema>;

/**
 * One batch of container reports staged as part `part` of the report blob (src/activities/stage-reconciliation-report-part.ts).
 * The first part chooses the blob's name (`reportName` absent); the next ones stage on it.
 */
export const stagePartInputSchema = z.strictObject({
  instanceId: z.string().max(200),
  startedAt: z.iso.datetime({ offset: true }),
  reportName: z.string().max(1024).optional(),
  part: z.number().int().min(0).max(49_000),
  containers: z.array(containerReportSchema).min(1).max(64),
});
export type StagePartInput = z.infer<typeof stagePartInputSchema>;
export const stagedPartSchema = z.strictObject({ reportName: z.string() });

/** The plan activity's input: only a narrowing of the containers the settings select, and which batch. */
export const planInputSchema = z.strictObject({
  containers: z.array(containerNameSchema).max(5000).optional(),
  /**
   * One batch only: the next RECONCILE_PARALLELISM containers (selected or refused) after `after`, in name order, so
   * the orchestration carries a position, not the lake's list. Excluded and not-found names come with the first batch.
   */
  batch: z.literal(true).optional(),
  after: containerNameSchema.optional(),
});
export type PlanInput = z.infer<typeof planInputSchema>;

/** What one reconciliation run covers, decided from the settings by the plan activity (never by the input). */
export const reconciliationPlanSchema = z.strictObject({
  account: z.string(),
  backupAccount: z.string(),
  snapshots: snapshotModeSchema,
  parallelism: z.number().int().min(1).max(64),
  containers: z.array(z.strictObject({ container: containerName, backupContainer: containerName })),
  /** Containers that may not be backed up as configured (reserved name, invalid backup container name), with why. */
  refused: z.array(z.strictObject({ container: z.string(), reason: z.string() })),
  excluded: z.array(z.string()),
  notFound: z.array(z.string()),
  /** A batch plan: more containers follow `last`, the batch's last name. */
  more: z.boolean().optional(),
  last: z.string().optional(),
});
export type ReconciliationPlan = z.infer<typeof reconciliationPlanSchema>;

export interface ContainerSelection {
  readonly selected: { readonly container: string; readonly backupContainer: string }[];
  readonly refused: { readonly container: string; readonly reason: string }[];
  /** Lake containers left out: not asked for, not in CONTAINERS, or in EXCLUDE_CONTAINERS. */
  readonly excluded: string[];
  /** Containers asked for that the lake does not have. */
  readonly notFound: string[];
}

/**
 * Which containers to reconcile: those asked for (else every container of the lake), as far as the settings allow
 * them (CONTAINERS, EXCLUDE_CONTAINERS, reserved names, BACKUP_CONTAINER_TEMPLATE). A request can narrow the
 * selection, never widen it. Names asked for that the lake lacks are reported, not silently dropped.
 */
export function selectContainers(lake: readonly string[], asked: readonly string[] | undefined, policy: ContainerPolicy): ContainerSelection {
  const exists = new Set(lake);
  const wanted = asked === undefined ? [...new Set(lake)] : [...new Set(asked)];
  const selected: ContainerSelection["selected"] = [];
  const refused: ContainerSelection["refused"] = [];
  for (const container of wanted.filter((c) => exists.has(c)).sort()) {
    const target = backupTargetOf(policy, container);
    if (target.ok) selected.push({ container, backupContainer: target.backupContainer });
    else if (target.code !== "ContainerNotSelected" && target.code !== "ContainerExcluded") refused.push({ container, reason: target.reason });
  }
  const taken = new Set([...selected.map((s) => s.container), ...refused.map((r) => r.container)]);
  return {
    selected,
    refused,
    excluded: [...new Set(lake)].filter((c) => !taken.has(c)).sort(),
    notFound: wanted.filter((c) => !exists.has(c)).sort(),
  };
}
