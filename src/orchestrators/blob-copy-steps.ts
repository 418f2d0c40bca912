/**
 * A bounded run of copy steps for one blob backup (src/orchestrators/blob-backup.ts): calls StageBackupBlocks until
 * no block remains, the source changed or is gone, or COPY_STEPS_PER_MONITOR steps were taken, and returns the sum.
 * Each step stages the blocks still missing (read from the backup blob's uncommitted block list), so a step that
 * failed and is retried, or a monitor that starts after a host restart, sends only what is missing. The backup's
 * history grows by two events per monitor, however large the blob.
 */
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";

import { stageBlocksInputSchema, type StageBlocksResult, stageBlocksResultSchema } from "../domain/blob-backup-activities";
import { COPY_STEPS_PER_MONITOR } from "../domain/blob-copy-monitors";
import { registerOrchestrator } from "../durable/register-orchestrator";
import { blobBackupRetry } from "../durable/retry-policies";
import { Activities, Orchestrators } from "../function-names";

export const blobCopyStepsOrchestrator: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = stageBlocksInputSchema.parse(context.df.getInput());
  let staged = 0;
  let alreadyStaged: number | undefined;
  let leaseLost: string | undefined;
  for (let step = 1; ; step++) {
    const result = stageBlocksResultSchema.parse(yield context.df.callActivityWithRetry(Activities.stageBackupBlocks, blobBackupRetry(), input));
    if (result.kind !== "staged") return result;
    staged += result.staged;
    alreadyStaged ??= result.alreadyStaged;
    leaseLost ??= result.leaseLost;
    // A step that sent nothing while blocks remain would loop for ever; it cannot happen with a positive step time.
    if (result.remaining > 0 && result.staged === 0) throw new Error(`a copy step staged no block while ${result.remaining} remain`);
    if (result.remaining === 0 || step >= COPY_STEPS_PER_MONITOR) {
      const sum: StageBlocksResult = { kind: "staged", staged, alreadyStaged: alreadyStaged ?? 0, remaining: result.remaining, ...(leaseLost !== undefined && { leaseLost }) };
      return sum;
    }
  }
};

registerOrchestrator(Orchestrators.blobCopySteps, blobCopyStepsOrchestrator);
