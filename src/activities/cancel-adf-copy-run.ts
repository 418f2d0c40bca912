/** Copy engine `adf`: cancels a run that exceeded COPY_TIMEOUT_MINUTES. Cancelling a finished run is harmless. */

import { type AdfDeps, requireAdf } from "../config/clients";
import { armOutcome } from "../copy/adf-pipeline";
import { adfRunInputSchema, type CancelAdfRunResult } from "../domain/blob-backup-activities";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";

export function createCancelAdfCopyRunActivity(deps: Pick<AdfDeps, "adf" | "adfSettings">) {
  return async (raw: unknown): Promise<CancelAdfRunResult> => {
    const input = adfRunInputSchema.parse(raw);
    const { client, settings } = requireAdf(deps);
    try {
      await client.pipelineRuns.cancel(settings.resourceGroup, settings.factory, input.runId, { isRecursive: true });
      return { kind: "cancelled" };
    } catch (err) {
      const outcome = armOutcome(err, "pipelineRuns.cancel");
      // Throttled: let the durable retry try again rather than leave a run going.
      if (outcome.kind === "throttled") throw err;
      return outcome;
    }
  };
}

registerActivity(Activities.cancelAdfCopyRun, ({ clients, settings }) => createCancelAdfCopyRunActivity({ adf: clients.adf, adfSettings: settings.adf }));
