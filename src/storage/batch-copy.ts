/**
 * The batch backup's copy: many small versions of one container, each resolved, copied and verified by the same code
 * as the single-blob backup (resolveSourceVersion, serverCopy with its conditional-write protocol, verifyBackup), with
 * bounded concurrency. Every version gets its own outcome; one version's failure never fails or repeats its
 * neighbours — it is handed to the single-blob backup instead (see VersionOutcome).
 */
import type { BlobAccount } from "../config/clients";
import type { Settings } from "../config/settings";
import { DEFAULT_SERVER_COPY_OPTIONS, type KnownSource, serverCopy } from "../copy/server-copy";
import { type BackupRequest, requestsOf } from "../domain/backup-request";
import { leaseRenewSeconds, type SourceVersion } from "../domain/blob-backup";
import { type BatchCopyInput, type VersionOutcome, versionRequestId } from "../domain/blob-batch-backup";
import { describeError } from "../domain/errors";
import { releaseMayDelete } from "../domain/lake-snapshots";
import { mapBounded } from "../domain/map-bounded";
import { blobIn, containerClient } from "./addressed-clients";
import { type BackupTarget } from "./backup-target";
import { describeRelease, releaseLakeSnapshots } from "./lake-snapshots";
import { whileLeaseRenewed } from "./lease-renewal";
import { statusOf } from "./rest-errors";
import { resolveSourceVersion } from "./source-version";
import { verifyBackup } from "./verify-backup";

export interface BatchCopyDeps {
  readonly source: BlobAccount;
  readonly backup: BlobAccount;
  readonly settings: Pick<Settings, "blobLease" | "leaseSeconds" | "batchMaxBlobBytes" | "batchCopyConcurrency"> & Partial<Pick<Settings, "lakeSnapshots">>;
  /** The clock the release after verification judges snapshot ages by (tests move it). */
  readonly now?: () => Date;
}

/** Copies every version of the chunk into `target`; outcomes in the order of `input.versions`. */
export async function copyBatch(deps: BatchCopyDeps, target: BackupTarget, input: BatchCopyInput): Promise<VersionOutcome[]> {
  const requests = requestsOf({ v: 2, ...input });
  // A version listed twice would get the same request id twice, and each copy would take the other's write for its
  // own: the first entry copies, the others are skipped.
  const first = new Map<string, number>();
  requests.forEach((r, i) => {
    const key = versionRequestId(input.requestId, r.blob, r.etag, r.snapshot);
    if (!first.has(key)) first.set(key, i);
  });
  return mapBounded(requests, deps.settings.batchCopyConcurrency, (request, i) => {
    const requestId = versionRequestId(input.requestId, request.blob, request.etag, request.snapshot);
    if (first.get(requestId) !== i) return Promise.resolve<VersionOutcome>({ status: "Skipped", reason: "a duplicate of another entry of this batch" });
    return copyOneOfBatch(deps, target, request, requestId, input.copiedAt);
  });
}

/** One version of a batch, start to end; never throws (a failure is a hand-off to the single-blob backup). */
async function copyOneOfBatch(deps: BatchCopyDeps, target: BackupTarget, request: BackupRequest, requestId: string, copiedAt: string): Promise<VersionOutcome> {
  try {
    const resolved = await resolveSourceVersion(deps.source, request);
    if (resolved.kind === "skipped") return { status: "Skipped", reason: resolved.reason };
    const { version } = resolved;
    if (version.contentLength >= deps.settings.batchMaxBlobBytes) {
      return { status: "HandedOff", reason: `large: ${version.contentLength} bytes (BATCH_MAX_BLOB_BYTES ${deps.settings.batchMaxBlobBytes})` };
    }
    const copy = (): Promise<VersionOutcome> =>
      copyAndVerify(deps, target, version, { requestId, copiedAt }, { metadata: resolved.metadata, assumeAbsent: request.firstVersion === true }, request.oldestLakeSnapshot);
    // Lease mode pins a live version while it is copied; a snapshot never changes (as in the single-blob backup).
    if (!deps.settings.blobLease || version.snapshot !== undefined) return await copy();
    return await underLease(deps, version, requestId, copy);
  } catch (err) {
    // What outlived the SDK's own retries (5xx, network): the single-blob backup retries it with durable back-off.
    return { status: "HandedOff", reason: `transient failure: ${describeError(err)}` };
  }
}

async function copyAndVerify(
  deps: BatchCopyDeps,
  target: BackupTarget,
  version: SourceVersion,
  ids: { readonly requestId: string; readonly copiedAt: string },
  known: KnownSource,
  oldestLakeSnapshot: string | undefined,
): Promise<VersionOutcome> {
  // The metadata was just read by resolveSourceVersion; the requester's first-version hint saves the read of an absent
  // backup blob, and (below) the release of lake snapshots older than this one, of which there are none.
  const copied = await serverCopy(deps.source, deps.backup, target, { version, ...ids }, DEFAULT_SERVER_COPY_OPTIONS, known);
  if (copied.kind === "skipped") return { status: "Skipped", reason: copied.reason };
  if (copied.kind === "failed") return { status: "HandedOff", reason: copied.reason };
  // The one per-version verification, shared with the single-blob backup.
  const verified = await verifyBackup(deps.backup, target.container, version);
  if (verified.kind === "verified") {
    // No release (two listings saved per version) when it cannot delete anything: for the first version of a blob,
    // which has no older lake snapshot (only LAKE_SNAPSHOTS=none releases this snapshot itself), and under keep-days
    // while every older snapshot the scan listed is still young (`releaseMayDelete`).
    const policy = deps.settings.lakeSnapshots ?? { mode: "newest" };
    const now = deps.now?.() ?? new Date();
    if (version.snapshot === undefined || (known.assumeAbsent === true && policy.mode !== "none") || !releaseMayDelete(policy, oldestLakeSnapshot, now)) {
      return { status: "Copied", bytes: verified.bytes };
    }
    return { status: "Copied", bytes: verified.bytes, lakeSnapshots: await releaseAfterVerification(deps, target, version, now) };
  }
  if (verified.kind === "superseded") return { status: "Skipped", reason: verified.reason };
  return { status: "HandedOff", reason: `verification failed: ${verified.reason}` };
}

/**
 * The same release as the single-blob backup's verify step (`releaseLakeSnapshots`); a failure is reported in the
 * outcome and left to the retention run, since the version itself is backed up.
 */
async function releaseAfterVerification(deps: BatchCopyDeps, target: BackupTarget, version: SourceVersion, now: Date): Promise<string> {
  try {
    const released = await releaseLakeSnapshots(containerClient(deps.source.service, version.container), containerClient(deps.backup.service, target.container), version.blob, {
      policy: deps.settings.lakeSnapshots ?? { mode: "newest" },
      versions: target.history === "versioning",
      now,
    });
    return describeRelease(released);
  } catch (err) {
    return `lake snapshots not released (the retention run will): ${describeError(err)}`;
  }
}

/**
 * Lease mode inside a batch: a finite lease (LEASE_SECONDS) with this version's own id, renewed while the copy runs and
 * released on every exit. Someone else's lease is not waited for here — that would hold the whole chunk — but handed to
 * the single-blob backup, which backs off on durable timers.
 */
async function underLease(deps: BatchCopyDeps, version: SourceVersion, leaseId: string, copy: () => Promise<VersionOutcome>): Promise<VersionOutcome> {
  const lease = blobIn(deps.source.service, version.container, version.blob).getBlobLeaseClient(leaseId);
  try {
    // Acquiring again with the same id succeeds, so a retried activity is harmless.
    await lease.acquireLease(deps.settings.leaseSeconds);
  } catch (err) {
    if (statusOf(err) === 409) return { status: "HandedOff", reason: `the source blob is leased by someone else: ${describeError(err)}` };
    if (statusOf(err) === 404) return { status: "Skipped", reason: "the source blob no longer exists" };
    throw err;
  }
  try {
    // The copy is ETag-conditional, so a lease lost on the way does not make it wrong.
    const { result } = await whileLeaseRenewed(lease, leaseRenewSeconds(deps.settings.leaseSeconds) * 1000, copy);
    return result;
  } finally {
    await lease.releaseLease().catch(() => {
      // Gone, expired or someone else's now (409/404/412), or unanswered: the finite lease lapses by itself.
    });
  }
}
