/**
 * POST /api/containers/{container}/backup — the producer pipeline's last step. Validates the route and the optional
 * body `{ prefix?, dryRun? }`, starts the container scan, and answers `202` with the app's status URL
 * (src/durable/status-response.ts).
 *
 * One scan per container at a time: the instance id is `scan-<container>`. A start while that scan is Pending or
 * Running joins it (the same status URL), so two starts never snapshot or request the same version twice;
 * it raises `Events.rescanContainer`, so the scan makes one more pass before it reports Completed and the joined
 * caller's blobs are covered too. A start the running scan cannot cover (narrower prefix there, or a dry run there
 * and a real scan here) gets 409. A finished instance (Completed, Failed, Terminated) is replaced by the new scan.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { z } from "zod";

import { type ContainerScanInput, containerScanInputSchema } from "../domain/container-scan";
import { httpError, parseJsonBody } from "../domain/http-error";
import { backupContainerName, CONTAINER_NAME_RULE, isValidContainerName } from "../domain/names";
import { instanceState, isActive } from "../durable/instances";
import { acceptedResponse } from "../durable/status-response";
import { Events, Orchestrators, Triggers } from "../function-names";
import { runtime } from "../runtime";

export const containerScanBodySchema = z.strictObject({
  prefix: z.string().min(1, "must not be empty").max(1024, "must be at most 1024 characters").optional(),
  dryRun: z.boolean().optional(),
});

export function scanInstanceId(container: string): string {
  return `scan-${container}`;
}

interface RunningScan {
  readonly runtimeStatus: string;
  /** The running scan's input, when it parses. */
  readonly input?: ContainerScanInput;
}

/** The scan instance's status and input, or undefined when there is no such instance. */
async function statusOf(client: df.DurableClient, instanceId: string): Promise<RunningScan | undefined> {
  const state = await instanceState(client, instanceId, { showInput: true });
  if (state === undefined) return undefined;
  const input = containerScanInputSchema.safeParse(state.input);
  return { runtimeStatus: state.runtimeStatus, ...(input.success && { input: input.data }) };
}

const isRunning = (scan: RunningScan | undefined): scan is RunningScan => isActive(scan?.runtimeStatus);

/** A running scan covers a request when it writes (or the request is a dry run too) and its prefix contains the request's. */
function covers(running: ContainerScanInput | undefined, request: ContainerScanInput): boolean {
  if (running === undefined) return false;
  if (running.dryRun === true && request.dryRun !== true) return false;
  return running.prefix === undefined || (request.prefix ?? "").startsWith(running.prefix);
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
  const { settings } = runtime();
  const backupContainer = backupContainerName(settings.backupContainerTemplate, container);
  const input: ContainerScanInput = {
    container,
    ...(body.value.prefix !== undefined && { prefix: body.value.prefix }),
    dryRun: body.value.dryRun ?? false,
    snapshots: settings.snapshots,
    ...(isValidContainerName(backupContainer) && { backupContainer }),
  };
  const running = await statusOf(client, instanceId);
  if (isRunning(running)) {
    if (!covers(running.input, input)) {
      return httpError(
        409,
        "ScanInProgress",
        `a scan of "${container}" with other options (prefix or dry run) is running; start again when ${instanceId} has finished`,
      );
    }
    // The running scan may already be past this caller's blobs: ask for one more pass, which ends before Completed.
    if (input.dryRun !== true) await client.raiseEvent(instanceId, Events.rescanContainer, { requestedAt: new Date().toISOString() });
    if (isRunning(await statusOf(client, instanceId))) {
      context.log(`scan of ${container} already running; joined ${instanceId}`);
      return acceptedResponse(request, instanceId);
    }
    // It finished before it could take the request: start a fresh scan below.
  }
  try {
    await client.startNew(Orchestrators.containerScan, { instanceId, input });
  } catch (err) {
    // Another start won the race for the id after our status check; its scan began after this request arrived, so it
    // covers this caller's blobs when its options do.
    const winner = await statusOf(client, instanceId);
    if (isRunning(winner) && covers(winner.input, input)) return acceptedResponse(request, instanceId);
    throw err;
  }
  context.log(`started ${instanceId}${input.dryRun === true ? " (dry run)" : ""}`);
  return acceptedResponse(request, instanceId);
}

df.app.client.http(Triggers.httpStartContainerScan, {
  route: "containers/{container}/backup",
  methods: ["POST"],
  authLevel: "function",
  handler: startContainerScan,
});
