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
import type { Settings } from "../config/settings";
import { compareBlobNames } from "../domain/backup-join";
import { mapBounded } from "../domain/map-bounded";
import { backupContainerName, isValidBlobName } from "../domain/names";
import {
  type BackupVersion,
  chooseVersion,
  decideTarget,
  type RestoreSkipReason,
  type TargetBlob,
  targetName,
  type WriteConditions,
} from "../domain/restore";
import {
  type BatchInput,
  type BatchResult,
  type ChosenVersion,
  DEFAULT_MAX_BATCH_BYTES,
  MAX_SAMPLES,
  type RestoreCounts,
  type RestoreLine,
  type TargetCursor,
  writesFirst,
  zeroRestoreCounts,
} from "../domain/restore-contracts";
import { blockBlobClient, containerClient } from "./addressed-clients";
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

/**
 * The backup container and history mode of a restore of `container`, from the settings: an orchestration input can be
 * forged through the management API, so the activities never read another container or history mode than the
 * settings give. A run whose input names another backup container (forged, or settings changed mid-run) is refused.
 */
export function restoreSourceOf(
  settings: Pick<Settings, "backupContainerTemplate" | "backupHistory">,
  container: string,
  named: string,
): { readonly backupContainer: string; readonly history: Settings["backupHistory"] } {
  const backupContainer = backupContainerName(settings.backupContainerTemplate, container);
  if (named !== backupContainer) {
    throw new Error(`refused: the restore names backup container ${JSON.stringify(named)}, BACKUP_CONTAINER_TEMPLATE gives ${JSON.stringify(backupContainer)}`);
  }
  return { backupContainer, history: settings.backupHistory };
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
  const backupContainer = containerClient(deps.backup.service, options.backupContainer);
  const targetContainer = containerClient(deps.target.service, options.target.container);
  const include = { versions: options.history === "versioning" };
  if (source.kind === "names") {
    let groups: NameVersions[];
    let backupListRequests = 0;
    try {
      groups = await mapBounded(source.names, deps.concurrency, async (name) => {
        const { items, requests } = await listNameEntries(backupContainer, name, include);
        backupListRequests += requests;
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
    return { groups, targets, backupListRequests, targetListRequests: 0 };
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
  // A batch that stopped inside this page (byte budget) took the names up to `after`.
  const after = source.cursor.after;
  const groups = groupBackupVersions(page.items).filter((g) => after === undefined || compareBlobNames(g.name, after) > 0);
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

/** What one name comes to before any write: a finished line (skipped, or planned in a dry run), or a write to do. */
type Planned =
  | { readonly kind: "line"; readonly line: RestoreLine; readonly skip?: RestoreSkipReason }
  | { readonly kind: "write"; readonly name: string; readonly target: string; readonly version: BackupVersion; readonly conditions: WriteConditions };

function plan(group: NameVersions, targets: ReadonlyMap<string, TargetBlob>, options: BatchInput["options"]): Planned {
  const target = targetName(options.target.prefix, group.name);
  const skipped = (reason: RestoreSkipReason, version?: BackupVersion): Planned => ({
    kind: "line",
    skip: reason,
    line: { name: group.name, target, outcome: "skipped", reason, ...(version !== undefined && { version: chosen(version) }) },
  });
  if (!isValidBlobName(target)) return skipped("nameTooLong");
  const choice = chooseVersion(group.versions, options.asOf);
  if (choice.kind === "skipped") return skipped(choice.reason, choice.version);
  const decision = decideTarget(choice.version, targets.get(target), options.overwrite, options.inPlace);
  if (decision.kind === "skipped") return skipped(decision.reason, choice.version);
  if (options.dryRun) return { kind: "line", line: { name: group.name, target, outcome: "planned", version: chosen(choice.version) } };
  return { kind: "write", name: group.name, target, version: choice.version, conditions: decision.conditions };
}

/**
 * How many of the planned names this batch writes: all of them, unless their bytes exceed the batch's budget — then
 * the names up to the budget (at least one), and the next batch starts after the last one taken.
 */
function withinBudget(planned: readonly Planned[], maxBytes: number): number {
  let bytes = 0;
  for (let i = 0; i < planned.length; i += 1) {
    const p = planned[i];
    if (p?.kind !== "write") continue;
    if (bytes > 0 && bytes + p.version.contentLength > maxBytes) return i;
    bytes += p.version.contentLength;
  }
  return planned.length;
}

export async function restoreBatch(deps: RestoreBatchDeps, input: BatchInput): Promise<BatchResult> {
  const gathered = await gather(deps, input);
  if (gathered === "backupContainerNotFound") return { kind: "backupContainerNotFound" };
  const { options, source } = input;
  const counts: RestoreCounts = zeroRestoreCounts();
  counts.backupListRequests = gathered.backupListRequests;
  counts.targetListRequests = gathered.targetListRequests;
  const targetContainer = containerClient(deps.target.service, options.target.container);

  const all = gathered.groups.map((g) => plan(g, gathered.targets, options));
  const taken = source.kind === "listing" ? withinBudget(all, options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES) : all.length;
  const results = await mapBounded(all.slice(0, taken), deps.concurrency, async (p): Promise<{ line: RestoreLine; skip?: RestoreSkipReason }> => {
    if (p.kind === "line") return p.line.outcome === "skipped" ? { line: p.line, skip: p.skip } : { line: p.line };
    const { version } = p;
    const written = await restoreVersion(deps.backup, options.backupContainer, version, targetContainer, p.target, p.conditions, deps.copyOptions);
    const line = { name: p.name, target: p.target, version: chosen(version) };
    if (written.kind === "lostRace") return { line: { ...line, outcome: "skipped", reason: `concurrentWrite: ${written.reason}` }, skip: "concurrentWrite" };
    if (written.kind === "failed") return { line: { ...line, outcome: "failed", reason: written.reason } };
    return { line: { ...line, outcome: "restored", reason: written.note } };
  });
  for (const [i, { line, skip }] of results.entries()) {
    counts.considered += 1;
    if (all[i]?.kind === "write" || line.outcome === "planned") {
      counts.planned += 1;
      counts.plannedBytes += line.version?.contentLength ?? 0;
    }
    if (line.outcome === "restored") {
      counts.restored += 1;
      counts.bytes += line.version?.contentLength ?? 0;
    }
    if (line.outcome === "failed") counts.failed += 1;
    if (skip !== undefined) counts.skipped[skip] += 1;
  }
  const lines = results.map((r) => r.line);

  const detailsStaged = lines.length > 0;
  if (detailsStaged) {
    const body = lines.map((l) => JSON.stringify(l)).join("\n") + "\n";
    const details = blockBlobClient(containerClient(deps.backup.service, deps.reportsContainer), input.details.blob);
    // A retried batch stages the same block id again, replacing its earlier lines.
    await details.stageBlock(detailsBlockId(input.details.block), body, Buffer.byteLength(body));
  }
  const last = gathered.groups[taken - 1];
  // Stopped inside the page (byte budget): the next batch lists the same page again, and the target from where this
  // batch started, and goes on after the last name taken.
  const next =
    taken < all.length && source.kind === "listing" && last !== undefined
      ? { cursor: { ...source.cursor, after: last.name }, targetCursor: source.targetCursor }
      : gathered.next;
  return {
    kind: "batch",
    counts,
    samples: writesFirst(lines).slice(0, MAX_SAMPLES),
    failures: lines.filter((l) => l.outcome === "failed").slice(0, MAX_SAMPLES),
    ...(next !== undefined && { next }),
    detailsStaged,
  };
}

/** Block ids of the per-blob report, one per batch, all of one length. */
export function detailsBlockId(index: number): string {
  return Buffer.from(`batch-${String(index).padStart(9, "0")}`).toString("base64");
}
