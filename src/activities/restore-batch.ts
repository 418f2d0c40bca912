/**
 * Restore's batch activity: one page of the backup listing (or a few names asked for) restored as of the restore's
 * time, with bounded concurrency (src/storage/restore-batch.ts). Returns counts, a few samples and the cursors, so the
 * history grows with pages, not blobs.
 *
 * Idempotent: a re-run reads the target again; what the failed attempt restored is now found identical (skipped),
 * every write is conditional on the state just read, and the batch's report block is staged again under the same id.
 */
import type { Clients } from "../config/clients";
import type { Settings } from "../config/settings";
import { batchInputSchema,type BatchResult } from "../domain/restore-contracts";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { restoreBatch, restoreSourceOf, targetAccount } from "../storage/restore-batch";

export function createRestoreBatchActivity(
  clients: Pick<Clients, "source" | "backup" | "restore">,
  options: { readonly reportsContainer: string; readonly concurrency: number; readonly settings: Pick<Settings, "backupContainerTemplate" | "backupHistory"> },
): (input: unknown) => Promise<BatchResult> {
  return async (raw) => {
    const parsed = batchInputSchema.parse(raw);
    const fromSettings = restoreSourceOf(options.settings, parsed.options.container, parsed.options.backupContainer);
    const input = { ...parsed, options: { ...parsed.options, ...fromSettings } };
    return restoreBatch(
      {
        backup: clients.backup,
        target: targetAccount(clients, input.options.target.account),
        reportsContainer: options.reportsContainer,
        concurrency: options.concurrency,
      },
      input,
    );
  };
}

registerActivity(Activities.restoreBatch, ({ clients, settings }) =>
  createRestoreBatchActivity(clients, { reportsContainer: settings.reportsContainer, concurrency: settings.restoreConcurrency, settings }));
