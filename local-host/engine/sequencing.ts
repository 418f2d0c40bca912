/**
 * Sequence ids, taken exactly as the library takes them (reference §3), and the history events that record them.
 *
 * - A new action takes the next id in yield order, depth-first through Task.all/Task.any (none for
 *   WaitForExternalEvent or ContinueAsNew).
 * - A retryable task's failure takes the next id for its retry timer; that timer's firing takes the next id for the
 *   new attempt (or, attempts exhausted, none: the failure surfaces). A long timer's intermediate firing takes the
 *   next id for its next leg. The library takes these while the event is replayed, without resuming user code, so the
 *   engine delivers such "internal" events first in an episode: their ids then precede the episode's new actions.
 *
 * These functions update the instance (`nextId`, `pending`) and return what was recorded and what must be started.
 */
import { LONG_TIMER_INTERVAL_MS, MAX_SHORT_TIMER_MS } from "./episode";
import { type Action, actionSignature, ActionType, decodeProcessedInput, event, EventType, type HistoryEvent, jsonRoundTrip } from "./history";
import type { InboxItem, Instance, Pending, RetryPolicy, Work } from "./types";

export interface Started {
  readonly taskId: number;
  readonly pending: Pending;
}

export interface ScheduledTasks {
  readonly events: HistoryEvent[];
  readonly started: Started[];
}

function take(inst: Instance, pending: Pending, record: (id: number) => HistoryEvent): ScheduledTasks {
  const taskId = inst.nextId++;
  inst.pending[taskId] = pending;
  return { events: [record(taskId)], started: [{ taskId, pending }] };
}

/** The child instance id: the orchestrator's choice, else `<parent>:<taskId>` (unique per attempt). */
export function childInstanceId(inst: Instance, work: Work, taskId: number): string {
  return work.instanceId ?? `${inst.instanceId}:${taskId}`;
}

function scheduledEvent(inst: Instance, work: Work, taskId: number, now: number): HistoryEvent {
  const input = JSON.stringify(work.input) ?? null;
  if (work.kind === "activity") return event(EventType.TaskScheduled, now, { Name: work.name, Input: input }, taskId);
  return event(EventType.SubOrchestrationInstanceCreated, now, { Name: work.name, InstanceId: childInstanceId(inst, work, taskId), Input: input }, taskId);
}

function timerCreated(fireAt: string, now: number): (id: number) => HistoryEvent {
  return (id) => event(EventType.TimerCreated, now, { FireAt: fireAt }, id);
}

/** The ids an internal event takes, or undefined for an ordinary event. */
export function takeInternalIds(inst: Instance, item: InboxItem, now: number): ScheduledTasks | undefined {
  const failed = item.failedWork;
  if (failed?.retry !== undefined) {
    const retry = failed.retry;
    retry.attempt++;
    // DTFx: first × backoff^(n−1) after the n-th failure, capped.
    const delay = Math.min(retry.policy.firstMs * retry.policy.backoff ** (retry.attempt - 2), retry.policy.maxIntervalMs);
    const fireAt = new Date(now + delay).toISOString();
    return take(inst, { kind: "timer", fireAt, retryOf: failed }, timerCreated(fireAt, now));
  }
  const timer = item.firedTimer;
  const retryOf = timer?.retryOf;
  if (retryOf?.retry !== undefined) {
    if (retryOf.retry.attempt > retryOf.retry.policy.maxAttempts) return undefined;
    return take(inst, { kind: "task", work: retryOf }, (id) => scheduledEvent(inst, retryOf, id, now));
  }
  if (timer?.finalFireAt !== undefined && Date.parse(timer.finalFireAt) > now) {
    const final = Date.parse(timer.finalFireAt);
    const fireAt = new Date(final - now > MAX_SHORT_TIMER_MS ? now + LONG_TIMER_INTERVAL_MS : final).toISOString();
    // The extension counts every leg of a long timer against MaxOrchestrationActions.
    inst.extraTimerLegs = (inst.extraTimerLegs ?? 0) + 1;
    return take(inst, { kind: "timer", fireAt, finalFireAt: timer.finalFireAt }, timerCreated(fireAt, now));
  }
  return undefined;
}

/** A new action: its id and events, or an error for what the local host does not support. */
export function scheduleAction(inst: Instance, action: Action, now: number): ScheduledTasks | { readonly error: string } {
  switch (action.actionType) {
    case ActionType.WaitForExternalEvent:
    case ActionType.ContinueAsNew:
      return { events: [], started: [] };
    case ActionType.CallActivity:
    case ActionType.CallActivityWithRetry:
    case ActionType.CallSubOrchestrator:
    case ActionType.CallSubOrchestratorWithRetry: {
      const isActivity = action.actionType <= ActionType.CallActivityWithRetry;
      const work: Work = {
        kind: isActivity ? "activity" : "sub",
        name: action.functionName ?? "",
        input: jsonRoundTrip(isActivity ? decodeProcessedInput(action.input) : action.input),
        ...(action.instanceId ? { instanceId: action.instanceId } : {}),
        ...(action.retryOptions !== undefined ? { retry: { policy: retryPolicy(action.retryOptions), attempt: 1 } } : {}),
      };
      return take(inst, { kind: "task", work }, (id) => scheduledEvent(inst, work, id, now));
    }
    case ActionType.CreateTimer: {
      // Timers longer than maximumShortTimerDuration: the library waits in legs of longRunningTimerIntervalDuration.
      const final = Date.parse(action.fireAt ?? "");
      const long = final - now > MAX_SHORT_TIMER_MS;
      const fireAt = new Date(long ? now + LONG_TIMER_INTERVAL_MS : final).toISOString();
      // Even when the orchestrator has already cancelled it: DTFx sends every timer it creates, and a cancelled one
      // still fires (its TimerFired reaches the history; only the waiting task was cancelled).
      return take(inst, { kind: "timer", fireAt, ...(long ? { finalFireAt: new Date(final).toISOString() } : {}) }, timerCreated(fireAt, now));
    }
    default:
      return { error: `The local host does not support action type ${action.actionType} (entities and callHttp are not supported).` };
  }
}

/**
 * The index of the first action past the Durable extension's MaxOrchestrationActions, or -1. The extension counts, per
 * execution, every action it replays (activities, sub-orchestrations, timers and each further leg of a long timer)
 * except waits for external events and continueAsNew, and throws when one more would exceed the limit.
 */
export function actionLimitIndex(inst: Instance, leaves: readonly Action[], max: number): number {
  let count = inst.extraTimerLegs ?? 0;
  for (let i = 0; i < leaves.length; i++) {
    const type = leaves[i]?.actionType;
    if (type === ActionType.WaitForExternalEvent || type === ActionType.ContinueAsNew) continue;
    if (++count > max) return i;
  }
  return -1;
}

export function actionLimitMessage(max: number): string {
  return `Maximum amount of orchestration actions (${max}) has been reached. This value can be configured in host.json file as MaxOrchestrationActions.`;
}

/** DurableOrchestrationContext.SetCustomStatus: at most 16 KB of UTF-16 JSON (whole KB, rounded down). */
const MAX_CUSTOM_STATUS_KB = 16;

/** The extension's message when the custom status is over its limit, else undefined. */
export function customStatusError(customStatus: unknown): string | undefined {
  const json = customStatus === undefined || customStatus === null ? undefined : JSON.stringify(customStatus);
  if (json === undefined) return undefined;
  const kb = Math.floor((json.length * 2) / 1024);
  if (kb <= MAX_CUSTOM_STATUS_KB) return undefined;
  const n = (x: number) => x.toLocaleString("en-US");
  return `The UTF-16 size of the JSON-serialized payload must not exceed ${n(MAX_CUSTOM_STATUS_KB)} KB. The current payload size is ${n(kb)} KB.`;
}

/** Compares a replay's actions with those recorded when they were first scheduled. */
export function checkDeterminism(inst: Instance, leaves: readonly Action[]): string | undefined {
  const n = Math.min(inst.leaves.length, leaves.length);
  for (let i = 0; i < n; i++) {
    const now = leaves[i];
    const before = inst.leaves[i];
    if (now !== undefined && actionSignature(now) !== before) {
      return (
        `Non-deterministic workflow detected: action #${i} was ${before ?? "?"} when first scheduled but the replay ` +
        `produced ${actionSignature(now)}. Orchestrator code must be deterministic (no Date.now, Math.random, I/O or ` +
        `changed code while instances are running).`
      );
    }
  }
  return undefined;
}

function retryPolicy(o: NonNullable<Action["retryOptions"]>): RetryPolicy {
  const max = o.maxRetryIntervalInMilliseconds;
  return {
    firstMs: o.firstRetryIntervalInMilliseconds,
    maxAttempts: o.maxNumberOfAttempts,
    backoff: o.backoffCoefficient ?? 1,
    maxIntervalMs: max !== undefined && max > 0 ? max : Number.MAX_SAFE_INTEGER,
  };
}
