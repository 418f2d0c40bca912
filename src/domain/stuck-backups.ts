/**
 * What reconciliation reports about backups that did not finish: blob backup and batch backup instances that failed
 * (or were terminated), instances running or pending longer than the copy timeout ("stuck"), and source blobs still
 * leased by such a blob backup past the lease duration. Contracts and pure rules only; the activity is
 * src/activities/find-stuck-backups.ts.
 */
import { z } from "zod";

import { type BackupBatch, type BackupRequest, backupRequestSchema } from "./backup-request";
import { BLOB_BATCH_ID_PREFIX, blobBatchInputSchema } from "./blob-batch-backup";
import { blobNameSchema, containerNameSchema } from "./name-schemas";

const count = z.number().int().nonnegative();

/** At most this many backups are listed by name in a report; the counts are always complete. */
export const MAX_STUCK_SAMPLES = 20;

/** Instance ids of blob backups start so (src/domain/blob-backup.ts, blobBackupInstanceId). */
export const BLOB_BACKUP_ID_PREFIX = "blob-backup-";

export const findStuckInputSchema = z.strictObject({
  /** The orchestration's time: "stuck" and "past the lease duration" are measured from it. */
  now: z.iso.datetime({ offset: true }),
  /** Terminate stuck instances, release leases held past their duration and re-send the backups' requests. */
  repair: z.boolean(),
  /**
   * Only backups of these containers (the containers a run asked for), and of blobs under this prefix; absent: every
   * container the settings select (a run over the whole lake, whose container list no single execution holds).
   */
  containers: z.array(containerNameSchema).max(5000).optional(),
  prefix: blobNameSchema.optional(),
});
export type FindStuckInput = z.infer<typeof findStuckInputSchema>;

export const stuckBackupSchema = z.strictObject({
  instanceId: z.string(),
  container: z.string(),
  /** The blob; of a batch backup, its first version's. */
  blob: z.string(),
  /** A batch backup (src/orchestrators/blob-batch-backup.ts): how many versions it holds. */
  batchVersions: count.optional(),
  runtimeStatus: z.string(),
  /** `failed`: Failed or Terminated; `stuck`: Running or Pending longer than COPY_TIMEOUT_MINUTES. */
  why: z.enum(["failed", "stuck"]),
  createdTime: z.string(),
  lastUpdatedTime: z.string(),
  /** The source blob is still leased with this backup's lease id, past the lease duration. */
  leaseHeld: z.boolean(),
  /** What the run did about it (absent in a dry run). */
  action: z.enum(["requested", "terminatedAndRequested", "notTerminatedYet", "releaseFailed", "requestFailed"]).optional(),
  /** The failure's first line, for a failed instance. */
  error: z.string().optional(),
});
export type StuckBackup = z.infer<typeof stuckBackupSchema>;

export const stuckBackupsReportSchema = z.strictObject({
  failed: count,
  stuck: count,
  leasesHeld: count,
  /**
   * Backups whose message was sent to the backup queue again (a blob backup's request, or a batch's whole message):
   * the queue trigger restarts the failed or terminated instance.
   */
  requested: count,
  terminated: count,
  leasesReleased: count,
  /** The first MAX_STUCK_SAMPLES backups found, failed ones first. */
  samples: z.array(stuckBackupSchema).max(MAX_STUCK_SAMPLES),
  /** Backups found but not listed in `samples`. */
  more: count,
});
export type StuckBackupsReport = z.infer<typeof stuckBackupsReportSchema>;

/** The part of a durable instance status this module reads. */
export interface InstanceSummary {
  readonly instanceId: string;
  readonly runtimeStatus: string;
  readonly createdTime: string;
  readonly lastUpdatedTime: string;
  readonly input: unknown;
  readonly output?: unknown;
}

/** What a found backup is, and what sending it again takes: its request, or its whole batch message. */
export type StuckTarget = { readonly kind: "blob"; readonly request: BackupRequest } | { readonly kind: "batch"; readonly batch: BackupBatch };

/** Whether an instance id is a blob backup's or a batch backup's: the instances this module looks at. */
export function isBackupInstanceId(instanceId: string): boolean {
  return instanceId.startsWith(BLOB_BACKUP_ID_PREFIX) || instanceId.startsWith(BLOB_BATCH_ID_PREFIX);
}

/** The backup an instance runs, from its id and input: undefined for any other instance or an input that does not parse. */
function targetOf(status: InstanceSummary): StuckTarget | undefined {
  if (status.instanceId.startsWith(BLOB_BACKUP_ID_PREFIX)) {
    const parsed = z.object({ request: backupRequestSchema }).safeParse(status.input);
    return parsed.success ? { kind: "blob", request: parsed.data.request } : undefined;
  }
  if (status.instanceId.startsWith(BLOB_BATCH_ID_PREFIX)) {
    const parsed = blobBatchInputSchema.safeParse(status.input);
    return parsed.success ? { kind: "batch", batch: parsed.data.batch } : undefined;
  }
  return undefined;
}

/** The blob names a backup covers: one, or each version's of a batch. */
function blobsOf(target: StuckTarget): string[] {
  return target.kind === "blob" ? [target.request.blob] : target.batch.versions.map((v) => v.blob);
}

/**
 * Whether an instance is a failed or stuck backup (a blob backup, or a batch backup any of whose versions is) of the
 * run's selection: what it backs up when it is, undefined otherwise. `stuck` needs a creation time at or before
 * `runningSince` (the query asks for that already; checked here too, so a backend that ignores the filter does not
 * make a healthy backup look stuck).
 */
export function stuckBackupOf(
  status: InstanceSummary,
  selection: { readonly containers: { has(container: string): boolean }; readonly prefix?: string | undefined; readonly runningSince: Date },
): { why: StuckBackup["why"]; target: StuckTarget } | undefined {
  const target = targetOf(status);
  if (target === undefined) return undefined;
  const container = target.kind === "blob" ? target.request.container : target.batch.container;
  if (!selection.containers.has(container)) return undefined;
  const { prefix } = selection;
  if (prefix !== undefined && !blobsOf(target).some((blob) => blob.startsWith(prefix))) return undefined;
  switch (status.runtimeStatus) {
    case "Failed":
    case "Terminated":
      return { why: "failed", target };
    case "Running":
    case "Pending":
      return Date.parse(status.createdTime) <= selection.runningSince.getTime() ? { why: "stuck", target } : undefined;
    default:
      return undefined;
  }
}

/** A lease of a failed backup counts once the lease duration has passed since the instance last changed. */
export function leaseOverdue(why: StuckBackup["why"], lastUpdatedTime: string, now: Date, leaseSeconds: number): boolean {
  if (why === "stuck") return true;
  const last = Date.parse(lastUpdatedTime);
  return Number.isNaN(last) || now.getTime() - last >= leaseSeconds * 1000;
}

/** The first line of a failed instance's output (the failure message), bounded. */
export function failureLine(output: unknown): string | undefined {
  if (typeof output !== "string" || output === "") return undefined;
  return (output.split("\n")[0] ?? "").slice(0, 500);
}

export function emptyStuckReport(): StuckBackupsReport {
  return { failed: 0, stuck: 0, leasesHeld: 0, requested: 0, terminated: 0, leasesReleased: 0, samples: [], more: 0 };
}

/**
 * The run's verdict: every container reconciled, nothing missing or outdated, and no backup failed, stuck or holding
 * a lease. A lake whose backups all hold the current versions is not "in sync" while a backup of it is stuck.
 */
export function inSync(
  containers: readonly { readonly status: string }[],
  totals: { readonly missing: number; readonly outdated: number },
  backups: StuckBackupsReport,
): boolean {
  return (
    containers.every((c) => c.status === "completed") &&
    totals.missing === 0 &&
    totals.outdated === 0 &&
    backups.failed === 0 &&
    backups.stuck === 0 &&
    backups.leasesHeld === 0
  );
}
