/**
 * The container scan's instance rules for its starter: one instance per container (`scan-<container>`); a start while
 * it runs joins it when the running scan covers the request, and asks it for one more pass, since the running pass may
 * already be past the joining caller's blobs; otherwise the start is busy (the caller gets 409). A scan offers passes
 * up to its `maxPasses`: a start that would need a later one is busy too, so a scan joined faster than it can list
 * still completes. A joined start learns which pass covers it (`coveringPass`), and its status URL says so.
 */
import type * as df from "durable-functions";

import { type ContainerScanInput, containerScanInputSchema, coveringPass } from "../domain/container-scan";
import { Events, Orchestrators } from "../function-names";
import { type StartInput, startOrJoin, type StartOutcome } from "./instances";

export function scanInstanceId(container: string): string {
  return `scan-${container}`;
}

/** A running scan covers a request when it writes (or the request is a dry run too) and its prefix contains the request's. */
export function scanCovers(runningInput: unknown, request: ContainerScanInput): boolean {
  const parsed = containerScanInputSchema.safeParse(runningInput);
  if (!parsed.success) return false;
  const running = parsed.data;
  if (running.container !== request.container) return false;
  if (running.dryRun && request.dryRun !== true) return false;
  return running.prefix === undefined || (request.prefix ?? "").startsWith(running.prefix);
}

/** A running scan can still take a joining start: the pass that would cover it is one the scan offers. */
export function scanHasPassFor(runningInput: unknown, customStatus: unknown): boolean {
  const parsed = containerScanInputSchema.safeParse(runningInput);
  if (!parsed.success) return false;
  // A dry run makes no extra pass: whatever it is listing, it covers a joining dry run.
  return parsed.data.dryRun || coveringPass(customStatus) <= parsed.data.maxPasses;
}

export function startContainerScanInstance(client: df.DurableClient, input: ContainerScanInput & StartInput): Promise<StartOutcome> {
  const instanceId = scanInstanceId(input.container);
  return startOrJoin(client, {
    orchestrator: Orchestrators.containerScan,
    instanceId,
    input,
    covers: (running, state) => scanCovers(running, input) && scanHasPassFor(running, state.customStatus),
    // A dry run has nothing to cover for anyone: no extra pass.
    ...(input.dryRun !== true && {
      join: () => client.raiseEvent(instanceId, Events.rescanContainer, { requestedAt: new Date().toISOString() }),
    }),
  });
}
