/**
 * Every app setting of the product, parsed and validated once. A bad environment fails with one message that names
 * every missing or invalid setting, and never echoes a value (connection strings carry keys).
 */
import { Cron } from "croner";
import { z } from "zod";

import { type LakeSnapshotPolicy, lakeSnapshotPolicySchema } from "../domain/lake-snapshots";
import {
  CONTAINER_NAME_RULE,
  isValidBackupContainerTemplate,
  isValidContainerName,
  isValidQueueName,
  STAGING_CONTAINER,
} from "../domain/names";
import { type SnapshotMode, snapshotModeSchema } from "../domain/snapshot-mode";
import { resolveConnection, type Resolved, type StorageConnection } from "./connection";
import { connectionSection } from "./setting-sections";

export type CopyEngine = "server" | "adf";
export type BackupHistory = "snapshot" | "versioning";

export interface AdfSettings {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly factory: string;
  readonly pipeline: string;
  /** ARM endpoint override (sovereign clouds, or the local fake in tests); Azure public cloud when absent. */
  readonly endpoint?: string;
  /** User-assigned managed identity for ARM calls; the system identity when absent. */
  readonly clientId?: string;
}

export interface Settings {
  /** The data lake account. */
  readonly sourceStorage: StorageConnection;
  /** The backup account. */
  readonly backupStorage: StorageConnection;
  /** The Functions host's own account: task hub and the backup request queue. */
  readonly functionStorage: StorageConnection;
  /** Optional: the account a restore writes to with `target.account: "restore"` (the lake account is lost). */
  readonly restoreStorage?: StorageConnection;
  readonly backupQueue: string;
  readonly copyEngine: CopyEngine;
  readonly adf?: AdfSettings;
  readonly blobLease: boolean;
  readonly leaseSeconds: number;
  readonly snapshots: SnapshotMode;
  readonly reconcileSchedule: string;
  /** Containers to reconcile; undefined means every container of the lake. */
  readonly containers?: readonly string[];
  readonly excludeContainers: readonly string[];
  readonly backupContainerTemplate: string;
  readonly backupHistory: BackupHistory;
  /** Container of the backup account that receives the reconciliation reports. */
  readonly reportsContainer: string;
  /** Snapshots taken in parallel by one page activity. */
  readonly snapshotConcurrency: number;
  /** Containers reconciled in parallel. */
  readonly reconcileParallelism: number;
  /** Name ranges of one container listed in parallel by reconciliation. */
  readonly listParallelism: number;
  /** How often a running copy (ADF run) is polled. */
  readonly copyPollSeconds: number;
  /** A copy still running after this is cancelled and the backup fails. */
  readonly copyTimeoutMinutes: number;
  /** Blobs above 256 MiB: the smallest block of a copy in steps (raised for blobs over 50,000 blocks). */
  readonly copyBlockMiB: number;
  /** A copy in steps: a step starts no block after this many seconds (inside functionTimeout). */
  readonly copyStepSeconds: number;
  /** Blobs restored in parallel by one restore batch. */
  readonly restoreConcurrency: number;
  /** Which lake snapshots are deleted once their version is verified in the backup (LAKE_SNAPSHOTS). */
  readonly lakeSnapshots: LakeSnapshotPolicy;
  /** Backup history versions older than this many days are pruned; undefined keeps every version. */
  readonly backupRetentionDays?: number;
  /** Versions of each blob kept whatever their age (the current backup always counts as one). */
  readonly backupMinVersions: number;
  /** Backups of deleted lake blobs are deleted this many days after the deletion was recorded; undefined keeps them. */
  readonly orphanRetentionDays?: number;
  /** Finished orchestration instances older than this many days are purged from the task hub. */
  readonly instanceRetentionDays: number;
  readonly retentionSchedule: string;
  /** Versions smaller than this travel and are copied in batches; larger ones get a blob backup orchestration each. */
  readonly batchMaxBlobBytes: number;
  /** Copies in flight in one batch copy activity. */
  readonly batchCopyConcurrency: number;
  /** With COPY_ENGINE=adf: blobs smaller than this are copied server-side, larger ones by an ADF pipeline run. */
  readonly adfMinBlobBytes: number;
}

export class ConfigurationError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`Invalid configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigurationError";
    this.problems = problems;
  }
}

/** App settings are often present but blank; blank means "use the default". */
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (typeof v === "string" && v.trim() === "" ? undefined : typeof v === "string" ? v.trim() : v), schema.optional());

const boolean = z.enum(["true", "false", "1", "0"], { error: "must be true or false" }).transform((v) => v === "true" || v === "1");

const integer = (min: number, max: number) =>
  z.coerce
    .number({ error: `must be a whole number from ${min} to ${max}` })
    .int(`must be a whole number from ${min} to ${max}`)
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);

const containerName = z.string().refine(isValidContainerName, { error: `each container name must be ${CONTAINER_NAME_RULE}` });

const containerList = z
  .string()
  .transform((v) => v.split(",").map((c) => c.trim()).filter((c) => c !== ""))
  .pipe(z.array(containerName));

/** Six-field NCRONTAB (second minute hour day month weekday), as the Functions timer trigger takes it. */
const ncrontab = z.string().refine(
  (v) => {
    if (v.split(/\s+/).length !== 6) return false;
    try {
      new Cron(v, { paused: true });
      return true;
    } catch {
      return false;
    }
  },
  { error: "must be a six-field NCRONTAB expression, e.g. 0 0 2 * * *" },
);

export const DEFAULT_BACKUP_QUEUE = "backup-requests";

/** Nightly at 02:00 (UTC unless WEBSITE_TIME_ZONE says otherwise). */
export const DEFAULT_RECONCILE_SCHEDULE = "0 0 2 * * *";

/** Weekly, Sunday 03:00 (after the nightly reconciliation). */
export const DEFAULT_RETENTION_SCHEDULE = "0 0 3 * * 0";

const nonBlank = z.string().min(1, "must not be empty");

/**
 * The Copy activities of the shipped pipeline (adf/pipeline/BlobBackupCopy.json) time out after two hours; a longer
 * COPY_TIMEOUT_MINUTES would wait on a run ADF has already failed (a test keeps the two equal).
 */
export const MAX_COPY_TIMEOUT_MINUTES = 120;

/**
 * Batched copies are single Copy Blob From URL calls inside one activity, so a batched version must fit one (256 MiB,
 * the service limit); the default keeps a batch activity of 50 versions far inside the function timeout.
 */
export const MAX_BATCH_BLOB_BYTES = 256 * 1024 * 1024;
export const DEFAULT_BATCH_MAX_BLOB_BYTES = 8 * 1024 * 1024;
/** ADF bills every copy at least a minute of 4 DIUs; below one Copy Blob From URL (256 MiB) the service copies alone. */
export const DEFAULT_ADF_MIN_BLOB_BYTES = 256 * 1024 * 1024;

const scalarSettings = z.object({
  BACKUP_QUEUE: optional(z.string().refine(isValidQueueName, { error: `must be a queue name: ${CONTAINER_NAME_RULE}` })).default(
    DEFAULT_BACKUP_QUEUE,
  ),
  COPY_ENGINE: optional(z.enum(["server", "adf"], { error: "must be server or adf" })).default("server"),
  ADF_SUBSCRIPTION_ID: optional(z.guid("must be a subscription id (GUID)")),
  ADF_RESOURCE_GROUP: optional(nonBlank),
  ADF_FACTORY: optional(nonBlank),
  ADF_PIPELINE: optional(nonBlank),
  ADF_ENDPOINT: optional(z.url({ protocol: /^https$/, error: "must be an https URL" })),
  ADF_CLIENT_ID: optional(z.guid("must be a GUID (the client id of a user-assigned managed identity)")),
  BLOB_LEASE: optional(boolean).default(false),
  LEASE_SECONDS: optional(integer(15, 60)).default(30),
  SNAPSHOTS: optional(z.enum(snapshotModeSchema.options, { error: "must be auto, on or off" })).default("auto"),
  RECONCILE_SCHEDULE: optional(ncrontab).default(DEFAULT_RECONCILE_SCHEDULE),
  CONTAINERS: optional(containerList),
  EXCLUDE_CONTAINERS: optional(containerList).default([]),
  BACKUP_CONTAINER_TEMPLATE: optional(
    z.string().refine(isValidBackupContainerTemplate, {
      error: "must contain {container} and give a valid container name (lowercase letters, digits, single hyphens)",
    }),
  ).default("{container}"),
  BACKUP_HISTORY: optional(z.enum(["snapshot", "versioning"], { error: "must be snapshot or versioning" })).default("snapshot"),
  REPORTS_CONTAINER: optional(
    z
      .string()
      .refine(isValidContainerName, { error: `must be a container name: ${CONTAINER_NAME_RULE}` })
      .refine((v) => v !== STAGING_CONTAINER, { error: `must not be ${STAGING_CONTAINER}, the ADF staging container` }),
  ).default("backup-reports"),
  SNAPSHOT_CONCURRENCY: optional(integer(1, 256)).default(16),
  RECONCILE_PARALLELISM: optional(integer(1, 64)).default(4),
  LIST_PARALLELISM: optional(integer(1, 64)).default(8),
  COPY_POLL_SECONDS: optional(integer(1, 3600)).default(15),
  COPY_TIMEOUT_MINUTES: optional(integer(1, MAX_COPY_TIMEOUT_MINUTES)).default(MAX_COPY_TIMEOUT_MINUTES),
  // Put Block From URL takes at most 4000 MiB; a step must end inside the 10-minute functionTimeout with its last blocks.
  COPY_BLOCK_MIB: optional(integer(1, 4000)).default(64),
  COPY_STEP_SECONDS: optional(integer(10, 480)).default(240),
  RESTORE_CONCURRENCY: optional(integer(1, 256)).default(32),
  LAKE_SNAPSHOTS: optional(lakeSnapshotPolicySchema).default({ mode: "newest" }),
  BACKUP_RETENTION_DAYS: optional(integer(1, 36_500)),
  BACKUP_MIN_VERSIONS: optional(integer(1, 10_000)).default(1),
  ORPHAN_RETENTION_DAYS: optional(integer(0, 36_500)),
  INSTANCE_RETENTION_DAYS: optional(integer(1, 36_500)).default(30),
  RETENTION_SCHEDULE: optional(ncrontab).default(DEFAULT_RETENTION_SCHEDULE),
  BATCH_MAX_BLOB_BYTES: optional(integer(0, MAX_BATCH_BLOB_BYTES)).default(DEFAULT_BATCH_MAX_BLOB_BYTES),
  BATCH_COPY_CONCURRENCY: optional(integer(1, 256)).default(16),
  ADF_MIN_BLOB_BYTES: optional(integer(0, Number.MAX_SAFE_INTEGER)).default(DEFAULT_ADF_MIN_BLOB_BYTES),
});

const ADF_REQUIRED = ["ADF_SUBSCRIPTION_ID", "ADF_RESOURCE_GROUP", "ADF_FACTORY", "ADF_PIPELINE"] as const;

/** Parses the environment; throws ConfigurationError naming every problem. */
export function loadSettings(env: Readonly<Record<string, string | undefined>>): Settings {
  const problems: string[] = [];
  const connection = (r: Resolved<StorageConnection>): StorageConnection | undefined => {
    if (r.ok) return r.value;
    problems.push(...r.problems);
    return undefined;
  };
  const sourceStorage = connection(resolveConnection(env, "SourceStorage", { blob: true, queue: false }));
  const backupStorage = connection(resolveConnection(env, "BackupStorage", { blob: true, queue: false }));
  const functionStorage = connection(resolveConnection(env, "AzureWebJobsStorage", { blob: true, queue: true }));
  // Optional: resolved (and its problems reported) only when some RestoreStorage setting is present.
  const restoreStorage = connectionSection(env, "RestoreStorage") !== undefined
    ? connection(resolveConnection(env, "RestoreStorage", { blob: true, queue: false }))
    : undefined;

  // Each setting is parsed on its own, so one bad value does not hide the problems of the others.
  const s = {} as Record<string, unknown>;
  for (const [key, schema] of Object.entries(scalarSettings.shape)) {
    const parsed = (schema as z.ZodType).safeParse(env[key]);
    if (parsed.success) s[key] = parsed.data;
    else problems.push(...parsed.error.issues.map((issue) => `${key}: ${issue.message}`));
  }
  const scalars = s as z.infer<typeof scalarSettings>;
  if (env.COPY_ENGINE?.trim() === "adf") {
    for (const key of ADF_REQUIRED) if (env[key] === undefined || env[key].trim() === "") problems.push(`${key}: missing (required when COPY_ENGINE=adf)`);
  }
  problems.push(...accountProblems(sourceStorage, backupStorage, env.COPY_ENGINE?.trim() === "adf"));
  if (restoreStorage !== undefined && restoreStorage.accountName === backupStorage?.accountName) {
    problems.push("RestoreStorage: must not be the backup account (restored blobs would mix with the backups)");
  }
  if (problems.length > 0 || !sourceStorage || !backupStorage || !functionStorage) {
    throw new ConfigurationError(problems);
  }
  return { ...buildSettings(scalars, sourceStorage, backupStorage, functionStorage), ...(restoreStorage !== undefined && { restoreStorage }) };
}

/**
 * The app signs read SAS URLs on the lake (every copy) and, with the ADF engine, on the backup account (the staged
 * copy): a connection string that holds only a SAS cannot sign them. And a backup in the account it protects is none.
 */
function accountProblems(source: StorageConnection | undefined, backup: StorageConnection | undefined, adf: boolean): string[] {
  const problems: string[] = [];
  const cannotSign = (c: StorageConnection | undefined): boolean => c?.kind === "connectionString" && c.auth === "sas";
  const signHint = "use a connection string with AccountKey, or an identity-based connection (the app signs with a user delegation key)";
  if (cannotSign(source)) {
    problems.push(`SourceStorage: a connection string with only a SharedAccessSignature cannot sign the read SAS URLs every copy needs; ${signHint}`);
  }
  if (adf && cannotSign(backup)) {
    problems.push(`BackupStorage: a connection string with only a SharedAccessSignature cannot sign the SAS URL with which COPY_ENGINE=adf commits a staged copy; ${signHint}`);
  }
  if (source !== undefined && backup !== undefined && source.accountName.toLowerCase() === backup.accountName.toLowerCase()) {
    problems.push(`BackupStorage: names the same account as SourceStorage (${source.accountName}); a backup must live in a separate account`);
  }
  return problems;
}

function buildSettings(
  s: z.infer<typeof scalarSettings>,
  sourceStorage: StorageConnection,
  backupStorage: StorageConnection,
  functionStorage: StorageConnection,
): Settings {
  const adf: AdfSettings | undefined =
    s.ADF_SUBSCRIPTION_ID && s.ADF_RESOURCE_GROUP && s.ADF_FACTORY && s.ADF_PIPELINE
      ? {
          subscriptionId: s.ADF_SUBSCRIPTION_ID,
          resourceGroup: s.ADF_RESOURCE_GROUP,
          factory: s.ADF_FACTORY,
          pipeline: s.ADF_PIPELINE,
          ...(s.ADF_ENDPOINT !== undefined && { endpoint: s.ADF_ENDPOINT }),
          ...(s.ADF_CLIENT_ID !== undefined && { clientId: s.ADF_CLIENT_ID }),
        }
      : undefined;
  return {
    sourceStorage,
    backupStorage,
    functionStorage,
    backupQueue: s.BACKUP_QUEUE,
    copyEngine: s.COPY_ENGINE,
    ...(adf !== undefined && { adf }),
    blobLease: s.BLOB_LEASE,
    leaseSeconds: s.LEASE_SECONDS,
    snapshots: s.SNAPSHOTS,
    reconcileSchedule: s.RECONCILE_SCHEDULE,
    ...(s.CONTAINERS !== undefined && { containers: s.CONTAINERS }),
    excludeContainers: s.EXCLUDE_CONTAINERS,
    backupContainerTemplate: s.BACKUP_CONTAINER_TEMPLATE,
    backupHistory: s.BACKUP_HISTORY,
    reportsContainer: s.REPORTS_CONTAINER,
    snapshotConcurrency: s.SNAPSHOT_CONCURRENCY,
    reconcileParallelism: s.RECONCILE_PARALLELISM,
    listParallelism: s.LIST_PARALLELISM,
    copyPollSeconds: s.COPY_POLL_SECONDS,
    copyTimeoutMinutes: s.COPY_TIMEOUT_MINUTES,
    copyBlockMiB: s.COPY_BLOCK_MIB,
    copyStepSeconds: s.COPY_STEP_SECONDS,
    restoreConcurrency: s.RESTORE_CONCURRENCY,
    lakeSnapshots: s.LAKE_SNAPSHOTS,
    ...(s.BACKUP_RETENTION_DAYS !== undefined && { backupRetentionDays: s.BACKUP_RETENTION_DAYS }),
    backupMinVersions: s.BACKUP_MIN_VERSIONS,
    ...(s.ORPHAN_RETENTION_DAYS !== undefined && { orphanRetentionDays: s.ORPHAN_RETENTION_DAYS }),
    instanceRetentionDays: s.INSTANCE_RETENTION_DAYS,
    retentionSchedule: s.RETENTION_SCHEDULE,
    batchMaxBlobBytes: s.BATCH_MAX_BLOB_BYTES,
    batchCopyConcurrency: s.BATCH_COPY_CONCURRENCY,
    adfMinBlobBytes: s.ADF_MIN_BLOB_BYTES,
  };
}
