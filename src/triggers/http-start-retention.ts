/**
 * POST /api/retention — starts a retention run on demand. Optional body `{ containers?, dryRun? }`. Containers named
 * must be ones the settings allow (a request narrows the selection, never widens it: 403 otherwise). One run at a
 * time (instance id `retention`): a start while one runs answers 409 with its status URL.
 */
import { randomUUID } from "node:crypto";

import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { z } from "zod";

import { backupTargetOf } from "../domain/container-policy";
import { httpError } from "../domain/http-error";
import { containerNameSchema } from "../domain/name-schemas";
import { startOrJoin } from "../durable/instances";
import { acceptedResponse, statusUrl } from "../durable/status-response";
import { Orchestrators, Triggers } from "../function-names";
import { readJsonBody } from "../http/request-body";
import { RETENTION_INSTANCE_ID, retentionInput } from "../orchestrators/retention";
import { runtime } from "../runtime";

export const retentionBodySchema = z.strictObject({
  containers: z.array(containerNameSchema).min(1, "must name at least one container (omit it for every container)").max(5000).optional(),
  dryRun: z.boolean().optional(),
});

export async function startRetention(request: HttpRequest, client: df.DurableClient, context: InvocationContext): Promise<HttpResponseInit> {
  const body = await readJsonBody(request, retentionBodySchema);
  if (!body.ok) return body.response;
  const { settings } = runtime();
  for (const container of body.value.containers ?? []) {
    const target = backupTargetOf(settings, container);
    if (!target.ok) return httpError(target.code === "InvalidBackupContainerName" ? 400 : 403, target.code, target.reason);
  }
  const input = retentionInput(body.value, "http", randomUUID());
  // A dry run never joins a run that deletes, nor the other way round: one run at a time, whatever it asked for.
  const outcome = await startOrJoin(client, { orchestrator: Orchestrators.retention, instanceId: RETENTION_INSTANCE_ID, input, covers: () => false });
  if (outcome.kind !== "started") {
    context.log(`retention already ${outcome.runtimeStatus}; not starting another`);
    const location = statusUrl(request, RETENTION_INSTANCE_ID);
    return {
      status: 409,
      headers: { Location: location },
      jsonBody: {
        error: { code: "RetentionRunning", message: `a retention run is already ${outcome.runtimeStatus}; follow its status URL` },
        id: RETENTION_INSTANCE_ID,
        statusQueryGetUri: location,
      },
    };
  }
  context.log(`started retention${input.dryRun === true ? " (dry run)" : ""}`);
  return acceptedResponse(request, RETENTION_INSTANCE_ID);
}

df.app.client.http(Triggers.httpStartRetention, {
  route: "retention",
  methods: ["POST"],
  authLevel: "function",
  handler: startRetention,
});
