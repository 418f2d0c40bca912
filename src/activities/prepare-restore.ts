/**
 * First step of a restore: the backup container must exist (else nothing is created anywhere), the reports container
 * is created for the report, and — unless it is a dry run — the target container is created when missing (a new
 * container, or a deleted lake container brought back). Idempotent: every step is "if missing".
 *
 * A container deleted a moment ago cannot be created again for a while (409 ContainerBeingDeleted): that throws, and
 * the orchestration's retries wait it out.
 */
import type { Clients } from "../config/clients";
import type { Settings } from "../config/settings";
import { prepareRestoreInputSchema, type PrepareRestoreResult } from "../domain/restore-contracts";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { containerClient } from "../storage/addressed-clients";
import { restoreSourceOf, targetAccount } from "../storage/restore-batch";

export function createPrepareRestoreActivity(
  clients: Pick<Clients, "source" | "backup" | "restore">,
  settings: Pick<Settings, "reportsContainer" | "backupContainerTemplate" | "backupHistory">,
): (input: unknown) => Promise<PrepareRestoreResult> {
  return async (raw) => {
    const input = prepareRestoreInputSchema.parse(raw);
    const { backupContainer } = restoreSourceOf(settings, input.container, input.backupContainer);
    if (!(await containerClient(clients.backup.service, backupContainer).exists())) return { kind: "backupContainerNotFound" };
    await containerClient(clients.backup.service, settings.reportsContainer).createIfNotExists();
    if (input.dryRun) return { kind: "ready", targetCreated: false };
    const created = await containerClient(targetAccount(clients, input.target.account).service, input.target.container).createIfNotExists();
    return { kind: "ready", targetCreated: created.succeeded };
  };
}

registerActivity(Activities.prepareRestore, ({ clients, settings }) => createPrepareRestoreActivity(clients, settings));
