/**
 * A small app for the local host's limit tests: an activity that outlives functionTimeout, orchestrations that
 * schedule a chosen number of actions, set a custom status of a chosen size, or pass a large payload.
 */
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import * as df from "durable-functions";

/** Sleeps `ms`, then answers: long enough to pass a small functionTimeout. */
df.app.activity("Sleep", {
  handler: async (ms: number) => {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return "woke up";
  },
});

df.app.activity("Noop", { handler: (n: number) => n });

/** A string of `length` characters, and its length back: a large activity input and output. */
df.app.activity("Echo", { handler: (text: string) => ({ text, length: text.length }) });

/** Calls Sleep once and reports how it ended, so the test sees what the orchestrator saw. */
const sleepy: OrchestrationHandler = function* (context: OrchestrationContext) {
  try {
    return { result: (yield context.df.callActivity("Sleep", context.df.getInput<number>())) as string };
  } catch (err) {
    return { error: (err as Error).message };
  }
};
df.app.orchestration("Sleepy", sleepy);

/** Schedules `count` activities in one Task.all, then (when `rounds` > 1) continues as new with one round less. */
const fanOut: OrchestrationHandler = function* (context: OrchestrationContext) {
  const { count, rounds } = context.df.getInput<{ count: number; rounds: number }>();
  const results = (yield context.df.Task.all(Array.from({ length: count }, (_, i) => context.df.callActivity("Noop", i)))) as number[];
  if (rounds > 1) {
    context.df.continueAsNew({ count, rounds: rounds - 1 });
    return undefined;
  }
  return results.length;
};
df.app.orchestration("ActionsFanOut", fanOut);

/** Sets a custom status string of `length` characters, then waits on one activity. */
const bigStatus: OrchestrationHandler = function* (context: OrchestrationContext) {
  context.df.setCustomStatus("s".repeat(context.df.getInput<number>()));
  yield context.df.callActivity("Noop", 1);
  return "done";
};
df.app.orchestration("BigStatus", bigStatus);

/** Sends `length` characters to an activity and returns what came back. */
const bigPayload: OrchestrationHandler = function* (context: OrchestrationContext) {
  const echoed = (yield context.df.callActivity("Echo", "p".repeat(context.df.getInput<number>()))) as { text: string; length: number };
  return { length: echoed.length, intact: echoed.text === "p".repeat(echoed.length) };
};
df.app.orchestration("BigPayload", bigPayload);
