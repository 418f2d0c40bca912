/**
 * POST /api/restore — starts a restore: `{ container, prefix?, blobs?, asOf?, target?: { account?, container?, prefix? },
 * overwrite?, dryRun? }` (src/domain/restore.ts). Validates strictly (400 with a JSON error), then starts the restore
 * and answers `202` with the app's status URL.
 *
 * One restore at a time per target container: the instance id is `restore-<target account>-<target container>`, so
 * a second start into the same target while one runs answers 409 with the running restore's status URL.
 */
import { randomUUID } from "node:crypto";

import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import * as df from "durable-functions";

import { backupTargetOf, refusalHttpStatus } from "../domain/container-policy";
import { httpError } from "../domain/http-error";
import { planRestore, restoreBodySchema, restoreInstanceId } from "../domain/restore";
import { startOrJoin } from "../durable/instances";
import { acceptedResponse, statusUrl } from "../durable/status-response";
import { Orchestrators, Triggers } from "../function-names";
import { readJsonBody } from "../http/request-body";
import { restoreInput } from "../orchestrators/restore";
import { runtime } from "../runtime";
import { targetAccount } from "../storage/restore-batch";

export async function startRestore(request: HttpRequest, client: df.DurableClient, context: InvocationContext): Promise<HttpResponseInit> {
  const body = await readJsonBody(request, restoreBodySchema);
  if (!body.ok) return body.response;
  const { settings, clients } = runtime();
  const planned = planRestore(body.value, new Date(), clients.restore !== undefined);
  if (!planned.ok) return httpError(400, planned.code, planned.message);
  const { plan } = planned;
  const source = backupTargetOf(settings, plan.container);
  if (!source.ok) return httpError(refusalHttpStatus(source.code), source.code, source.reason);
  const target = targetAccount(clients, plan.target.account).accountName;
  const instanceId = restoreInstanceId(target, plan.target.container);
  const input = restoreInput(plan, settings, { source: clients.source.accountName, backup: clients.backup.accountName, target }, randomUUID());
  // One restore per target container: a start never joins a running one.
  const start = await startOrJoin(client, { orchestrator: Orchestrators.restore, instanceId, input, covers: () => false });
  if (start.kind !== "started") {
    const location = statusUrl(request, instanceId);
    return {
      status: 409,
      headers: { Location: location },
      jsonBody: {
        error: { code: "RestoreInProgress", message: `a restore into ${target}/${plan.target.container} is already ${start.runtimeStatus}; follow its status URL` },
        id: instanceId,
        statusQueryGetUri: location,
      },
    };
  }
  context.log(`started ${instanceId}: ${plan.container} as of ${plan.asOf} into ${target}/${plan.target.container}${plan.dryRun ? " (dry run)" : ""}`);
  return acceptedResponse(request, instanceId);
}

df.app.client.http(Triggers.httpStartRestore, {
  route: "restore",
  methods: ["POST"],
  authLevel: "function",
  handler: startRestore,
});
