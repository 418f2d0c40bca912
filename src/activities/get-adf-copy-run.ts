/** Copy engine `adf`: one poll of a pipeline run (the orchestration calls it on a durable-timer cadence). */
import * as df from "durable-functions";

import { armOutcome } from "../copy/adf-pipeline";
import { adfRunInputSchema, adfRunStatusSchema, type GetAdfRunResult } from "../domain/blob-backup-activities";
import { Activities } from "../function-names";
import { runtime } from "../runtime";
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

df.app.activity(Activities.getAdfCopyRun, {
  handler: (input: unknown) => {
    const { clients, settings } = runtime();
    return createGetAdfCopyRunActivity({ adf: clients.adf, adfSettings: settings.adf })(input);
  },
});
