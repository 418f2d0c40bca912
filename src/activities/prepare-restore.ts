/**
 * First step of a restore: the backup container must exist (else nothing is created anywhere), the reports container
 * is created for the report, and — unless it is a dry run — the target container is created when missing (a new
 * container, or a deleted lake container brought back). Idempotent: every step is "if missing".
 *
 * A container deleted a moment ago cannot be created again for a while (409 ContainerBeingDeleted): that throws, and
 * the orchestration's retries wait it out.
 */
import type { Clients } from "../config/clients";
import { prepareRestoreInputSchema,type PrepareRestoreResult } from "../domain/restore-contracts";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { targetAccount } from "../storage/restore-batch";

export function createPrepareRestoreActivity(clients: Pick<Clients, "source" | "backup" | "restore">, reportsContainer: string): (input: unknown) => Promise<PrepareRestoreResult> {
  return async (raw) => {
    const input = prepareRestoreInputSchema.parse(raw);
    if (!(await clients.backup.service.getContainerClient(input.backupContainer).exists())) return { kind: "backupContainerNotFound" };
    await clients.backup.service.getContainerClient(reportsContainer).createIfNotExists();
    if (input.dryRun) return { kind: "ready", targetCreated: false };
    const created = await targetAccount(clients, input.target.account).service.getContainerClient(input.target.container).createIfNotExists();
    return { kind: "ready", targetCreated: created.succeeded };
  };
}

registerActivity(Activities.prepareRestore, ({ clients, settings }) => createPrepareRestoreActivity(clients, settings.reportsContainer));
