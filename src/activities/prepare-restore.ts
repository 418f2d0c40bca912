/**
 * First step of a restore: the backup container must exist (else nothing is created anywhere), the reports container
 * is created for the report, and — unless it is a dry run — the target container is created when missing (a new
 * container, or a deleted lake container brought back). Idempotent: every step is "if missing".
 *
 * A container deleted a moment ago cannot be created again for a while (409 ContainerBeingDeleted): that throws, and
 * the orchestration's retries wait it out.
 */
import { z } from "zod";

import type { Clients } from "../config/clients";
import type { Settings } from "../config/settings";
import { isValidContainerName } from "../domain/names";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { containerClient } from "../storage/addressed-clients";
import { restoreSourceOf, targetAccount } from "../storage/restore-batch";

export const prepareRestoreInputSchema = z.strictObject({
  /** The lake container restored from: the backup container comes from the settings (and must be the one named). */
  container: z.string().refine(isValidContainerName),
  backupContainer: z.string().refine(isValidContainerName),
  target: z.strictObject({ account: z.enum(["lake", "restore"]), container: z.string().refine(isValidContainerName) }),
  dryRun: z.boolean(),
});
export type PrepareRestoreInput = z.infer<typeof prepareRestoreInputSchema>;

export const prepareRestoreResultSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("ready"), targetCreated: z.boolean() }),
  z.strictObject({ kind: z.literal("backupContainerNotFound") }),
]);
export type PrepareRestoreResult = z.infer<typeof prepareRestoreResultSchema>;

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
