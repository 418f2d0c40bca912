/**
 * The versions a backup container holds, read from its listing: the backup blob, its snapshots (snapshot history),
 * and its blob versions (`BACKUP_HISTORY=versioning`, accounts with blob versioning). Each entry's metadata carries the
 * `backup_source_*` record of the version it holds, so one listing tells every version of every name.
 */
import type { BlobItem } from "@azure/storage-blob";

import { BackupMetadata } from "../domain/blob-backup";
import { canonicalEtag } from "../domain/etag";
import type { BackupVersion } from "../domain/restore";

/** The source's own metadata: every key of our record (`backup_*`, in any case) removed. */
export function ownMetadata(metadata: Readonly<Record<string, string>> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(metadata ?? {}).filter(([key]) => !key.toLowerCase().startsWith("backup_")));
}

function recordValue(metadata: Readonly<Record<string, string>>, key: string): string | undefined {
  // Metadata names are case-insensitive in Azure; we write them in lowercase, but read them in any case.
  const found = Object.entries(metadata).find(([k]) => k.toLowerCase() === key);
  return found === undefined || found[1] === "" ? undefined : found[1];
}

export function backupVersionOf(item: BlobItem): BackupVersion {
  const p = item.properties;
  const m = item.metadata ?? {};
  const value = (key: string): string | undefined => recordValue(m, key);
  const optional = <K extends string>(key: K, v: string | undefined): Partial<Record<K, string>> =>
    (v === undefined || v === "" ? {} : { [key]: v }) as Partial<Record<K, string>>;
  return {
    name: item.name,
    ...optional("snapshot", item.snapshot),
    ...optional("versionId", item.versionId),
    etag: canonicalEtag(p.etag ?? ""),
    ...optional("sourceEtag", value(BackupMetadata.etag)),
    ...optional("sourceLastModified", value(BackupMetadata.lastModified)),
    ...optional("sourceSnapshot", value(BackupMetadata.snapshot)),
    ...optional("copiedAt", value(BackupMetadata.copiedAt)),
    ...optional("deletedAt", value(BackupMetadata.deletedAt)),
    contentLength: p.contentLength ?? 0,
    ...optional("contentMd5", p.contentMD5 !== undefined && p.contentMD5.length > 0 ? Buffer.from(p.contentMD5).toString("base64") : undefined),
    ...optional("contentType", p.contentType),
    ...optional("contentEncoding", p.contentEncoding),
    ...optional("contentLanguage", p.contentLanguage),
    ...optional("contentDisposition", p.contentDisposition),
    ...optional("cacheControl", p.cacheControl),
    archived: p.accessTier?.toLowerCase() === "archive",
    metadata: ownMetadata(m),
  };
}

export interface NameVersions {
  readonly name: string;
  readonly versions: readonly BackupVersion[];
}

/** Groups listed entries by name, keeping the listing's name order (the order within a name is never relied on). */
export function groupBackupVersions(items: readonly BlobItem[]): NameVersions[] {
  const groups = new Map<string, BackupVersion[]>();
  for (const item of items) {
    // A soft-deleted entry (listed only when asked for) is not a version the backup holds.
    if (item.deleted === true) continue;
    const list = groups.get(item.name) ?? [];
    list.push(backupVersionOf(item));
    groups.set(item.name, list);
  }
  return [...groups].map(([name, versions]) => ({ name, versions }));
}
