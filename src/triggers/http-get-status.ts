/**
 * GET /api/status/{instanceId} — where every starter's `Location` points. `202` with `Location` and `Retry-After` while
 * the instance runs, `200` with `runtimeStatus`, `output` and `customStatus` once it has finished (Completed, Failed or
 * Terminated: check `runtimeStatus`), so an ADF Web activity's async pattern works unchanged. Only the kinds of instance
 * a caller starts can be read here, never their input or history (src/durable/status-response.ts says why); any other
 * id, and an unknown one, is `404`.
 */
import type { HttpRequest, HttpResponseInit } from "@azure/functions";
import * as df from "durable-functions";

import { httpError } from "../domain/http-error";
import { instanceStatus, isActive } from "../durable/instances";
import { isCallerVisibleInstance, RETRY_AFTER_SECONDS, STATUS_ROUTE, statusUrl } from "../durable/status-response";
import { Triggers } from "../function-names";

export async function getInstanceStatus(request: HttpRequest, client: df.DurableClient): Promise<HttpResponseInit> {
  const instanceId = request.params.instanceId ?? "";
  // The id is not echoed: it is the caller's text, and an answer should not reflect it.
  const notFound = httpError(404, "InstanceNotFound", "no scan, reconciliation, restore or retention instance has this id");
  if (!isCallerVisibleInstance(instanceId)) return notFound;
  const status = await instanceStatus(client, instanceId);
  if (status === undefined) return notFound;
  const body = {
    instanceId,
    name: status.name,
    runtimeStatus: status.runtimeStatus,
    createdTime: status.createdTime,
    lastUpdatedTime: status.lastUpdatedTime,
    customStatus: status.customStatus ?? null,
    output: status.output ?? null,
  };
  if (isActive(status.runtimeStatus)) {
    const location = statusUrl(request, instanceId);
    return { status: 202, headers: { Location: location, "Retry-After": String(RETRY_AFTER_SECONDS) }, jsonBody: body };
  }
  return { status: 200, jsonBody: body };
}

df.app.client.http(Triggers.httpGetStatus, {
  route: STATUS_ROUTE,
  methods: ["GET"],
  authLevel: "function",
  handler: getInstanceStatus,
});
