/**
 * One page of a source container, processed: listed (names complete across page boundaries), classified, and every
 * new or changed blob snapshotted conditionally on its listed ETag. Returns the latest-version facts of every blob of
 * the page, which is what both the container scan (→ backup requests) and reconciliation (→ merge-join with the
 * backup listing) need. Requests are not sent here: the caller decides which versions to request.
 */
import { type ContainerClient, RestError } from "@azure/storage-blob";

import type { BlobAccount } from "../config/clients";
import { classify, groupByName, type ListedEntry, type SkipReason } from "../domain/change-detection";
import { describeError } from "../domain/errors";
import { sameEtag } from "../domain/etag";
import { mapBounded } from "../domain/map-bounded";
import type { SnapshotMode } from "../domain/snapshot-mode";
import { blobClient, containerClient } from "./addressed-clients";
import { listSourcePage } from "./list-source-page";
import { statusOf } from "./rest-errors";

/**
 * Takes a snapshot of blob `name` only if its ETag is still `etag`; returns the snapshot id. `container` is a client
 * WITHOUT SDK retries: a retried Snapshot Blob whose first answer was lost takes a second snapshot of the same
 * version. Injectable for fault tests.
 */
export type SnapshotFn = (container: ContainerClient, name: string, etag: string) => Promise<string>;

/** Attempts at a snapshot that failed transiently (no answer, or a 5xx) before the error is thrown. */
const SNAPSHOT_ATTEMPTS = 3;
const SNAPSHOT_RETRY_MS = 1_000;

/** Worth another attempt: no answer, or a server error. */
function transient(err: unknown): boolean {
  const status = statusOf(err);
  return status === undefined || status >= 500;
}

/** No answer, or a server error other than 503 (ServerBusy: not executed): the snapshot may have been taken. */
function outcomeUnknown(err: unknown): boolean {
  return transient(err) && statusOf(err) !== 503;
}

/**
 * A snapshot of `name` that holds version `etag`. The listing that classified the blob showed none (its newest
 * snapshot had another ETag, or it had none), so one found now was taken after that listing: by the attempt whose
 * answer was lost.
 */
async function findSnapshotOf(container: ContainerClient, name: string, etag: string): Promise<string | undefined> {
  // The blob's own entries (snapshots first, then the base) sort before every longer name with the same prefix.
  for await (const page of container.listBlobsFlat({ prefix: name, includeSnapshots: true }).byPage({ maxPageSize: 100 })) {
    for (const item of page.segment.blobItems) {
      if (item.name !== name) return undefined;
      if (item.snapshot && sameEtag(item.properties.etag, etag)) return item.snapshot;
    }
  }
  return undefined;
}

export const takeSnapshot: SnapshotFn = async (container, name, etag) => {
  const blob = blobClient(container, name);
  for (let attempt = 1; ; attempt++) {
    try {
      const response = await blob.createSnapshot({ conditions: { ifMatch: etag } });
      if (response.snapshot === undefined) throw new Error(`the service returned no snapshot id for ${JSON.stringify(name)}`);
      return response.snapshot;
    } catch (err) {
      if (!transient(err)) throw err;
      const taken = outcomeUnknown(err) ? await findSnapshotOf(container, name, etag) : undefined;
      if (taken !== undefined) return taken;
      if (attempt >= SNAPSHOT_ATTEMPTS) throw err;
      await new Promise((resolve) => setTimeout(resolve, SNAPSHOT_RETRY_MS * attempt));
    }
  }
};

/**
 * Error codes with which an account refuses blob snapshots. Accounts with a hierarchical namespace (ADLS Gen2, and so
 * every NFS 3.0 or SFTP account) answer Snapshot Blob with `409 FeatureNotYetSupportedForHierarchicalNamespaceAccounts`;
 * `FeatureNotSupportedForAccount` and `BlobApiNotYetSupportedForHierarchicalNamespaceAccounts` are the service's codes
 * for a Blob API or feature an account type lacks, and `BlobOperationNotSupported` (409) its code for an operation not
 * supported "in this scenario" (e.g. blobs written through the Data Lake API).
 */
const SNAPSHOT_REFUSAL_CODES = new Set([
  "FeatureNotYetSupportedForHierarchicalNamespaceAccounts",
  "FeatureNotSupportedForAccount",
  "BlobApiNotYetSupportedForHierarchicalNamespaceAccounts",
  "BlobOperationNotSupported",
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
  /** The oldest listed lake snapshot of the blob other than `snapshot` (see `oldestLakeSnapshot` of a backup request). */
  readonly oldestLakeSnapshot?: string;
  /**
   * This version should be requested by the scan: a snapshot taken now, a snapshot taken by an earlier attempt of the
   * same scan (its request may never have been sent), or — without snapshots — a new or changed live version.
   */
  readonly requestBackup: boolean;
}

export interface ProcessPageInput {
  readonly prefix?: string;
  /** Only the names directly under `prefix` (see ListPageInput). */
  readonly level?: boolean;
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

/** Snapshots blob `name` of the page's container if its ETag is still `etag` (a SnapshotFn bound to its container). */
export type SnapshotOfPage = (name: string, etag: string) => Promise<string>;

/** The snapshots of `container` in the source account: through its client without SDK retries (see SnapshotFn). */
export function snapshotsOf(deps: { readonly source: BlobAccount; readonly snapshot?: SnapshotFn }, container: string): SnapshotOfPage {
  const take = deps.snapshot ?? takeSnapshot;
  const client = containerClient(deps.source.singleAttempt, container);
  return (name, etag) => take(client, name, etag);
}

export type SnapshotListedResult =
  | { readonly kind: "taken"; readonly id: string }
  /** Changed or deleted since it was listed: not snapshotted in a state nobody classified. */
  | { readonly kind: "skipped"; readonly reason: SkipReason }
  /** The account refuses blob snapshots (isSnapshotRefusal), described. */
  | { readonly kind: "refused"; readonly reason: string };

/** Snapshots listed blob `base` conditionally on its listed ETag; other failures throw. */
export async function snapshotListed(container: ContainerClient, base: Pick<ListedEntry, "name" | "etag">, snapshot: SnapshotOfPage): Promise<SnapshotListedResult> {
  try {
    return { kind: "taken", id: await snapshot(base.name, base.etag) };
  } catch (err) {
    if (err instanceof RestError && (err.statusCode === 412 || err.statusCode === 404)) {
      // Changed or deleted after it was listed: the next scan (or reconciliation) picks up the new version.
      // A 412 can also mean "deleted" (Azurite answers 412 for a missing blob); one HEAD, only in this rare case.
      const gone = err.statusCode === 404 || !(await blobClient(container, base.name).exists());
      return { kind: "skipped", reason: gone ? "deletedSinceListing" : "changedSinceListing" };
    }
    if (isSnapshotRefusal(err)) return { kind: "refused", reason: describeError(err) };
    throw err;
  }
}

export type ProcessEntriesResult =
  | { readonly kind: "snapshotsRefused"; readonly reason: string }
  | { readonly kind: "processed"; readonly blobs: readonly SourceBlobVersion[]; readonly snapshotRequests: number; readonly snapshotsRefusedReason?: string };

/** Classifies listed entries (every entry of each name) and snapshots the new and changed blobs among them. */
export async function processListedEntries(
  container: ContainerClient,
  entries: readonly ListedEntry[],
  input: Omit<ProcessPageInput, "prefix" | "level" | "continuationToken" | "skipName" | "pageSize"> & {
    /** True when the backup already holds `etag` of `name`. */
    readonly backedUp?: (name: string, etag: string) => boolean;
  },
  snapshot: SnapshotOfPage,
): Promise<ProcessEntriesResult> {
  let snapshotsOff = input.snapshots === "off" || input.snapshotsRefused === true;
  let refusal: string | undefined;
  let snapshotRequests = 0;

  const blobs = await mapBounded(groupByName(entries), input.concurrency, async (group): Promise<SourceBlobVersion> => {
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
    // Every listed snapshot is older than one taken now; the newest is the one an unchanged blob's request names.
    // (An unchanged blob's only snapshot is that newest one: no older one to name. No copy of the list per blob.)
    const oldest = c.kind === "unchanged" && group.snapshots.length < 2 ? undefined : group.snapshots[0]?.snapshot;
    const hint = oldest !== undefined ? { oldestLakeSnapshot: oldest } : {};
    if (c.kind === "unchanged") {
      return { ...version(base), snapshot: c.snapshot, outcome: "unchanged", snapshotted: false, requestBackup: c.takenThisScan, ...hint };
    }
    // The backup holds this exact version (reconciliation's join): nothing to snapshot or request, whatever the lake's
    // snapshots say.
    if (input.backedUp?.(base.name, base.etag) === true) return { ...version(base), outcome: "unchanged", snapshotted: false, requestBackup: false };
    if (input.dryRun) return { ...version(base), outcome: c.kind, snapshotted: false, requestBackup: true };
    if (!snapshotsOff) {
      snapshotRequests += 1;
      const taken = await snapshotListed(container, base, snapshot);
      if (taken.kind === "taken") return { ...version(base), snapshot: taken.id, outcome: c.kind, snapshotted: true, requestBackup: true, ...hint };
      if (taken.kind === "skipped") return { ...version(base), outcome: "skipped", skipReason: taken.reason, snapshotted: false, requestBackup: false };
      refusal ??= taken.reason;
      snapshotsOff = true;
      if (input.snapshots === "on") {
        return { ...version(base), outcome: c.kind, snapshotted: false, requestBackup: false };
      }
    }
    // No snapshots (off, or refused in auto mode): request the live version pinned by its ETag.
    return { ...version(base), outcome: c.kind, snapshotted: false, requestBackup: true };
  });

  if (refusal !== undefined && input.snapshots === "on") {
    return { kind: "snapshotsRefused", reason: refusal };
  }
  return { kind: "processed", blobs, snapshotRequests, ...(refusal !== undefined && { snapshotsRefusedReason: refusal }) };
}

export async function processSourcePage(container: ContainerClient, input: ProcessPageInput, snapshot: SnapshotOfPage): Promise<ProcessPageResult> {
  const listed = await listSourcePage(container, input);
  if (listed.kind === "containerNotFound") return listed;
  const processed = await processListedEntries(container, listed.entries, input, snapshot);
  if (processed.kind === "snapshotsRefused") return processed;
  return {
    kind: "page",
    blobs: processed.blobs,
    ...(listed.continuationToken !== undefined && { continuationToken: listed.continuationToken }),
    ...(listed.skipName !== undefined && { skipName: listed.skipName }),
    listRequests: listed.listRequests,
    snapshotRequests: processed.snapshotRequests,
    ...(processed.snapshotsRefusedReason !== undefined && { snapshotsRefusedReason: processed.snapshotsRefusedReason }),
  };
}
