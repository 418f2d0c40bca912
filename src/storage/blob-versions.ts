/**
 * Every version of one blob the backup holds (the backup blob, its snapshots or blob versions, with the source version
 * each records) and the lake's own snapshots, newest first: what an operator reads to pick a restore's `asOf`.
 * Two listings by exact name, no request per version.
 */
import type { ContainerClient } from "@azure/storage-blob";

import { compareSnapshotIds } from "../domain/change-detection";
import { canonicalEtag } from "../domain/etag";
import { backupVersionOf } from "./backup-versions";
import { isContainerNotFound, listNameEntries } from "./list-source-page";

/** At most this many entries per side (a blob with more versions than that is listed newest first, truncated). */
export const MAX_VERSIONS = 1000;

export interface BackupVersionView {
  readonly sourceLastModified?: string;
  readonly sourceEtag?: string;
  readonly sourceSnapshot?: string;
  readonly size: number;
  readonly copiedAt?: string;
  readonly deletedAt?: string;
  /** Where in the backup: the backup blob itself (`current`), a snapshot of it, or a blob version. */
  readonly current: boolean;
  readonly backupSnapshot?: string;
  readonly backupVersionId?: string;
}

export interface LakeVersionView {
  readonly current: boolean;
  readonly snapshot?: string;
  readonly lastModified: string;
  readonly etag: string;
  readonly size: number;
}

export interface BlobVersions {
  readonly backup: readonly BackupVersionView[];
  readonly lake: readonly LakeVersionView[];
  readonly truncated: boolean;
}

async function entriesOf(container: ContainerClient, blob: string, versions: boolean) {
  try {
    return (await listNameEntries(container, blob, { versions })).items.filter((i) => i.deleted !== true);
  } catch (err) {
    if (isContainerNotFound(err)) return [];
    throw err;
  }
}

export async function blobVersions(lake: ContainerClient, backup: ContainerClient, blob: string, history: "snapshot" | "versioning"): Promise<BlobVersions> {
  const [backupItems, lakeItems] = await Promise.all([entriesOf(backup, blob, history === "versioning"), entriesOf(lake, blob, false)]);
  const backupViews = backupItems
    .map((item): BackupVersionView => {
      const v = backupVersionOf(item);
      return {
        ...(v.sourceLastModified !== undefined && { sourceLastModified: v.sourceLastModified }),
        ...(v.sourceEtag !== undefined && { sourceEtag: v.sourceEtag }),
        ...(v.sourceSnapshot !== undefined && { sourceSnapshot: v.sourceSnapshot }),
        size: v.contentLength,
        ...(v.copiedAt !== undefined && { copiedAt: v.copiedAt }),
        ...(v.deletedAt !== undefined && { deletedAt: v.deletedAt }),
        current: v.snapshot === undefined && (v.versionId === undefined || item.isCurrentVersion === true),
        ...(v.snapshot !== undefined && { backupSnapshot: v.snapshot }),
        ...(v.versionId !== undefined && { backupVersionId: v.versionId }),
      };
    })
    .sort((a, b) => (b.sourceLastModified ?? "").localeCompare(a.sourceLastModified ?? "") || (b.copiedAt ?? "").localeCompare(a.copiedAt ?? ""));
  const lakeViews = lakeItems
    .map((item): LakeVersionView => ({
      current: item.snapshot === undefined || item.snapshot === "",
      ...(item.snapshot !== undefined && item.snapshot !== "" && { snapshot: item.snapshot }),
      lastModified: item.properties.lastModified.toISOString(),
      etag: canonicalEtag(item.properties.etag ?? ""),
      size: item.properties.contentLength ?? 0,
    }))
    // The live blob is the newest; snapshots by their id, newest first.
    .sort((a, b) => (a.current ? -1 : b.current ? 1 : compareSnapshotIds(b.snapshot ?? "", a.snapshot ?? "")));
  return {
    backup: backupViews.slice(0, MAX_VERSIONS),
    lake: lakeViews.slice(0, MAX_VERSIONS),
    truncated: backupViews.length > MAX_VERSIONS || lakeViews.length > MAX_VERSIONS,
  };
}
