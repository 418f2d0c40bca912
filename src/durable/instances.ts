/**
 * Durable client helpers for starters that keep one instance per id: the instance's status (one way to tell a missing
 * instance), "start unless it is already running" (a scan per container, one reconciliation), and the blob backup
 * queue trigger's "start, restart or leave alone".
 */
import * as df from "durable-functions";

import type { BlobBackupInput } from "../domain/blob-backup";
import { existingInstanceAction } from "../domain/blob-backup-instance";
import { describeError } from "../domain/errors";
import { Orchestrators } from "../function-names";

const ACTIVE: ReadonlySet<string> = new Set([
  df.OrchestrationRuntimeStatus.Pending,
  df.OrchestrationRuntimeStatus.Running,
  df.OrchestrationRuntimeStatus.ContinuedAsNew,
  df.OrchestrationRuntimeStatus.Suspended,
]);

export function isActive(runtimeStatus: string | undefined): boolean {
  return runtimeStatus !== undefined && ACTIVE.has(runtimeStatus);
}

export interface InstanceState {
  readonly runtimeStatus: string;
  readonly input: unknown;
}

/**
 * The instance's status without its history (and without its input unless asked for), or undefined when there is no
 * such instance.
 */
export async function instanceStatus(
  client: df.DurableClient,
  instanceId: string,
  options: { readonly showInput?: boolean } = {},
): Promise<df.DurableOrchestrationStatus | undefined> {
  try {
    return await client.getStatus(instanceId, { showHistory: false, showHistoryOutput: false, showInput: options.showInput ?? false });
  } catch (err) {
    // The client reports an unknown instance by throwing on the extension's 404.
    if (/\b404\b/.test(describeError(err))) return undefined;
    throw err;
  }
}

/** The instance's runtime status (and input, when asked for), or undefined when there is no such instance. */
export async function instanceState(
  client: df.DurableClient,
  instanceId: string,
  options: { readonly showInput?: boolean } = {},
): Promise<InstanceState | undefined> {
  const status = await instanceStatus(client, instanceId, options);
  return status === undefined ? undefined : { runtimeStatus: status.runtimeStatus, input: status.input };
}

async function runtimeStatusOf(client: df.DurableClient, instanceId: string): Promise<string | undefined> {
  return (await instanceState(client, instanceId))?.runtimeStatus;
}

export type SingletonStart = { readonly started: true } | { readonly started: false; readonly runtimeStatus: string };

/**
 * Starts `orchestrator` as `instanceId` unless that instance is active. A finished instance (Completed, Failed,
 * Terminated) is replaced. host.json sets `overridableExistingInstanceStates: NonRunningStates`, so two starters
 * racing past the status check cannot both start: the loser's startNew fails and it reports the winner as running.
 */
export async function startUnlessActive(
  client: df.DurableClient,
  orchestrator: string,
  instanceId: string,
  input: unknown,
): Promise<SingletonStart> {
  const before = await runtimeStatusOf(client, instanceId);
  if (before !== undefined && isActive(before)) return { started: false, runtimeStatus: before };
  try {
    await client.startNew(orchestrator, { instanceId, input });
    return { started: true };
  } catch (err) {
    const after = await runtimeStatusOf(client, instanceId);
    if (after !== undefined && isActive(after)) return { started: false, runtimeStatus: after };
    throw err;
  }
}

export type BlobBackupStart =
  | { readonly action: "started" | "restarted" }
  | { readonly action: "duplicate"; readonly runtimeStatus: string };

/**
 * Starts the backup instance of one blob version (src/domain/blob-backup-instance.ts decides): a new instance is
 * started, one that failed or no longer holds (reconciliation) is started again, a running or done one is left alone.
 * Two deliveries racing to start the same id: the loser reads the status again and stands down.
 */
export async function startBlobBackup(client: df.DurableClient, instanceId: string, input: BlobBackupInput): Promise<BlobBackupStart> {
  const existing = await instanceStatus(client, instanceId);
  const action = existingInstanceAction(existing, input.request.reason);
  if (action === "duplicate") return { action, runtimeStatus: existing?.runtimeStatus ?? "" };
  try {
    await client.startNew(Orchestrators.blobBackup, { instanceId, input });
  } catch (err) {
    const again = await instanceStatus(client, instanceId).catch(() => undefined);
    if (again !== undefined && existingInstanceAction(again) === "duplicate") return { action: "duplicate", runtimeStatus: again.runtimeStatus };
    throw err;
  }
  return { action: action === "restart" ? "restarted" : "started" };
}
