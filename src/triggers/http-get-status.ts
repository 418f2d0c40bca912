/**
 * GET /api/status/{instanceId} — where every starter's `Location` points. `202` with `Location` and `Retry-After` while
 * the instance runs, `200` with `runtimeStatus`, `output` and `customStatus` once it has finished (Completed, Failed or
 * Terminated: check `runtimeStatus`), so an ADF Web activity's async pattern works unchanged. Only the kinds of instance
 * a caller starts can be read here, never their input or history (src/durable/status-response.ts says why); any other
 * id, and an unknown one, is `404`.
 */
import type { HttpRequest, HttpResponseInit } from "@azure/functions";
import * as df from "durable-functions";
import { z } from "zod";

import { httpError } from "../domain/http-error";
import { instanceStatus, isActive } from "../durable/instances";
import { isCallerVisibleInstance, RETRY_AFTER_SECONDS, STATUS_ROUTE, statusUrl } from "../durable/status-response";
import { Triggers } from "../function-names";

export async function getInstanceStatus(request: HttpRequest, client: df.DurableClient): Promise<HttpResponseInit> {
  const instanceId = request.params.instanceId ?? "";
  // The id is not echoed: it is the caller's text, and an answer should not reflect it.
  const notFound = httpError(404, "InstanceNotFound", "no scan, reconciliation, restore or retention instance has this id");
  if (!isCallerVisibleInstance(instanceId)) return notFound;
  const pass = passAsked(request);
  if (pass === "invalid") return httpError(400, "InvalidQuery", "pass must be a whole number from 1 to 1000, and only for a scan");
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
  if (pass !== undefined) {
    const done = passesDone(status.customStatus, status.output);
    // Finished, or the pass covering this caller is: its request is done, whatever later joins asked for.
    if (!isActive(status.runtimeStatus) || done >= pass) {
      if (status.runtimeStatus === df.OrchestrationRuntimeStatus.Completed && done < pass) {
        return httpError(409, "ScanNotCovered", `the scan ended after ${done} pass(es), before pass ${pass} that covers this request; start it again`);
      }
      return { status: 200, jsonBody: { ...body, coveredByPass: pass, passesDone: done } };
    }
  }
  if (isActive(status.runtimeStatus)) {
    const location = statusUrl(request, instanceId, pass);
    return { status: 202, headers: { Location: location, "Retry-After": String(RETRY_AFTER_SECONDS) }, jsonBody: body };
  }
  return { status: 200, jsonBody: body };
}

/** `?pass=n` (scans only): absent, a pass number, or invalid. */
function passAsked(request: HttpRequest): number | undefined | "invalid" {
  const raw = request.query.get("pass");
  if (raw === null) return undefined;
  if (!/^[1-9][0-9]{0,3}$/.test(raw) || Number(raw) > 1000 || !(request.params.instanceId ?? "").startsWith("scan-")) return "invalid";
  return Number(raw);
}

/** Passes a scan has finished: from its status while it runs, from its output once it has completed. */
function passesDone(customStatus: unknown, output: unknown): number {
  const fromOutput = z.object({ passes: z.number().int() }).safeParse(output);
  if (fromOutput.success) return fromOutput.data.passes;
  const fromStatus = z.object({ passesDone: z.number().int() }).safeParse(customStatus);
  return fromStatus.success ? fromStatus.data.passesDone : 0;
}

df.app.client.http(Triggers.httpGetStatus, {
  route: STATUS_ROUTE,
  methods: ["GET"],
  authLevel: "function",
  handler: getInstanceStatus,
});
