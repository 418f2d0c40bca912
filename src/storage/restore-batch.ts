/**
 * One batch of a restore: a page of the backup listing with every version of its names (or a few names asked for),
 * the target's state for those names, then per name — choose the version as of the restore's time, decide what the
 * overwrite mode allows, write it conditionally and verify it — with bounded concurrency. The batch's per-blob lines
 * are staged as one block of the per-blob report; only counts and a few samples go back to the orchestration.
 *
 * Cost: per page, one backup listing request (plus the re-list of a name straddling the page end) and about one
 * target listing request; per restored blob, the two writes of the copy and one read to verify it.
 */
import type { BlobAccount, Clients } from "../config/clients";
import { mapBounded } from "../domain/map-bounded";
import { isValidBlobName } from "../domain/names";
import { type BackupVersion, chooseVersion, decideTarget, type RestoreSkipReason, type TargetBlob, targetName } from "../domain/restore";
import {
  type BatchInput,
  type BatchResult,
  type ChosenVersion,
  MAX_SAMPLES,
  type RestoreCounts,
  type RestoreLine,
  type TargetCursor,
  writesFirst,
  zeroRestoreCounts,
} from "../domain/restore-contracts";
import { backupVersionOf, groupBackupVersions, type NameVersions } from "./backup-versions";
import { isContainerNotFound, listCompletePage, listNameEntries } from "./list-source-page";
import { type RestoreCopyOptions, restoreVersion } from "./restore-copy";
import { readTargetBlob, readTargetWindow } from "./restore-target";

export interface RestoreBatchDeps {
  readonly backup: BlobAccount;
  /** The account restored into: the lake, or the RestoreStorage account. */
  readonly target: BlobAccount;
  /** Container of the backup account that receives the reports. */
  readonly reportsContainer: string;
  readonly concurrency: number;
  /** Copy thresholds (tests use small ones to cover the staged path cheaply). */
  readonly copyOptions?: RestoreCopyOptions;
}

/** The account a restore writes to: the lake, or RestoreStorage. */
export function targetAccount(clients: Pick<Clients, "source" | "restore">, account: "lake" | "restore"): BlobAccount {
  if (account === "lake") return clients.source;
  if (clients.restore === undefined) throw new Error("RestoreStorage is not configured (it was when the restore started)");
  return clients.restore;
}

function chosen(v: BackupVersion): ChosenVersion {
  return {
    ...(v.sourceLastModified !== undefined && { sourceLastModified: v.sourceLastModified }),
    ...(v.sourceEtag !== undefined && { sourceEtag: v.sourceEtag }),
    ...(v.sourceSnapshot !== undefined && { sourceSnapshot: v.sourceSnapshot }),
    ...(v.snapshot !== undefined && { backupSnapshot: v.snapshot }),
    ...(v.versionId !== undefined && { backupVersionId: v.versionId }),
    ...(v.copiedAt !== undefined && { copiedAt: v.copiedAt }),
    ...(v.deletedAt !== undefined && { deletedAt: v.deletedAt }),
    contentLength: v.contentLength,
  };
}

interface Gathered {
  readonly groups: readonly NameVersions[];
  readonly targets: ReadonlyMap<string, TargetBlob>;
  readonly next?: { cursor: { continuationToken?: string; skipName?: string }; targetCursor: TargetCursor };
  readonly backupListRequests: number;
  readonly targetListRequests: number;
}

/** The names of this batch with their versions, and what the target holds under their target names. */
async function gather(deps: RestoreBatchDeps, input: BatchInput): Promise<Gathered | "backupContainerNotFound"> {
  const { options, source } = input;
  const backupContainer = deps.backup.service.getContainerClient(options.backupContainer);
  const targetContainer = deps.target.service.getContainerClient(options.target.container);
  const include = { versions: options.history === "versioning" };
  if (source.kind === "names") {
    let groups: NameVersions[];
    try {
      groups = await mapBounded(source.names, deps.concurrency, async (name) => {
        const { items } = await listNameEntries(backupContainer, name, include);
        return { name, versions: items.filter((i) => i.deleted !== true).map(backupVersionOf) };
      });
    } catch (err) {
      if (isContainerNotFound(err)) return "backupContainerNotFound";
      throw err;
    }
    const targets = new Map<string, TargetBlob>();
    await mapBounded(groups, deps.concurrency, async (g) => {
      const name = targetName(options.target.prefix, g.name);
      if (g.versions.length === 0 || !isValidBlobName(name)) return;
      const found = await readTargetBlob(targetContainer, name);
      if (found !== undefined) targets.set(name, found);
    });
    return { groups, targets, backupListRequests: groups.length, targetListRequests: 0 };
  }

  const page = await listCompletePage(
    backupContainer,
    {
      ...(options.prefix !== undefined && { prefix: options.prefix }),
      ...(source.cursor.continuationToken !== undefined && { continuationToken: source.cursor.continuationToken }),
      ...(source.cursor.skipName !== undefined && { skipName: source.cursor.skipName }),
      ...(options.pageSize !== undefined && { pageSize: options.pageSize }),
    },
    include,
  );
  if (page.kind === "containerNotFound") return "backupContainerNotFound";
  const groups = groupBackupVersions(page.items);
  const last = groups[groups.length - 1];
  // Prepending the target prefix keeps the names' order, so the target listing is read over the same range.
  const window =
    last === undefined
      ? { blobs: new Map<string, TargetBlob>(), cursor: source.targetCursor, listRequests: 0 }
      : await readTargetWindow(
          targetContainer,
          targetName(options.target.prefix, options.prefix ?? ""),
          source.targetCursor,
          new Set(groups.map((g) => targetName(options.target.prefix, g.name))),
          targetName(options.target.prefix, last.name),
          options.pageSize ?? 5000,
        );
  return {
    groups,
    targets: window.blobs,
    ...(page.continuationToken !== undefined && {
      next: {
        cursor: { continuationToken: page.continuationToken, ...(page.skipName !== undefined && { skipName: page.skipName }) },
        targetCursor: window.cursor,
      },
    }),
    backupListRequests: page.listRequests,
    targetListRequests: window.listRequests,
  };
}

export async function restoreBatch(deps: RestoreBatchDeps, input: BatchInput): Promise<BatchResult> {
  const gathered = await gather(deps, input);
  if (gathered === "backupContainerNotFound") return { kind: "backupContainerNotFound" };
  const { options } = input;
  const counts: RestoreCounts = zeroRestoreCounts();
  counts.backupListRequests = gathered.backupListRequests;
  counts.targetListRequests = gathered.targetListRequests;
  const targetContainer = deps.target.service.getContainerClient(options.target.container);

  const lines = await mapBounded(gathered.groups, deps.concurrency, async (group): Promise<RestoreLine> => {
    counts.considered += 1;
    const name = targetName(options.target.prefix, group.name);
    const line = { name: group.name, target: name };
    const skipped = (reason: RestoreSkipReason, version?: BackupVersion): RestoreLine => {
      counts.skipped[reason] += 1;
      return { ...line, outcome: "skipped", reason, ...(version !== undefined && { version: chosen(version) }) };
    };
    if (!isValidBlobName(name)) return skipped("nameTooLong");
    const choice = chooseVersion(group.versions, options.asOf);
    if (choice.kind === "skipped") return skipped(choice.reason, choice.version);
    const version = choice.version;
    const decision = decideTarget(version, gathered.targets.get(name), options.overwrite, options.inPlace);
    if (decision.kind === "skipped") return skipped(decision.reason, version);
    counts.planned += 1;
    counts.plannedBytes += version.contentLength;
    if (options.dryRun) return { ...line, outcome: "planned", version: chosen(version) };
    const written = await restoreVersion(deps.backup, options.backupContainer, version, targetContainer, name, decision.conditions, deps.copyOptions);
    if (written.kind === "lostRace") return { ...skipped("concurrentWrite", version), reason: `concurrentWrite: ${written.reason}` };
    if (written.kind === "failed") {
      counts.failed += 1;
      return { ...line, outcome: "failed", reason: written.reason, version: chosen(version) };
    }
    counts.restored += 1;
    counts.bytes += written.bytes;
    return { ...line, outcome: "restored", reason: written.note, version: chosen(version) };
  });

  const detailsStaged = lines.length > 0;
  if (detailsStaged) {
    const body = lines.map((l) => JSON.stringify(l)).join("\n") + "\n";
    const details = deps.backup.service.getContainerClient(deps.reportsContainer).getBlockBlobClient(input.details.blob);
    // A retried batch stages the same block id again, replacing its earlier lines.
    await details.stageBlock(detailsBlockId(input.details.block), body, Buffer.byteLength(body));
  }
  return {
    kind: "batch",
    counts,
    samples: writesFirst(lines).slice(0, MAX_SAMPLES),
    failures: lines.filter((l) => l.outcome === "failed").slice(0, MAX_SAMPLES),
    ...(gathered.next !== undefined && { next: gathered.next }),
    detailsStaged,
  };
}

/** Block ids of the per-blob report, one per batch, all of one length. */
export function detailsBlockId(index: number): string {
  return Buffer.from(`batch-${String(index).padStart(9, "0")}`).toString("base64");
}
