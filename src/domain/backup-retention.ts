/**
 * Which backup entries of one blob name may go (no I/O). The backup blob holds the newest version; its history is the
 * backup blob's snapshots (BACKUP_HISTORY=snapshot) or previous versions (versioning). Rules, in order:
 *
 * - an orphan (no live lake blob of that name) whose deletion reconciliation recorded (`backup_source_deleted_at`)
 *   more than ORPHAN_RETENTION_DAYS ago goes entirely, current backup included; an orphan without a recorded deletion,
 *   or with ORPHAN_RETENTION_DAYS unset, is kept under the rules below;
 * - the current backup is always kept;
 * - the newest BACKUP_MIN_VERSIONS entries (the current one counts) are kept whatever their age;
 * - a history entry is deleted once it was superseded more than BACKUP_RETENTION_DAYS ago (unset: kept). Superseded
 *   is what matters for a point-in-time restore: a version is needed for every moment it was the current one.
 */
import { BackupMetadata } from "./blob-backup";
import { compareSnapshotIds } from "./change-detection";

export interface RetentionRules {
  readonly retentionDays?: number;
  readonly minVersions: number;
  readonly orphanRetentionDays?: number;
}

/** One entry of the backup listing of a name (with snapshots, and versions under versioning). */
export interface BackupHistoryEntry {
  readonly snapshot?: string;
  readonly versionId?: string;
  /** The base blob (snapshot history), or the current version (versioning). */
  readonly isCurrent: boolean;
  /** ISO. */
  readonly lastModified: string;
  readonly contentLength: number;
  readonly contentMd5?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

export type VersionKeptReason = "current" | "minVersions" | "withinRetention" | "noRetention" | "refused";
export type VersionDeletedReason = "expired" | "orphanExpired";

export const VERSION_KEPT_REASONS: readonly VersionKeptReason[] = ["current", "minVersions", "withinRetention", "noRetention", "refused"];
export const VERSION_DELETED_REASONS: readonly VersionDeletedReason[] = ["expired", "orphanExpired"];

/** What happens to the name as a whole when it has no live lake blob. */
export type OrphanState = "expired" | "waiting" | "unrecorded" | "noRetention";

export type VersionDecision =
  | { readonly entry: BackupHistoryEntry; readonly action: "keep"; readonly reason: VersionKeptReason }
  | { readonly entry: BackupHistoryEntry; readonly action: "delete"; readonly reason: VersionDeletedReason };

export interface NameDecision {
  readonly decisions: readonly VersionDecision[];
  readonly orphan?: OrphanState;
}

/** When an entry was created: its snapshot or version id (a timestamp), else its last-modified time. */
function createdAt(e: BackupHistoryEntry): string {
  return e.snapshot ?? e.versionId ?? e.lastModified;
}

/** Newest first: the current entry, then history by id. */
function newestFirst(entries: readonly BackupHistoryEntry[]): BackupHistoryEntry[] {
  return [...entries].sort((a, b) => {
    if (a.isCurrent !== b.isCurrent) return a.isCurrent ? -1 : 1;
    return compareSnapshotIds(createdAt(b), createdAt(a));
  });
}

/** The earliest deletion record among the entries (reconciliation writes it on the current backup blob). */
export function deletionRecordedAt(entries: readonly BackupHistoryEntry[]): number | undefined {
  let earliest: number | undefined;
  for (const e of entries) {
    const t = Date.parse(e.metadata?.[BackupMetadata.deletedAt] ?? "");
    if (!Number.isNaN(t) && (earliest === undefined || t < earliest)) earliest = t;
  }
  return earliest;
}

export function decideBackupVersions(entries: readonly BackupHistoryEntry[], live: boolean, rules: RetentionRules, now: Date): NameDecision {
  const ordered = newestFirst(entries);
  const day = 86_400_000;
  let orphan: OrphanState | undefined;
  if (!live) {
    const deleted = deletionRecordedAt(entries);
    if (rules.orphanRetentionDays === undefined) orphan = "noRetention";
    else if (deleted === undefined) orphan = "unrecorded";
    else if (deleted <= now.getTime() - rules.orphanRetentionDays * day) orphan = "expired";
    else orphan = "waiting";
    if (orphan === "expired") return { orphan, decisions: ordered.map((entry) => ({ entry, action: "delete", reason: "orphanExpired" })) };
  }
  const expiredBefore = rules.retentionDays === undefined ? undefined : now.getTime() - rules.retentionDays * day;
  const decisions = ordered.map((entry, i): VersionDecision => {
    if (entry.isCurrent) return { entry, action: "keep", reason: "current" };
    if (i < rules.minVersions) return { entry, action: "keep", reason: "minVersions" };
    if (expiredBefore === undefined) return { entry, action: "keep", reason: "noRetention" };
    // A snapshot of the backup blob is taken just before the overwrite: its id is when it stopped being current. A
    // previous version stopped being current when the next newer entry was written.
    const superseded = entry.snapshot !== undefined ? entry.snapshot : createdAt(ordered[i - 1] ?? entry);
    const t = Date.parse(superseded);
    if (Number.isNaN(t) || t > expiredBefore) return { entry, action: "keep", reason: "withinRetention" };
    return { entry, action: "delete", reason: "expired" };
  });
  return { decisions, ...(orphan !== undefined && { orphan }) };
}
