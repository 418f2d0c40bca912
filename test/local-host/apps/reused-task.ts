/**
 * A small app for the "task yielded again" conformance test: the renew-while-copying monitor that yields an already
 * scheduled copy task inside a new Task.any on every renew interval. The copy activity waits until the test lets it
 * finish, so the test decides the order of events.
 */
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import * as df from "durable-functions";

export const RENEW_EVERY_MS = 30_000;

/** Each call of the gated copy, in order: the test resolves `finish` to let that call return. */
export const copies: { finish: () => void }[] = [];

df.app.activity("GatedCopy", {
  handler: async () => {
    await new Promise<void>((finish) => copies.push({ finish }));
    return { copied: true };
  },
});
df.app.activity("Renew", { handler: () => ({ renewed: true }) });
df.app.activity("Verify", { handler: () => ({ kind: "verified" }) });

const renewWhileCopying: OrchestrationHandler = function* (context: OrchestrationContext) {
  const copy = context.df.callActivityWithRetry("GatedCopy", new df.RetryOptions(1000, 3), null);
  for (;;) {
    const timer = context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + RENEW_EVERY_MS));
    const winner: unknown = yield context.df.Task.any([copy, timer]);
    if (winner === copy) {
      timer.cancel();
      break;
    }
    yield context.df.callActivity("Renew", null);
  }
  const verified = (yield context.df.callActivity("Verify", null)) as { kind?: string } | undefined;
  if (verified?.kind !== "verified") throw new Error(`Verify returned ${JSON.stringify(verified) ?? "undefined"}`);
  return "copied";
};
df.app.orchestration("RenewWhileCopying", renewWhileCopying);
