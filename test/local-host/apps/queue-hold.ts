/** A queue-triggered function that runs until the test releases it (loaded with Azurite settings applied). */
import { app, type InvocationContext } from "@azure/functions";

let release: () => void = () => undefined;
const released = new Promise<void>((resolve) => (release = resolve));

export const hold = { dequeueCounts: [] as unknown[], release: () => release() };

app.storageQueue("QueueHold", {
  queueName: "%HOLD_QUEUE%",
  connection: "AzureWebJobsStorage",
  handler: async (_message: unknown, context: InvocationContext) => {
    hold.dequeueCounts.push(context.triggerMetadata?.dequeueCount);
    await released;
  },
});
