/**
 * One orchestrator episode: the whole history goes in as the orchestration trigger's JSON (as the .NET extension sends
 * it), the library replays it and answers with its OrchestratorState, or throws with that state after a marker.
 */
import type { Invoker } from "../invoke";
import { fromTypedData } from "../invoke";
import type { RegisteredFunction } from "../registry";
import type { Action, HistoryEvent } from "./history";

export interface OrchestratorState {
  readonly isDone: boolean;
  readonly actions: readonly (readonly Action[])[];
  readonly output?: unknown;
  readonly customStatus?: unknown;
  readonly error?: string;
}

export type EpisodeResult =
  | { readonly ok: true; readonly state: OrchestratorState }
  | { readonly ok: false; readonly message: string; readonly details: string; readonly state?: OrchestratorState };

const OUT_OF_PROC_MARKER = "$OutOfProcData$:";

/** Production timer settings (maximumShortTimerDuration 6 days; longer timers are split by the library). */
const TIMER_SETTINGS = {
  longRunningTimerIntervalDuration: "3.00:00:00",
  maximumShortTimerDuration: "6.00:00:00",
  defaultHttpAsyncRequestSleepTimeMillseconds: 30000,
};
export const MAX_SHORT_TIMER_MS = 6 * 24 * 3600_000;
export const LONG_TIMER_INTERVAL_MS = 3 * 24 * 3600_000;

export async function runEpisode(
  invoker: Invoker,
  fn: RegisteredFunction,
  request: {
    instanceId: string;
    input: unknown;
    history: readonly HistoryEvent[];
    parentInstanceId?: string;
    /** The JSON of history[0 … count) already serialized (comma-separated), reused so an episode only encodes what is new. */
    historyPrefix?: { readonly count: number; readonly json: string };
  },
): Promise<EpisodeResult> {
  const { history, historyPrefix } = request;
  const fields = {
    input: request.input,
    instanceId: request.instanceId,
    isReplaying: history.some((e) => e.IsPlayed),
    parentInstanceId: request.parentInstanceId,
    upperSchemaVersion: 1,
    upperSchemaVersionNew: 2,
    ...TIMER_SETTINGS,
  };
  const start = historyPrefix !== undefined && historyPrefix.count <= history.length ? historyPrefix.count : 0;
  const parts = start > 0 ? [historyPrefix?.json ?? ""] : [];
  for (let i = start; i < history.length; i++) parts.push(JSON.stringify(history[i]));
  const payload = `{"history":[${parts.join(",")}],${JSON.stringify(fields).slice(1)}`;
  try {
    const result = await invoker.invoke(fn, { trigger: { string: payload }, instanceId: request.instanceId });
    const state = fromTypedData(result.returnValue) as OrchestratorState | undefined;
    if (state === undefined || !Array.isArray(state.actions)) {
      return { ok: false, message: "the orchestrator returned no OrchestratorState", details: "" };
    }
    return { ok: true, state };
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    const at = error.message.indexOf(OUT_OF_PROC_MARKER);
    if (at < 0) return { ok: false, message: error.message, details: error.stack ?? "" };
    const state = JSON.parse(error.message.slice(at + OUT_OF_PROC_MARKER.length)) as OrchestratorState;
    return { ok: false, message: state.error ?? error.message.slice(0, at).trim(), details: error.stack ?? "", state };
  }
}
