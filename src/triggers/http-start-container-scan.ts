/**
 * POST /api/containers/{container}/backup — the producer pipeline's last step. Validates the route and the optional
 * body `{ prefix?, dryRun? }`, checks the container against the settings (CONTAINERS, EXCLUDE_CONTAINERS, reserved
 * names, BACKUP_CONTAINER_TEMPLATE), starts the container scan or joins the one running
 * (src/durable/container-scan-instance.ts), and answers `202` with the app's status URL (src/durable/status-response.ts).
 * A start the running scan cannot cover (narrower prefix there, or a dry run there and a real scan here) gets 409.
 */
import { randomUUID } from "node:crypto";

import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { z } from "zod";

import { backupTargetOf, refusalHttpStatus } from "../domain/container-policy";
import { type ContainerScanInput, coveringPass } from "../domain/container-scan";
import { httpError } from "../domain/http-error";
import { blobNameSchema } from "../domain/name-schemas";
import { scanInstanceId, startContainerScanInstance } from "../durable/container-scan-instance";
import { acceptedResponse } from "../durable/status-response";
import { Triggers } from "../function-names";
import { readJsonBody } from "../http/request-body";
import { runtime } from "../runtime";

export const containerScanBodySchema = z.strictObject({
  prefix: blobNameSchema.optional(),
  dryRun: z.boolean().optional(),
});

export async function startContainerScan(
  request: HttpRequest,
  client: df.DurableClient,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const container = request.params.container ?? "";
  const { settings } = runtime();
  const target = backupTargetOf(settings, container);
  if (!target.ok) return httpError(refusalHttpStatus(target.code), target.code, target.reason);
  const body = await readJsonBody(request, containerScanBodySchema);
  if (!body.ok) return body.response;

  const input: ContainerScanInput & { startId: string } = {
    container,
    ...(body.value.prefix !== undefined && { prefix: body.value.prefix }),
    dryRun: body.value.dryRun ?? false,
    snapshots: settings.snapshots,
    startId: randomUUID(),
  };
  const instanceId = scanInstanceId(container);
  const outcome = await startContainerScanInstance(client, input);
  if (outcome.kind === "busy") {
    return httpError(
      409,
      "ScanInProgress",
      `a scan of ${JSON.stringify(container)} with other options (prefix or dry run), or in the last pass it offers to joining starts, is ${outcome.runtimeStatus}; start again when ${instanceId} has finished`,
    );
  }
  context.log(
    outcome.kind === "started" ? `started ${instanceId}${input.dryRun === true ? " (dry run)" : ""}` : `scan of ${JSON.stringify(container)} already running; joined ${instanceId}`,
  );
  // A joined caller waits for the pass that covers its request, not for the passes later starts add.
  const pass = outcome.kind === "joined" && input.dryRun !== true ? coveringPass(outcome.customStatus) : undefined;
  return acceptedResponse(request, instanceId, pass);
}

df.app.client.http(Triggers.httpStartContainerScan, {
  route: "containers/{container}/backup",
  methods: ["POST"],
  authLevel: "function",
  handler: startContainerScan,
});
