/**
 * Contracts of the retention run (docs/architecture.md, "Retention"): the counts every window adds up, the window
 * activity's input and result, the per-container report and the run's report. Plain JSON, parsed on both sides of the
 * Durable boundary. What is deleted is decided by the settings (read by the activities), never by these inputs.
 */
import { z } from "zod";

import { VERSION_DELETED_REASONS, VERSION_KEPT_REASONS, type VersionDeletedReason, type VersionKeptReason } from "./backup-retention";
import { SNAPSHOT_DELETED_REASONS, SNAPSHOT_KEPT_REASONS, type SnapshotDeletedReason, type SnapshotKeptReason } from "./lake-snapshots";
import { containerNameSchema } from "./name-schemas";

const count = z.number().int().nonnegative();
const countsOf = <K extends string>(keys: readonly K[]) => z.strictObject(Object.fromEntries(keys.map((k) => [k, count])) as Record<K, typeof count>);

export const ORPHAN_STATES = ["expired", "waiting", "unrecorded", "noRetention"] as const;

export const snapshotCountsSchema = z.strictObject({
  kept: countsOf<SnapshotKeptReason>(SNAPSHOT_KEPT_REASONS),
  deleted: countsOf<SnapshotDeletedReason>(SNAPSHOT_DELETED_REASONS),
  /** Sum of the deleted snapshots' lengths: an upper bound of the bytes freed (blocks shared with a newer version stay). */
  deletedBytes: count,
});
export type SnapshotCounts = z.infer<typeof snapshotCountsSchema>;

export const retentionCountsSchema = z.strictObject({
  /** Lake blob names seen. */
  blobs: count,
  snapshots: snapshotCountsSchema,
  versions: z.strictObject({
    kept: countsOf<VersionKeptReason>(VERSION_KEPT_REASONS),
    deleted: countsOf<VersionDeletedReason>(VERSION_DELETED_REASONS),
    deletedBytes: count,
  }),
  /** Backup names without a live lake blob, by what retention made of them. */
  orphans: countsOf<(typeof ORPHAN_STATES)[number]>(ORPHAN_STATES),
  lakeListRequests: count,
  backupListRequests: count,
  deleteRequests: count,
});
export type RetentionCounts = z.infer<typeof retentionCountsSchema>;

const zeros = <K extends string>(keys: readonly K[]): Record<K, number> => Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;

export function zeroSnapshotCounts(): SnapshotCounts {
  return { kept: zeros(SNAPSHOT_KEPT_REASONS), deleted: zeros(SNAPSHOT_DELETED_REASONS), deletedBytes: 0 };
}

export function zeroRetentionCounts(): RetentionCounts {
  return {
    blobs: 0,
    snapshots: zeroSnapshotCounts(),
    versions: { kept: zeros(VERSION_KEPT_REASONS), deleted: zeros(VERSION_DELETED_REASONS), deletedBytes: 0 },
    orphans: zeros(ORPHAN_STATES),
    lakeListRequests: 0,
    backupListRequests: 0,
    deleteRequests: 0,
  };
}

/** Adds two count trees of the same shape, key by key. */
function addTree<T>(a: T, b: T): T {
  if (typeof a === "number" && typeof b === "number") return (a + b) as T;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(a as object)) out[key] = addTree((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]);
  return out as T;
}

export function addRetentionCounts(a: RetentionCounts, b: RetentionCounts): RetentionCounts {
  return addTree(a, b);
}

export function addSnapshotCounts(a: SnapshotCounts, b: SnapshotCounts): SnapshotCounts {
  return addTree(a, b);
}

/** Where the lake listing and the backup listing (with history) resume. */
export const retentionCursorSchema = z.strictObject({
  lake: z.strictObject({ continuationToken: z.string().optional(), skipName: z.string().optional() }),
  backup: z.strictObject({ token: z.string().optional(), skipName: z.string().optional(), after: z.string().optional() }),
});
export type RetentionCursor = z.infer<typeof retentionCursorSchema>;

export const retentionWindowInputSchema = z.strictObject({
  container: containerNameSchema,
  cursor: retentionCursorSchema,
  dryRun: z.boolean(),
  /** ISO: the run's clock (orchestration time), so every window of a run judges ages against the same moment. */
  now: z.iso.datetime({ offset: true }),
  pageSize: z.number().int().min(1).max(5000).optional(),
});
export type RetentionWindowInput = z.infer<typeof retentionWindowInputSchema>;

export const MAX_RETENTION_SAMPLES = 20;

export const retentionWindowResultSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("refused"), reason: z.string() }),
  z.strictObject({ kind: z.literal("containerNotFound") }),
  z.strictObject({
    kind: z.literal("window"),
    counts: retentionCountsSchema,
    /** Names (and entries) deleted, or that a dry run would delete: the first few, for the report. */
    deletedSamples: z.array(z.string()).max(MAX_RETENTION_SAMPLES),
    /** Absent when both listings are done. */
    cursor: retentionCursorSchema.optional(),
  }),
]);
export type RetentionWindowResult = z.infer<typeof retentionWindowResultSchema>;

export const retentionContainerReportSchema = z.strictObject({
  container: z.string(),
  backupContainer: z.string(),
  status: z.enum(["done", "failed", "containerNotFound"]),
  error: z.string().optional(),
  counts: retentionCountsSchema,
  deletedSamples: z.array(z.string()).max(MAX_RETENTION_SAMPLES),
  windows: count,
});
export type RetentionContainerReport = z.infer<typeof retentionContainerReportSchema>;

export const instancePurgeSchema = z.strictObject({
  /** Finished (Completed, Failed, Terminated) instances created before this ISO time are purged. */
  before: z.string(),
  /** Purged, or (dry run) that would be purged. */
  instances: count,
  requests: count,
});
export type InstancePurge = z.infer<typeof instancePurgeSchema>;

export const retentionReportSchema = z.strictObject({
  instanceId: z.string(),
  account: z.string(),
  backupAccount: z.string(),
  dryRun: z.boolean(),
  /** The settings the run applied, as the operator wrote them. */
  policy: z.strictObject({
    lakeSnapshots: z.string(),
    backupRetentionDays: z.number().optional(),
    backupMinVersions: z.number(),
    orphanRetentionDays: z.number().optional(),
    instanceRetentionDays: z.number(),
  }),
  startedAt: z.string(),
  completedAt: z.string(),
  containers: z.array(retentionContainerReportSchema),
  excluded: z.array(z.string()),
  notFound: z.array(z.string()),
  totals: retentionCountsSchema,
  instances: instancePurgeSchema,
  reportBlob: z.string().optional(),
});
export type RetentionReport = z.infer<typeof retentionReportSchema>;
