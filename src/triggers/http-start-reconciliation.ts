/**
 * POST /api/reconcile — starts the reconciliation of the lake on demand. Optional body
 * `{ containers?, prefix?, dryRun? }`. Only one reconciliation runs at a time (instance id `reconciliation`): a start
 * while it runs answers 409 with the running instance's status URL, and never starts a second scan of the lake.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { z } from "zod";

import { parseJsonBody } from "../domain/http-error";
import { CONTAINER_NAME_RULE, isValidContainerName } from "../domain/names";
import { startUnlessActive } from "../durable/instances";
import { acceptedResponse, statusUrl } from "../durable/status-response";
import { Orchestrators, Triggers } from "../function-names";
import { RECONCILIATION_INSTANCE_ID, reconciliationInput } from "../orchestrators/reconciliation";
import { runtime } from "../runtime";

export const reconcileBodySchema = z.strictObject({
  containers: z
    .array(z.string().refine(isValidContainerName, `each container name must be ${CONTAINER_NAME_RULE}`))
    .min(1, "must name at least one container (omit it for every container)")
    .max(5000)
    .optional(),
  prefix: z.string().min(1, "must not be empty").max(1024, "must be at most 1024 characters").optional(),
  dryRun: z.boolean().optional(),
});

export async function startReconciliation(
  request: HttpRequest,
  client: df.DurableClient,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const body = parseJsonBody(await request.text(), reconcileBodySchema);
  if (!body.ok) return body.response;
  const { settings, clients } = runtime();
  const input = reconciliationInput(settings, { source: clients.source.accountName, backup: clients.backup.accountName }, body.value, "http");
  const start = await startUnlessActive(client, Orchestrators.reconciliation, RECONCILIATION_INSTANCE_ID, input);
  if (!start.started) {
    context.log(`reconciliation already ${start.runtimeStatus}; not starting another`);
    const location = statusUrl(request, RECONCILIATION_INSTANCE_ID);
    return {
      status: 409,
      headers: { Location: location },
      jsonBody: {
        error: { code: "ReconciliationRunning", message: `a reconciliation is already ${start.runtimeStatus}; follow its status URL` },
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
