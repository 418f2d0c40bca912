/** The app the host benchmark runs: a trivial activity and an orchestrator that calls it in Task.all batches. */
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import * as df from "durable-functions";

export const double = (n: number): number => n * 2;

df.app.activity("BenchDouble", { handler: double });

const batches: OrchestrationHandler = function* (context: OrchestrationContext) {
  const { batches: count, size } = context.df.getInput<{ batches: number; size: number }>();
  let sum = 0;
  for (let b = 0; b < count; b++) {
    const results = (yield context.df.Task.all(Array.from({ length: size }, (_, i) => context.df.callActivity("BenchDouble", b * size + i)))) as number[];
    sum += results.reduce((x, y) => x + y, 0);
  }
  return sum;
};
df.app.orchestration("BenchBatches", batches);
