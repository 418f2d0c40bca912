/**
 * Copy engine `server`: one conditional server-side copy of the resolved version (src/copy/server-copy.ts) into the
 * backup container the settings name. In lease mode the activity keeps the orchestration's lease renewed while it
 * copies, so the orchestration simply waits for this one task (no renew timers raced against it).
 */

import type { BlobAccount } from "../config/clients";
import type { Settings } from "../config/settings";
import { copyOptionsOf, DEFAULT_SERVER_COPY_OPTIONS, serverCopy, type ServerCopyOptions } from "../copy/server-copy";
import { leaseRenewSeconds } from "../domain/blob-backup";
import { type CopyResult, copyResultSchema, serverCopyInputSchema } from "../domain/blob-backup-activities";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { blobIn } from "../storage/addressed-clients";
import { backupDestinationOf,type BackupDestinationSettings } from "../storage/backup-target";
import { whileLeaseRenewed } from "../storage/lease-renewal";

export interface CopyBlobServerSideDeps {
  readonly source: BlobAccount;
  readonly backup: BlobAccount;
  readonly settings: BackupDestinationSettings & Pick<Settings, "leaseSeconds">;
}

export function createCopyBlobServerSideActivity(deps: CopyBlobServerSideDeps, options: ServerCopyOptions = DEFAULT_SERVER_COPY_OPTIONS) {
  return async (raw: unknown): Promise<CopyResult> => {
    const input = serverCopyInputSchema.parse(raw);
    const target = backupDestinationOf(deps.settings, input.version.container);
    const copy = (): Promise<CopyResult> => serverCopy(deps.source, deps.backup, target, input, options);
    if (input.leaseId === undefined) return copyResultSchema.parse(await copy());
    const lease = blobIn(deps.source.service, input.version.container, input.version.blob).getBlobLeaseClient(input.leaseId);
    const { result, lost } = await whileLeaseRenewed(lease, leaseRenewSeconds(deps.settings.leaseSeconds) * 1000, copy);
    return copyResultSchema.parse(result.kind === "copied" && lost !== undefined ? { ...result, leaseLost: lost } : result);
  };
}

registerActivity(Activities.copyBlobServerSide, ({ clients, settings }) => createCopyBlobServerSideActivity({ ...clients, settings }, copyOptionsOf(settings)));
