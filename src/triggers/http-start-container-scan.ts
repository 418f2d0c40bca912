/**
 * POST /api/containers/{container}/backup — the producer pipeline's last step. Validates the route and the optional
 * body `{ prefix?, dryRun? }`, starts the container scan, and answers with the Durable check-status response.
 *
 * One scan per container at a time: the instance id is `scan-<container>`. A start while that scan is Pending or
 * Running joins it (the same check-status response), so two starts never snapshot or request the same version twice.
 * A finished instance (Completed, Failed, Terminated) is replaced by the new scan.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { z } from "zod";

import { describeError } from "../domain/errors";
import { httpError, parseJsonBody } from "../domain/http-error";
import { CONTAINER_NAME_RULE, isValidContainerName } from "../domain/names";
import { Orchestrators, Triggers } from "../function-names";
import type { ContainerScanInput } from "../orchestrators/container-scan";
import { runtime } from "../runtime";

export const containerScanBodySchema = z.strictObject({
  prefix: z.string().min(1, "must not be empty").max(1024, "must be at most 1024 characters").optional(),
  dryRun: z.boolean().optional(),
});

export function scanInstanceId(container: string): string {
  return `scan-${container}`;
}

const ACTIVE: readonly string[] = [
  df.OrchestrationRuntimeStatus.Pending,
  df.OrchestrationRuntimeStatus.Running,
  df.OrchestrationRuntimeStatus.ContinuedAsNew,
];

/** The instance's runtime status, or undefined when there is no such instance. */
async function statusOf(client: df.DurableClient, instanceId: string): Promise<string | undefined> {
  try {
    const status = await client.getStatus(instanceId, { showInput: false });
    return status.runtimeStatus;
  } catch (err) {
    // The client reports an unknown instance by throwing on the extension's 404.
    if (/\b404\b/.test(describeError(err))) return undefined;
    throw err;
  }
}

export async function startContainerScan(
  request: HttpRequest,
  client: df.DurableClient,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const container = request.params.container ?? "";
  if (!isValidContainerName(container)) {
    return httpError(400, "InvalidContainerName", `"${container}" is not a valid container name: ${CONTAINER_NAME_RULE}`);
  }
  const body = parseJsonBody(await request.text(), containerScanBodySchema);
  if (!body.ok) return body.response;

  const instanceId = scanInstanceId(container);
  if (ACTIVE.includes((await statusOf(client, instanceId)) ?? "")) {
    context.log(`scan of ${container} already running; joining ${instanceId}`);
    return client.createCheckStatusResponse(request, instanceId);
  }
  const { settings } = runtime();
  const input: ContainerScanInput = {
    container,
    ...(body.value.prefix !== undefined && { prefix: body.value.prefix }),
    dryRun: body.value.dryRun ?? false,
    snapshots: settings.snapshots,
  };
  try {
    await client.startNew(Orchestrators.containerScan, { instanceId, input });
  } catch (err) {
    // Another start won the race for the same id between our status check and startNew: join it.
    if (ACTIVE.includes((await statusOf(client, instanceId)) ?? "")) return client.createCheckStatusResponse(request, instanceId);
    throw err;
  }
  context.log(`started ${instanceId}${input.dryRun === true ? " (dry run)" : ""}`);
  return client.createCheckStatusResponse(request, instanceId);
}

df.app.client.http(Triggers.httpStartContainerScan, {
  route: "containers/{container}/backup",
  methods: ["POST"],
  authLevel: "function",
  handler: startContainerScan,
});
