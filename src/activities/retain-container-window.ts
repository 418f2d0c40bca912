/**
 * The retention run's window activity (src/storage/retention-window.ts): one lake page joined with the backup listing
 * with history, and what LAKE_SNAPSHOTS, BACKUP_RETENTION_DAYS, BACKUP_MIN_VERSIONS and ORPHAN_RETENTION_DAYS let go
 * deleted — or, in a dry run, counted only. Settings decide, not the input: the container must pass the container
 * policy and the backup container comes from BACKUP_CONTAINER_TEMPLATE; the input brings only the cursor, the dry-run
 * flag and the run's clock.
 */
import type { BlobAccount } from "../config/clients";
import type { Settings } from "../config/settings";
import { backupTargetOf } from "../domain/container-policy";
import { retentionWindowInputSchema, type RetentionWindowResult } from "../domain/retention";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { containerClient } from "../storage/addressed-clients";
import { retentionWindow } from "../storage/retention-window";

export type RetentionSettings = Pick<
  Settings,
  | "containers"
  | "excludeContainers"
  | "backupContainerTemplate"
  | "reportsContainer"
  | "backupHistory"
  | "lakeSnapshots"
  | "backupRetentionDays"
  | "backupMinVersions"
  | "orphanRetentionDays"
  | "snapshotConcurrency"
>;

export function createRetainContainerWindowActivity(deps: { readonly source: BlobAccount; readonly backup: BlobAccount; readonly settings: RetentionSettings }) {
  const s = deps.settings;
  return async (raw: unknown): Promise<RetentionWindowResult> => {
    const input = retentionWindowInputSchema.parse(raw);
    const target = backupTargetOf(s, input.container);
    if (!target.ok) return { kind: "refused", reason: target.reason };
    const outcome = await retentionWindow(containerClient(deps.source.service, input.container), containerClient(deps.backup.service, target.backupContainer), input.cursor, {
      policy: s.lakeSnapshots,
      rules: {
        minVersions: s.backupMinVersions,
        ...(s.backupRetentionDays !== undefined && { retentionDays: s.backupRetentionDays }),
        ...(s.orphanRetentionDays !== undefined && { orphanRetentionDays: s.orphanRetentionDays }),
      },
      versions: s.backupHistory === "versioning",
      dryRun: input.dryRun,
      now: new Date(input.now),
      pageSize: input.pageSize ?? 5000,
      concurrency: s.snapshotConcurrency,
    });
    return outcome;
  };
}

registerActivity(Activities.retainContainerWindow, ({ clients, settings }) =>
  createRetainContainerWindowActivity({ source: clients.source, backup: clients.backup, settings }));
