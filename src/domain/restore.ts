/**
 * Restore's request, naming and pure rules (no I/O): the body of `POST /api/restore` and what it means, which
 * backed-up version a point-in-time restore picks for one name, and what an overwrite mode allows in the target.
 */
import { z } from "zod";

import { compareSnapshotIds } from "./change-detection";
import { sameEtag } from "./etag";
import { CONTAINER_NAME_RULE, isValidBlobName, isValidContainerName } from "./names";

export const OVERWRITE_MODES = ["never", "older", "always"] as const;
export type OverwriteMode = (typeof OVERWRITE_MODES)[number];

/** At most this many names in one request's `blobs` (a larger selection is a prefix or a container). */
export const MAX_RESTORE_BLOBS = 1000;

const containerName = z.string().refine(isValidContainerName, `must be a container name: ${CONTAINER_NAME_RULE}`);
const blobName = z.string().refine(isValidBlobName, "must be a blob name of 1–1024 characters");

export const restoreBodySchema = z
  .strictObject({
    container: containerName,
    prefix: z.string().min(1, "must not be empty").max(1024, "must be at most 1024 characters").optional(),
    blobs: z.array(blobName).min(1, "must name at least one blob (omit it for the whole container)").max(MAX_RESTORE_BLOBS).optional(),
    asOf: z.iso.datetime({ offset: true, error: "must be an ISO 8601 time with a zone, e.g. 2026-11-30T12:00:00Z" }).optional(),
    target: z
      .strictObject({
        account: z.enum(["lake", "restore"], { error: 'must be "lake" or "restore"' }).optional(),
        container: containerName.optional(),
        prefix: z.string().min(1, "must not be empty").max(1000, "must be at most 1000 characters").optional(),
      })
      .optional(),
    overwrite: z.enum(OVERWRITE_MODES, { error: "must be never, older or always" }).optional(),
    dryRun: z.boolean().optional(),
  })
  .refine((b) => b.prefix === undefined || b.blobs === undefined, { error: "give either prefix or blobs, not both" });
export type RestoreBody = z.infer<typeof restoreBodySchema>;

/** A request made concrete: defaults applied, target resolved. Travels in the orchestration input. */
export const restorePlanSchema = z.strictObject({
  container: containerName,
  prefix: z.string().max(1024).optional(),
  blobs: z.array(blobName).max(MAX_RESTORE_BLOBS).optional(),
  asOf: z.iso.datetime({ offset: true }),
  target: z.strictObject({
    account: z.enum(["lake", "restore"]),
    container: containerName,
    prefix: z.string().max(1000).optional(),
  }),
  overwrite: z.enum(OVERWRITE_MODES),
  dryRun: z.boolean(),
  /** The target is the live source container itself. */
  inPlace: z.boolean(),
});
export type RestorePlan = z.infer<typeof restorePlanSchema>;

export type PlanResult = { readonly ok: true; readonly plan: RestorePlan } | { readonly ok: false; readonly code: string; readonly message: string };

/** `<source>-restore-<yyyymmdd>-<hhmmss>`: a new container named after the source and the restore (≤ 63 characters). */
export function defaultTargetContainer(source: string, at: Date): string {
  const stamp = at.toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "-");
  const suffix = `-restore-${stamp}`;
  return `${source.slice(0, 63 - suffix.length).replace(/-+$/, "")}${suffix}`;
}

/**
 * The instance id of the restore into one target container: one restore at a time per target. Account names are
 * lowercase letters and digits only, so `<account>-<container>` is unambiguous.
 */
export function restoreInstanceId(targetAccount: string, targetContainer: string): string {
  return `restore-${targetAccount}-${targetContainer}`;
}

/**
 * Validates what the schema cannot (the time against now, the account against the configuration) and applies the
 * defaults: `asOf` now; the target a new lake container; `overwrite` never — except that restoring into the live
 * container must say how to treat what is there.
 */
export function planRestore(body: RestoreBody, now: Date, restoreAccountConfigured: boolean): PlanResult {
  const asOf = body.asOf === undefined ? now : new Date(body.asOf);
  if (asOf.getTime() > now.getTime()) {
    return { ok: false, code: "InvalidBody", message: `invalid request body: asOf: ${body.asOf ?? ""} is in the future` };
  }
  const account = body.target?.account ?? "lake";
  if (account === "restore" && !restoreAccountConfigured) {
    return {
      ok: false,
      code: "RestoreAccountNotConfigured",
      message: 'target.account "restore" needs the RestoreStorage connection (RestoreStorage, or RestoreStorage__blobServiceUri)',
    };
  }
  // Into the restore account the natural target is the same container name (the lake account is gone); in the lake,
  // never the live container unless asked.
  const container = body.target?.container ?? (account === "restore" ? body.container : defaultTargetContainer(body.container, now));
  const inPlace = account === "lake" && container === body.container;
  if (inPlace && body.overwrite === undefined) {
    return {
      ok: false,
      code: "OverwriteRequired",
      message: `restoring into the live container "${container}" needs "overwrite": never (only missing blobs), older or always`,
    };
  }
  const targetPrefix = body.target?.prefix;
  const tooLong = (body.blobs ?? []).find((b) => !isValidBlobName(`${targetPrefix ?? ""}${b}`));
  if (tooLong !== undefined) {
    return { ok: false, code: "InvalidBody", message: "invalid request body: target.prefix + a blob name exceeds 1024 characters" };
  }
  return {
    ok: true,
    plan: {
      container: body.container,
      ...(body.prefix !== undefined && { prefix: body.prefix }),
      ...(body.blobs !== undefined && { blobs: [...new Set(body.blobs)] }),
      asOf: asOf.toISOString(),
      target: { account, container, ...(targetPrefix !== undefined && { prefix: targetPrefix }) },
      overwrite: body.overwrite ?? "never",
      dryRun: body.dryRun ?? false,
      inPlace,
    },
  };
}

/** One version of one blob held by the backup: the backup blob itself, one of its snapshots, or one blob version. */
export interface BackupVersion {
  readonly name: string;
  /** Snapshot of the backup blob holding this version (snapshot history). */
  readonly snapshot?: string;
  /** Blob version id (BACKUP_HISTORY=versioning). */
  readonly versionId?: string;
  /** ETag of this backup entry (quoted form). */
  readonly etag: string;
  /** The `backup_source_*` record; absent on a blob the app did not write. */
  readonly sourceEtag?: string;
  readonly sourceLastModified?: string;
  readonly sourceSnapshot?: string;
  readonly copiedAt?: string;
  /** When reconciliation first saw the source blob gone (`backup_source_deleted_at`). */
  readonly deletedAt?: string;
  readonly contentLength: number;
  readonly contentMd5?: string;
  readonly contentType?: string;
  readonly contentEncoding?: string;
  readonly contentLanguage?: string;
  readonly contentDisposition?: string;
  readonly cacheControl?: string;
  readonly archived: boolean;
  /** The source's own metadata (every `backup_*` key removed). */
  readonly metadata: Readonly<Record<string, string>>;
}

export const RESTORE_SKIP_REASONS = [
  /** No backed-up version was modified at or before asOf: the blob did not exist yet. */
  "noVersionAsOf",
  /** Reconciliation saw the blob deleted at or before asOf. */
  "deleted",
  /** A name asked for in `blobs` that the backup does not hold. */
  "notInBackup",
  /** Backup entries without the backup_source_* record (not written by this app). */
  "unrecorded",
  /** The chosen version is in the archive tier: rehydrate it first. */
  "archived",
  /** target.prefix + name exceeds 1024 characters. */
  "nameTooLong",
  /** overwrite never: the target has the blob. */
  "exists",
  /** overwrite older: the target's blob is as new as the version restored, or newer. */
  "newerInTarget",
  /** The target already holds this content. */
  "identical",
  /** The target changed between our read and our write (a producer wrote): its write is kept. */
  "concurrentWrite",
] as const;
export type RestoreSkipReason = (typeof RESTORE_SKIP_REASONS)[number];

export type VersionChoice =
  | { readonly kind: "chosen"; readonly version: BackupVersion }
  | { readonly kind: "skipped"; readonly reason: RestoreSkipReason; readonly version?: BackupVersion };

const time = (iso: string | undefined): number => (iso === undefined ? Number.NaN : Date.parse(iso));

/** Newer source version first; same last-modified second: the later source snapshot, then the later copy. */
function newerFirst(a: BackupVersion, b: BackupVersion): number {
  const byTime = time(b.sourceLastModified) - time(a.sourceLastModified);
  if (byTime !== 0) return byTime;
  if (a.sourceSnapshot !== undefined && b.sourceSnapshot !== undefined && a.sourceSnapshot !== b.sourceSnapshot) {
    return compareSnapshotIds(b.sourceSnapshot, a.sourceSnapshot);
  }
  return (b.copiedAt ?? "") < (a.copiedAt ?? "") ? -1 : (b.copiedAt ?? "") > (a.copiedAt ?? "") ? 1 : 0;
}

/**
 * Point in time: the newest backed-up version whose source last-modified time is ≤ asOf. If reconciliation recorded
 * the blob deleted at or before asOf, nothing is restored. Entries holding the same source version (the backup blob
 * and a version of it, or a copy made twice) are one version: the earliest deletion recorded on any of them counts,
 * and an entry that can be read (not archived) is preferred.
 */
export function chooseVersion(entries: readonly BackupVersion[], asOf: string): VersionChoice {
  const recorded = entries.filter((e) => e.sourceEtag !== undefined && !Number.isNaN(time(e.sourceLastModified)));
  if (recorded.length === 0) return { kind: "skipped", reason: entries.length === 0 ? "notInBackup" : "unrecorded" };
  const limit = time(asOf);
  const candidates = recorded.filter((e) => time(e.sourceLastModified) <= limit).sort(newerFirst);
  const newest = candidates[0];
  if (newest === undefined) return { kind: "skipped", reason: "noVersionAsOf" };
  const same = candidates.filter((e) => sameEtag(e.sourceEtag, newest.sourceEtag));
  const deletions = same.map((e) => time(e.deletedAt)).filter((t) => !Number.isNaN(t));
  const readable = same.find((e) => !e.archived) ?? newest;
  if (deletions.length > 0 && Math.min(...deletions) <= limit) return { kind: "skipped", reason: "deleted", version: readable };
  if (readable.archived) return { kind: "skipped", reason: "archived", version: readable };
  return { kind: "chosen", version: readable };
}

/** What the target holds under the restored name, from its listing (or a HEAD). */
export interface TargetBlob {
  readonly etag: string;
  readonly lastModified: string;
  readonly contentLength: number;
  readonly contentMd5?: string;
}

export type WriteConditions = { readonly ifNoneMatch: "*" } | { readonly ifMatch: string };

export type RestoreTargetDecision =
  | { readonly kind: "write"; readonly conditions: WriteConditions }
  | { readonly kind: "skipped"; readonly reason: RestoreSkipReason };

/**
 * What the overwrite mode allows. The write is conditional on what was read (absent: If-None-Match *; present: its
 * ETag), so a producer's write in between is never replaced. `inPlace`: the target is the live blob the backup was
 * taken from, so an equal ETag means it still is that very version.
 */
export function decideTarget(version: BackupVersion, target: TargetBlob | undefined, overwrite: OverwriteMode, inPlace: boolean): RestoreTargetDecision {
  if (target === undefined) return { kind: "write", conditions: { ifNoneMatch: "*" } };
  const sameContent =
    (version.contentMd5 !== undefined && version.contentMd5 === target.contentMd5 && version.contentLength === target.contentLength) ||
    (inPlace && sameEtag(target.etag, version.sourceEtag));
  if (sameContent) return { kind: "skipped", reason: "identical" };
  if (overwrite === "never") return { kind: "skipped", reason: "exists" };
  if (overwrite === "older" && !(time(target.lastModified) < time(version.sourceLastModified))) {
    return { kind: "skipped", reason: "newerInTarget" };
  }
  return { kind: "write", conditions: { ifMatch: target.etag } };
}

/** A name in the target: the target prefix, then the source name (so prefixes and order are kept). */
export function targetName(targetPrefix: string | undefined, name: string): string {
  return `${targetPrefix ?? ""}${name}`;
}

/**
 * Where a restore's report goes in the reports container: `restore/<yyyy>/<mm>/<dd>/<hhmmssfff>-<instanceId>.json`,
 * with the per-blob lines beside it (`….blobs.jsonl`). The instance id is the same for every restore into one target,
 * so the start time keeps each run's report apart.
 */
export function restoreReportBlobs(instanceId: string, startedAt: string): { readonly report: string; readonly details: string } {
  const day = startedAt.slice(0, 10).split("-").join("/");
  const time = startedAt.slice(11, 23).replace(/[:.]/g, "");
  const base = `restore/${day}/${time}-${instanceId}`;
  return { report: `${base}.json`, details: `${base}.blobs.jsonl` };
}
