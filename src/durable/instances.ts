/**
 * Durable client helpers for starters that keep one instance per id: the instance's status (one way to tell a missing
 * instance), "start, or join the instance that is already running" (a scan per container, one reconciliation), and the
 * blob backup queue trigger's "start, restart or leave alone".
 */
import * as df from "durable-functions";

import type { BlobBackupInput } from "../domain/blob-backup";
import { existingInstanceAction } from "../domain/blob-backup-instance";
import type { BlobBatchInput } from "../domain/blob-batch-backup";
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

export interface InstanceStatusAndInput {
  readonly runtimeStatus: string;
  readonly input: unknown;
  readonly customStatus?: unknown;
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
export async function instanceStatusAndInput(
  client: df.DurableClient,
  instanceId: string,
  options: { readonly showInput?: boolean } = {},
): Promise<InstanceStatusAndInput | undefined> {
  const status = await instanceStatus(client, instanceId, options);
  return status === undefined ? undefined : { runtimeStatus: status.runtimeStatus, input: status.input, customStatus: status.customStatus };
}

/** Starts carry a fresh id in their input, so a starter can tell its own instance from another caller's. */
export interface StartInput {
  readonly startId: string;
}

export interface StartOrJoin<I extends StartInput> {
  readonly orchestrator: string;
  readonly instanceId: string;
  readonly input: I;
  /** Whether an instance with this input (as read back; unknown shape) and status does what this start asks for. */
  readonly covers: (runningInput: unknown, running: InstanceStatusAndInput) => boolean;
  /**
   * Asks a running instance that covers this start to take it into account (a scan makes one more pass, because it may
   * already be past this caller's blobs). Absent: joining needs nothing.
   */
  readonly join?: () => Promise<void>;
}

export type StartOutcome =
  | { readonly kind: "started" }
  /**
   * A running (or, after a lost race, just finished) instance covers this start: its status answers the caller.
   * `customStatus` as read before joining.
   */
  | { readonly kind: "joined"; readonly runtimeStatus: string; readonly customStatus?: unknown }
  /** A running instance that does not cover this start: the caller must come back later. */
  | { readonly kind: "busy"; readonly runtimeStatus: string };

/** A start that keeps losing to other starters gives up after this many rounds. */
const MAX_START_ROUNDS = 3;

const startIdOf = (input: unknown): unknown => (typeof input === "object" && input !== null ? (input as { startId?: unknown }).startId : undefined);

/**
 * Starts `orchestrator` as `instanceId` unless an instance of that id is active; an active one that covers this start
 * is joined, one that does not makes this start `busy`. A finished instance (Completed, Failed, Terminated) is replaced.
 *
 * Races between starters, as the Azure Storage backend has them: `overridableExistingInstanceStates: NonRunningStates`
 * (host.json) makes a start fail when the instance is already visible as running, but two starts that both read "no
 * active instance" both succeed — each enqueues its ExecutionStarted message, only the first to write the Instances
 * table row is kept (the other write's conflict is ignored), and the runtime discards the other message as a
 * duplicate. So after a successful start the instance is read back: if it carries another start's id, this caller lost
 * and is joined or told busy exactly as if its start had failed. Either way the instance that runs began after this
 * request arrived (its row was written after this caller's status check), so it covers this caller's data when its
 * options cover the request.
 */
export async function startOrJoin<I extends StartInput>(client: df.DurableClient, start: StartOrJoin<I>): Promise<StartOutcome> {
  const { orchestrator, instanceId, input, covers } = start;
  const read = (): Promise<InstanceStatusAndInput | undefined> => instanceStatusAndInput(client, instanceId, { showInput: true });
  /** The outcome when `state` is another caller's instance; undefined when this start should try again. */
  const decideOther = (state: InstanceStatusAndInput | undefined): StartOutcome | undefined => {
    if (state === undefined) return undefined;
    if (isActive(state.runtimeStatus)) {
      return covers(state.input, state)
        ? { kind: "joined", runtimeStatus: state.runtimeStatus, customStatus: state.customStatus }
        : { kind: "busy", runtimeStatus: state.runtimeStatus };
    }
    return undefined;
  };

  for (let round = 0; round < MAX_START_ROUNDS; round++) {
    const before = await read();
    if (before !== undefined && isActive(before.runtimeStatus)) {
      if (!covers(before.input, before)) return { kind: "busy", runtimeStatus: before.runtimeStatus };
      if (start.join === undefined) return { kind: "joined", runtimeStatus: before.runtimeStatus, customStatus: before.customStatus };
      await start.join();
      // An instance that finished before it could take the request (the event is then dropped) is started afresh.
      // The pass that covers this start follows from the status read before the event was raised.
      const after = await read();
      if (after !== undefined && isActive(after.runtimeStatus)) {
        return covers(after.input, before)
          ? { kind: "joined", runtimeStatus: after.runtimeStatus, customStatus: before.customStatus }
          : { kind: "busy", runtimeStatus: after.runtimeStatus };
      }
    }
    try {
      await client.startNew(orchestrator, { instanceId, input });
    } catch (err) {
      // Another start won the race for the id after our status check.
      const winner = decideOther(await read());
      if (winner !== undefined) return winner;
      throw err;
    }
    const after = await read();
    if (after === undefined || startIdOf(after.input) === input.startId) return { kind: "started" };
    // Both starts succeeded and the other one is the instance that runs.
    const other = decideOther(after);
    if (other !== undefined) return other;
    // It has finished already: it covered this start if its options did; otherwise start again.
    if (covers(after.input, after)) return { kind: "joined", runtimeStatus: after.runtimeStatus, customStatus: after.customStatus };
  }
  throw new Error(`could not start ${instanceId}: other starts replaced it ${MAX_START_ROUNDS} times in a row`);
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
  return startBackupInstance(client, Orchestrators.blobBackup, instanceId, input, input.request.reason);
}

/** The same for a batch of small versions (one batch backup orchestration per batch). */
export async function startBlobBatchBackup(client: df.DurableClient, instanceId: string, input: BlobBatchInput): Promise<BlobBackupStart> {
  return startBackupInstance(client, Orchestrators.blobBatchBackup, instanceId, input, input.batch.reason);
}

async function startBackupInstance(client: df.DurableClient, orchestrator: string, instanceId: string, input: unknown, reason: string): Promise<BlobBackupStart> {
  const existing = await instanceStatus(client, instanceId);
  const action = existingInstanceAction(existing, reason);
  if (action === "duplicate") return { action, runtimeStatus: existing?.runtimeStatus ?? "" };
  try {
    await client.startNew(orchestrator, { instanceId, input });
  } catch (err) {
    const again = await instanceStatus(client, instanceId).catch(() => undefined);
    if (again !== undefined && existingInstanceAction(again) === "duplicate") return { action: "duplicate", runtimeStatus: again.runtimeStatus };
    throw err;
  }
  return { action: action === "restart" ? "restarted" : "started" };
}
