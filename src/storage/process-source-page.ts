/**
 * One page of a source container, processed: listed (names complete across page boundaries), classified, and every
 * new or changed blob snapshotted conditionally on its listed ETag. Returns the latest-version facts of every blob of
 * the page, which is what both the container scan (→ backup requests) and reconciliation (→ merge-join with the
 * backup listing) need. Requests are not sent here: the caller decides which versions to request.
 */
import { type BlobClient, type ContainerClient, RestError } from "@azure/storage-blob";

import { classify, groupByName, type ListedEntry, type SkipReason } from "../domain/change-detection";
import { describeError } from "../domain/errors";
import { mapBounded } from "../domain/map-bounded";
import { blobClient } from "./addressed-clients";
import { listSourcePage } from "./list-source-page";

export type SnapshotMode = "auto" | "on" | "off";

/** Takes a snapshot of `blob` only if its ETag is still `etag`; returns the snapshot id. Injectable for fault tests. */
export type SnapshotFn = (blob: BlobClient, etag: string) => Promise<string>;

export const takeSnapshot: SnapshotFn = async (blob, etag) => {
  const response = await blob.createSnapshot({ conditions: { ifMatch: etag } });
  if (response.snapshot === undefined) throw new Error(`the service returned no snapshot id for ${blob.name}`);
  return response.snapshot;
};

/**
 * Error codes with which an account refuses blob snapshots: accounts with a hierarchical namespace (ADLS Gen2) answer
 * `409 FeatureNotYetSupportedForHierarchicalNamespaceAccounts`; the others are what the Blob service uses for
 * operations a given account or blob type does not support.
 */
const SNAPSHOT_REFUSAL_CODES = new Set([
  "FeatureNotYetSupportedForHierarchicalNamespaceAccounts",
  "SnapshotOperationNotSupported",
  "FeatureNotSupportedForAccount",
  "BlobOperationNotSupported",
  "OperationNotSupportedOnHierarchicalNamespaceAccount",
]);

export function isSnapshotRefusal(err: unknown): boolean {
  return (
    err instanceof RestError &&
    (err.statusCode === 409 || err.statusCode === 400 || err.statusCode === 403) &&
    err.code !== undefined &&
    SNAPSHOT_REFUSAL_CODES.has(err.code)
  );
}

export type BlobOutcome = "new" | "changed" | "unchanged" | "skipped";

/** The latest version of one source blob after this page was processed. */
export interface SourceBlobVersion {
  readonly name: string;
  readonly etag: string;
  readonly lastModified: string;
  readonly contentLength: number;
  readonly contentMd5?: string;
  /** The snapshot that holds exactly this version (taken now, or found), when there is one. */
  readonly snapshot?: string;
  readonly outcome: BlobOutcome;
  readonly skipReason?: SkipReason;
  /** This call created `snapshot`. */
  readonly snapshotted: boolean;
  /**
   * This version should be requested by the scan: a snapshot taken now, a snapshot taken by an earlier attempt of the
   * same scan (its request may never have been sent), or — without snapshots — a new or changed live version.
   */
  readonly requestBackup: boolean;
}

export interface ProcessPageInput {
  readonly prefix?: string;
  readonly continuationToken?: string;
  readonly skipName?: string;
  readonly pageSize?: number;
  readonly snapshots: SnapshotMode;
  /** Set once the account refused a snapshot in this scan (auto mode): no more attempts. */
  readonly snapshotsRefused?: boolean;
  readonly dryRun: boolean;
  readonly concurrency: number;
  /** ISO; snapshots at or after it were taken by this scan. */
  readonly scanStartedAt?: string;
}

export type ProcessPageResult =
  | { readonly kind: "containerNotFound" }
  | { readonly kind: "snapshotsRefused"; readonly reason: string }
  | {
      readonly kind: "page";
      readonly blobs: readonly SourceBlobVersion[];
      readonly continuationToken?: string;
      readonly skipName?: string;
      readonly listRequests: number;
      readonly snapshotRequests: number;
      /** auto mode: the account refused snapshots on this page (reason); the rest of the scan goes ETag-pinned. */
      readonly snapshotsRefusedReason?: string;
    };

function version(base: ListedEntry): Pick<SourceBlobVersion, "name" | "etag" | "lastModified" | "contentLength" | "contentMd5"> {
  return {
    name: base.name,
    etag: base.etag,
    lastModified: base.lastModified,
    contentLength: base.contentLength,
    ...(base.contentMd5 !== undefined && { contentMd5: base.contentMd5 }),
  };
}

export async function processSourcePage(
  container: ContainerClient,
  input: ProcessPageInput,
  snapshot: SnapshotFn = takeSnapshot,
): Promise<ProcessPageResult> {
  const listed = await listSourcePage(container, input);
  if (listed.kind === "containerNotFound") return listed;

  let snapshotsOff = input.snapshots === "off" || input.snapshotsRefused === true;
  let refusal: string | undefined;
  let snapshotRequests = 0;

  const blobs = await mapBounded(groupByName(listed.entries), input.concurrency, async (group): Promise<SourceBlobVersion> => {
    const c = classify(group, input.scanStartedAt);
    const base = group.base;
    if (c.kind === "skipped" || base === undefined) {
      const newest = group.snapshots[group.snapshots.length - 1];
      const facts = base ?? newest;
      return {
        ...(facts !== undefined ? version(facts) : { name: group.name, etag: "", lastModified: "", contentLength: 0 }),
        outcome: "skipped",
        skipReason: c.kind === "skipped" ? c.reason : "noLiveBlob",
        snapshotted: false,
        requestBackup: false,
      };
    }
    if (c.kind === "unchanged") {
      return { ...version(base), snapshot: c.snapshot, outcome: "unchanged", snapshotted: false, requestBackup: c.takenThisScan };
    }
    if (input.dryRun) return { ...version(base), outcome: c.kind, snapshotted: false, requestBackup: true };
    if (!snapshotsOff) {
      try {
        snapshotRequests += 1;
        const id = await snapshot(blobClient(container, base.name), base.etag);
        return { ...version(base), snapshot: id, outcome: c.kind, snapshotted: true, requestBackup: true };
      } catch (err) {
        if (err instanceof RestError && (err.statusCode === 412 || err.statusCode === 404)) {
          // Changed or deleted after it was listed: not snapshotted in a state we did not classify; the next scan
          // (or reconciliation) picks up the new version.
          // A 412 can also mean "deleted" (Azurite answers 412 for a missing blob); one HEAD, only in this rare case.
          const gone = err.statusCode === 404 || !(await blobClient(container, base.name).exists());
          const reason: SkipReason = gone ? "deletedSinceListing" : "changedSinceListing";
          return { ...version(base), outcome: "skipped", skipReason: reason, snapshotted: false, requestBackup: false };
        }
        if (!isSnapshotRefusal(err)) throw err;
        refusal ??= `${err instanceof RestError && err.code !== undefined ? `${err.code}: ` : ""}${describeError(err)}`;
        snapshotsOff = true;
        if (input.snapshots === "on") {
          return { ...version(base), outcome: c.kind, snapshotted: false, requestBackup: false };
        }
      }
    }
    // No snapshots (off, or refused in auto mode): request the live version pinned by its ETag.
    return { ...version(base), outcome: c.kind, snapshotted: false, requestBackup: true };
  });

  if (refusal !== undefined && input.snapshots === "on") {
    return { kind: "snapshotsRefused", reason: refusal };
  }
  return {
    kind: "page",
    blobs,
    ...(listed.continuationToken !== undefined && { continuationToken: listed.continuationToken }),
    ...(listed.skipName !== undefined && { skipName: listed.skipName }),
    listRequests: listed.listRequests,
    snapshotRequests,
    ...(refusal !== undefined && { snapshotsRefusedReason: refusal }),
  };
}
