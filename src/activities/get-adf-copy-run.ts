/** Copy engine `adf`: one poll of a pipeline run (the orchestration calls it on a durable-timer cadence). */

import { armOutcome } from "../copy/adf-pipeline";
import { adfRunInputSchema, adfRunStatusSchema, type GetAdfRunResult } from "../domain/blob-backup-activities";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { type AdfDeps, requireAdf } from "./start-adf-copy-run";

export function createGetAdfCopyRunActivity(deps: Pick<AdfDeps, "adf" | "adfSettings">) {
  return async (raw: unknown): Promise<GetAdfRunResult> => {
    const input = adfRunInputSchema.parse(raw);
    const { client, settings } = requireAdf(deps);
    try {
      const run = await client.pipelineRuns.get(settings.resourceGroup, settings.factory, input.runId);
      const status = adfRunStatusSchema.safeParse(run.status);
      if (!status.success) throw new Error(`ADF reported an unknown run status ${String(run.status)}`);
      return { kind: "run", status: status.data, message: run.message ?? "" };
    } catch (err) {
      if (err instanceof Error && err.message.startsWith("ADF reported")) throw err;
      return armOutcome(err, "pipelineRuns.get");
    }
  };
}

registerActivity(Activities.getAdfCopyRun, ({ clients, settings }) => createGetAdfCopyRunActivity({ adf: clients.adf, adfSettings: settings.adf }));
