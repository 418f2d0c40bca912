/**
 * Which lake snapshots may go (no I/O). A lake snapshot exists to freeze a version until the backup holds it, so the
 * one rule every policy obeys is: a snapshot whose version is not verified in the backup account is kept. Beyond that
 * (LAKE_SNAPSHOTS):
 *
 * - `newest` (default): a backed-up snapshot is deleted once a newer snapshot of the same blob exists, so each blob
 *   keeps at most its newest snapshot — change detection compares the live ETag with it, and for an unchanged blob it
 *   shares every block with the blob (it costs almost nothing).
 * - `none`: the newest goes too once backed up, so a lake blob carries no snapshot between changes and producers'
 *   plain deletes succeed; change detection then compares the live ETag with the backup listing.
 * - `keep-days:N`: like `newest`, but every snapshot younger than N days stays (fast restores inside the lake).
 */
import { z } from "zod";

import { BackupMetadata } from "./blob-backup";
import { compareSnapshotIds, type ListedEntry } from "./change-detection";
import { sameEtag } from "./etag";

export type LakeSnapshotPolicy = { readonly mode: "newest" } | { readonly mode: "none" } | { readonly mode: "keepDays"; readonly days: number };

export const lakeSnapshotPolicySchema = z
  .string()
  .regex(/^(newest|none|keep-days:[1-9]\d{0,4})$/, { error: "must be newest, none or keep-days:N (N from 1 to 99999)" })
  .transform((v): LakeSnapshotPolicy => (v.startsWith("keep-days:") ? { mode: "keepDays", days: Number(v.slice("keep-days:".length)) } : { mode: v as "newest" | "none" }));

/** The JSON form carried through the Durable boundary. */
export const lakeSnapshotPolicyValueSchema = z.discriminatedUnion("mode", [
  z.strictObject({ mode: z.literal("newest") }),
  z.strictObject({ mode: z.literal("none") }),
  z.strictObject({ mode: z.literal("keepDays"), days: z.number().int().min(1) }),
]);

export function describePolicy(policy: LakeSnapshotPolicy): string {
  return policy.mode === "keepDays" ? `keep-days:${policy.days}` : policy.mode;
}

/** A version the backup account holds (its current blob or one of its history entries), from the listing. */
export interface BackupCopy {
  /** The lake ETag the backup entry records (`backup_source_etag`). */
  readonly sourceEtag?: string;
  readonly contentLength: number;
  /** The backup entry's own Content-MD5 (base64), when it has one. */
  readonly contentMd5?: string;
}

export function backupCopyOf(entry: { readonly metadata?: Readonly<Record<string, string>>; readonly contentLength: number; readonly contentMd5?: string }): BackupCopy {
  const etag = entry.metadata?.[BackupMetadata.etag];
  return {
    ...(etag !== undefined && etag !== "" && { sourceEtag: etag }),
    contentLength: entry.contentLength,
    ...(entry.contentMd5 !== undefined && { contentMd5: entry.contentMd5 }),
  };
}

/**
 * The version of lake snapshot `snapshot` is in the backup: an entry records its ETag (what reconciliation calls in
 * sync), has its length, and — when both sides carry a Content-MD5 — the same MD5. A backup written block-wise has no
 * MD5 property; its content was checked by the verification that followed the copy (hash, or committed block list).
 */
export function isInBackup(snapshot: Pick<ListedEntry, "etag" | "contentLength" | "contentMd5">, copies: readonly BackupCopy[]): boolean {
  return copies.some(
    (c) =>
      sameEtag(c.sourceEtag, snapshot.etag) &&
      c.contentLength === snapshot.contentLength &&
      (c.contentMd5 === undefined || snapshot.contentMd5 === undefined || c.contentMd5 === snapshot.contentMd5),
  );
}

export type SnapshotKeptReason = "notInBackup" | "newest" | "withinDays" | "refused";
export type SnapshotDeletedReason = "superseded" | "backedUp";

export const SNAPSHOT_KEPT_REASONS: readonly SnapshotKeptReason[] = ["notInBackup", "newest", "withinDays", "refused"];
export const SNAPSHOT_DELETED_REASONS: readonly SnapshotDeletedReason[] = ["superseded", "backedUp"];

export type SnapshotDecision =
  | { readonly snapshot: string; readonly contentLength: number; readonly action: "keep"; readonly reason: SnapshotKeptReason }
  | { readonly snapshot: string; readonly contentLength: number; readonly action: "delete"; readonly reason: SnapshotDeletedReason };

/**
 * Whether the release that follows a verified backup of a new snapshot could delete anything, from what the requester
 * listed: `oldestOlder` is the oldest lake snapshot of the blob (other than the backed-up one) that the scan saw, or
 * undefined when nobody looked. Under `keep-days:N` a snapshot goes only once it is older than N days; snapshots taken
 * after that listing are younger still, so when even the oldest listed one is young, the release's two listings
 * (lake and backup) cannot find anything to delete and are not made. Under the other policies, or without the hint, the
 * release runs (`newest` deletes the superseded snapshot the hint names; `none` the backed-up one itself).
 */
export function releaseMayDelete(policy: LakeSnapshotPolicy, oldestOlder: string | undefined, now: Date): boolean {
  if (policy.mode !== "keepDays" || oldestOlder === undefined) return true;
  const taken = Date.parse(oldestOlder);
  return Number.isNaN(taken) || taken <= now.getTime() - policy.days * 86_400_000;
}

/**
 * Decides every snapshot of one lake blob. `snapshots` in any order; `copies` is everything the backup holds of the
 * same name. `now` for `keep-days`.
 */
export function decideLakeSnapshots(
  policy: LakeSnapshotPolicy,
  snapshots: readonly ListedEntry[],
  copies: readonly BackupCopy[],
  now: Date,
): SnapshotDecision[] {
  const ordered = [...snapshots].filter((s) => s.snapshot !== undefined).sort((a, b) => compareSnapshotIds(a.snapshot ?? "", b.snapshot ?? ""));
  const newest = ordered[ordered.length - 1]?.snapshot;
  const youngAfter = policy.mode === "keepDays" ? now.getTime() - policy.days * 86_400_000 : undefined;
  return ordered.map((s): SnapshotDecision => {
    const id = s.snapshot ?? "";
    const base = { snapshot: id, contentLength: s.contentLength };
    if (!isInBackup(s, copies)) return { ...base, action: "keep", reason: "notInBackup" };
    if (policy.mode === "none") return { ...base, action: "delete", reason: "backedUp" };
    if (id === newest) return { ...base, action: "keep", reason: "newest" };
    const taken = Date.parse(id);
    if (youngAfter !== undefined && (Number.isNaN(taken) || taken > youngAfter)) return { ...base, action: "keep", reason: "withinDays" };
    return { ...base, action: "delete", reason: "superseded" };
  });
}
