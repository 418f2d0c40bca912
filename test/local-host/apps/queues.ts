/** Queue-triggered functions for the local host's queue tests (loaded with Azurite settings applied). */
import { app, type InvocationContext } from "@azure/functions";

export interface SeenMessage {
  readonly body: unknown;
  readonly dequeueCount: unknown;
  readonly id: unknown;
}

export const seen: { ok: SeenMessage[]; failing: SeenMessage[] } = { ok: [], failing: [] };

function record(list: SeenMessage[], body: unknown, context: InvocationContext): void {
  list.push({ body, dequeueCount: context.triggerMetadata?.dequeueCount, id: context.triggerMetadata?.id });
}

app.storageQueue("QueueOk", {
  queueName: "%OK_QUEUE%",
  connection: "AzureWebJobsStorage",
  handler: (message: unknown, context: InvocationContext) => record(seen.ok, message, context),
});

app.storageQueue("QueueFailing", {
  queueName: "%FAILING_QUEUE%",
  connection: "AzureWebJobsStorage",
  handler: (message: unknown, context: InvocationContext) => {
    record(seen.failing, message, context);
    throw new Error("cannot handle this message");
  },
});
