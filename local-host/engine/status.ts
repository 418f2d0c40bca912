/** The orchestration status as the Durable HTTP API returns it (and as host.client.getStatus answers). */
import { EventType, EventTypeName } from "./history";
import type { Instance, RuntimeStatus } from "./types";

export interface HistoryEventView {
  readonly EventType: string;
  readonly EventId: number;
  readonly Timestamp: string;
  readonly [field: string]: unknown;
}

export interface OrchestrationStatus {
  readonly name: string;
  readonly instanceId: string;
  readonly runtimeStatus: RuntimeStatus;
  readonly input: unknown;
  readonly output: unknown;
  readonly customStatus: unknown;
  readonly createdTime: string;
  readonly lastUpdatedTime: string;
  readonly historyEvents?: HistoryEventView[];
}

/** The episode markers are plumbing; the real API leaves them out of `historyEvents` too. */
const HIDDEN = new Set<number>([EventType.OrchestratorStarted, EventType.OrchestratorCompleted]);

export function toStatus(inst: Instance, options: { showHistory?: boolean; showInput?: boolean } = {}): OrchestrationStatus {
  const status: OrchestrationStatus = {
    name: inst.name,
    instanceId: inst.instanceId,
    runtimeStatus: inst.runtimeStatus,
    input: options.showInput === false ? null : (inst.input ?? null),
    output: inst.output ?? null,
    customStatus: inst.customStatus ?? null,
    createdTime: inst.createdTime,
    lastUpdatedTime: inst.lastUpdatedTime,
  };
  if (options.showHistory !== true) return status;
  const historyEvents = inst.history
    .filter((e) => !HIDDEN.has(e.EventType))
    .map(({ EventType: type, IsPlayed: _played, ...rest }) => ({ ...rest, EventType: EventTypeName[type] ?? String(type) }));
  return { ...status, historyEvents };
}
