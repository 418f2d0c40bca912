/**
 * `npm run bench -- host [--calls N] [--batch N]`: what the local Durable host costs. An orchestration makes N activity
 * calls (default 10,000) in Task.all batches (default 100); the same-run baseline calls the activity's handler directly
 * in the same batches. Reports the overhead per activity call and per replayed history event.
 */
import path from "node:path";

import { startLocalHost } from "../local-host";
// After ../local-host (import order), which installs @azure/functions-core, so the app registers its functions.
import { double } from "./_host-app";
import { option, peakRssMiB, printTable, type Row, timed } from "./report";

export async function run(args: readonly string[]): Promise<void> {
  const calls = option(args, "calls", 10_000);
  const size = option(args, "batch", 100);
  const batches = Math.ceil(calls / size);
  const host = await startLocalHost({ functions: [path.join(__dirname, "_host-app.js")], log: () => undefined });
  try {
    const expected = (batches * size * (batches * size - 1)) / 2 * 2;

    const baseline = await timed(async () => {
      let sum = 0;
      for (let b = 0; b < batches; b++) {
        const results = await Promise.all(Array.from({ length: size }, (_, i) => Promise.resolve(double(b * size + i))));
        sum += results.reduce((x, y) => x + y, 0);
      }
      return sum;
    });
    if (baseline.value !== expected) throw new Error("baseline sum mismatch");

    const measure = async (count: number, batchSize: number): Promise<Row> => {
      const before = host.stats();
      const orchestration = await timed(async () => {
        const id = await host.client.startNew("BenchBatches", { input: { batches: count, size: batchSize } });
        return host.client.waitForCompletion(id, { timeoutMs: 600_000 });
      });
      if (orchestration.value.output !== expected) throw new Error(`orchestration output ${String(orchestration.value.output)} ≠ ${expected}`);
      const after = host.stats();
      const replayed = after.replayedEvents - before.replayedEvents;
      return {
        name: `orchestration ${count}×${batchSize} (Task.all)`,
        ms: orchestration.ms,
        extra: {
          "µs/activity call": (((orchestration.ms - baseline.ms) * 1000) / total).toFixed(1),
          episodes: after.episodes - before.episodes,
          "events replayed": replayed,
          "µs/replayed event": (((after.episodeMs - before.episodeMs) * 1000) / replayed).toFixed(2),
          "peak RSS MiB": peakRssMiB(),
        },
      };
    };
    const total = batches * size;
    // One batch: almost no replay, so its µs/activity call is the invocation and scheduling cost alone.
    const rows: Row[] = [await measure(1, total), await measure(batches, size)];
    printTable(`local host: ${total} activity calls`, { name: "direct handler calls", ms: baseline.ms }, rows);
    console.log(
      `\nµs/activity call = (orchestration − baseline) / calls, all host work included (invocation through the programming model,` +
        ` scheduling, replay). µs/replayed event = time inside orchestrator episodes / history events fed to them.`,
    );
  } finally {
    await host.stop();
  }
}
