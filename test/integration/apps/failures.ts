/**
 * A small app for the failure-description tests, registered with the product's own `registerActivity` and
 * `registerOrchestrator`: an activity that reads a blob's properties (a HEAD) through the connection in SourceStorage,
 * and orchestrators that fail on an activity's failure or on their own input validation.
 */
import { BlobServiceClient } from "@azure/storage-blob";
import type { OrchestrationContext } from "durable-functions";
import { z } from "zod";

import { registerActivity } from "../../../src/durable/register-activity";
import { registerOrchestrator } from "../../../src/durable/register-orchestrator";

const blobInput = z.object({ container: z.string(), blob: z.string() });

registerActivity("HeadBlob", () => {
  // Two quick SDK tries instead of the default four over 16 s: the test is about the description, not the retries.
  const service = BlobServiceClient.fromConnectionString(process.env.SourceStorage ?? "", { retryOptions: { maxTries: 2, retryDelayInMs: 5 } });
  return async (raw: unknown) => {
    const input = blobInput.parse(raw);
    return (await service.getContainerClient(input.container).getBlobClient(input.blob).getProperties()).etag;
  };
});

registerOrchestrator("HeadBlobOrchestrator", function* (context: OrchestrationContext) {
  return (yield context.df.callActivity("HeadBlob", context.df.getInput())) as unknown;
});

registerOrchestrator("StrictInputOrchestrator", function* (context: OrchestrationContext) {
  const input = blobInput.strict().parse(context.df.getInput());
  return (yield context.df.callActivity("HeadBlob", input)) as unknown;
});
