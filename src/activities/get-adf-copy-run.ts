/** Copy engine `adf`: one poll of a pipeline run (the orchestration calls it on a durable-timer cadence). */

import { type AdfDeps, requireAdf } from "../config/clients";
import { armOutcome } from "../copy/adf-pipeline";
import { adfRunInputSchema, adfRunStatusSchema, type GetAdfRunResult } from "../domain/blob-backup-activities";
import { redact } from "../domain/errors";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";

/** ADF run messages can be long (an error per activity); the reason keeps the start. */
const MAX_RUN_MESSAGE = 2_000;

export function createGetAdfCopyRunActivity(deps: Pick<AdfDeps, "adf" | "adfSettings">) {
  return async (raw: unknown): Promise<GetAdfRunResult> => {
    const input = adfRunInputSchema.parse(raw);
    const { client, settings } = requireAdf(deps);
    try {
      const run = await client.pipelineRuns.get(settings.resourceGroup, settings.factory, input.runId);
      const status = adfRunStatusSchema.safeParse(run.status);
      if (!status.success) throw new Error(`ADF reported an unknown run status ${String(run.status)}`);
      // ADF's run message can quote the source URL with its SAS: redacted before it reaches history and outputs.
      return { kind: "run", status: status.data, message: redact(run.message ?? "").slice(0, MAX_RUN_MESSAGE) };
    } catch (err) {
      if (err instanceof Error && err.message.startsWith("ADF reported")) throw err;
      return armOutcome(err, "pipelineRuns.get");
    }
  };
}

registerActivity(Activities.getAdfCopyRun, ({ clients, settings }) => createGetAdfCopyRunActivity({ adf: clients.adf, adfSettings: settings.adf }));
