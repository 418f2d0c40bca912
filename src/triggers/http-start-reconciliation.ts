/**
 * POST /api/reconcile — starts the reconciliation of the lake on demand. Optional body
 * `{ containers?, prefix?, dryRun? }`. Containers named must be ones the settings allow (CONTAINERS,
 * EXCLUDE_CONTAINERS, reserved names): a request narrows the selection, never widens it (403 otherwise). Only one
 * reconciliation runs at a time (instance id `reconciliation`): a start while it runs answers 409 with the running
 * instance's status URL, and never starts a second scan of the lake.
 */
import { randomUUID } from "node:crypto";

import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { z } from "zod";

import { backupTargetOf, refusalHttpStatus } from "../domain/container-policy";
import { httpError } from "../domain/http-error";
import { blobNameSchema, containerNameSchema } from "../domain/name-schemas";
import { startOrJoin } from "../durable/instances";
import { acceptedResponse, statusUrl } from "../durable/status-response";
import { Orchestrators, Triggers } from "../function-names";
import { readJsonBody } from "../http/request-body";
import { RECONCILIATION_INSTANCE_ID, reconciliationInput } from "../orchestrators/reconciliation";
import { runtime } from "../runtime";

export const reconcileBodySchema = z.strictObject({
  containers: z.array(containerNameSchema).min(1, "must name at least one container (omit it for every container)").max(5000).optional(),
  prefix: blobNameSchema.optional(),
  dryRun: z.boolean().optional(),
});

export async function startReconciliation(
  request: HttpRequest,
  client: df.DurableClient,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const body = await readJsonBody(request, reconcileBodySchema);
  if (!body.ok) return body.response;
  const { settings } = runtime();
  for (const container of body.value.containers ?? []) {
    const target = backupTargetOf(settings, container);
    if (!target.ok) return httpError(refusalHttpStatus(target.code), target.code, target.reason);
  }
  const input = reconciliationInput(body.value, "http", randomUUID());
  // One reconciliation covers the whole lake: a start never joins a running one, whatever it asked for.
  const outcome = await startOrJoin(client, { orchestrator: Orchestrators.reconciliation, instanceId: RECONCILIATION_INSTANCE_ID, input, covers: () => false });
  if (outcome.kind !== "started") {
    context.log(`reconciliation already ${outcome.runtimeStatus}; not starting another`);
    const location = statusUrl(request, RECONCILIATION_INSTANCE_ID);
    return {
      status: 409,
      headers: { Location: location },
      jsonBody: {
        error: { code: "ReconciliationRunning", message: `a reconciliation is already ${outcome.runtimeStatus}; follow its status URL` },
        id: RECONCILIATION_INSTANCE_ID,
        statusQueryGetUri: location,
      },
    };
  }
  context.log(`started reconciliation${input.dryRun === true ? " (dry run)" : ""}`);
  return acceptedResponse(request, RECONCILIATION_INSTANCE_ID);
}

df.app.client.http(Triggers.httpStartReconciliation, {
  route: "reconcile",
  methods: ["POST"],
  authLevel: "function",
  handler: startReconciliation,
});
