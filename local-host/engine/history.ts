/**
 * History events in the shape the durable-functions library reads (the .NET extension's JSON), plus the action types
 * it returns (durable-functions' lib/src/history and lib/src/actions).
 */
export const EventType = {
  ExecutionStarted: 0,
  ExecutionCompleted: 1,
  ExecutionTerminated: 3,
  TaskScheduled: 4,
  TaskCompleted: 5,
  TaskFailed: 6,
  SubOrchestrationInstanceCreated: 7,
  SubOrchestrationInstanceCompleted: 8,
  SubOrchestrationInstanceFailed: 9,
  TimerCreated: 10,
  TimerFired: 11,
  OrchestratorStarted: 12,
  OrchestratorCompleted: 13,
  EventRaised: 15,
  ContinueAsNew: 16,
  ExecutionSuspended: 17,
  ExecutionResumed: 18,
} as const;

export const EventTypeName: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(EventType).map(([name, value]) => [value, name]),
);

export interface HistoryEvent {
  readonly EventType: number;
  readonly EventId: number;
  readonly IsPlayed: boolean;
  readonly Timestamp: string;
  readonly [field: string]: unknown;
}

export function event(type: number, at: number, fields: Record<string, unknown> = {}, eventId = -1): HistoryEvent {
  return { EventType: type, EventId: eventId, IsPlayed: false, Timestamp: new Date(at).toISOString(), ...fields };
}

export const ActionType = {
  CallActivity: 0,
  CallActivityWithRetry: 1,
  CallSubOrchestrator: 2,
  CallSubOrchestratorWithRetry: 3,
  ContinueAsNew: 4,
  CreateTimer: 5,
  WaitForExternalEvent: 6,
  CallEntity: 7,
  CallHttp: 8,
  SignalEntity: 9,
  WhenAny: 11,
  WhenAll: 12,
} as const;

export interface Action {
  readonly actionType: number;
  readonly functionName?: string;
  readonly input?: unknown;
  readonly instanceId?: string;
  readonly retryOptions?: {
    readonly firstRetryIntervalInMilliseconds: number;
    readonly maxNumberOfAttempts: number;
    readonly backoffCoefficient?: number;
    readonly maxRetryIntervalInMilliseconds?: number;
  };
  readonly fireAt?: string;
  readonly isCanceled?: boolean;
  readonly externalEventName?: string;
  readonly compoundActions?: readonly Action[];
}

/** The leaves of the action tree in the order the library numbers its tasks: depth-first through Task.all/any. */
export function flattenActions(actions: unknown): Action[] {
  const out: Action[] = [];
  const visit = (a: unknown): void => {
    if (Array.isArray(a)) {
      for (const x of a) visit(x);
    } else if (a !== null && typeof a === "object") {
      const action = a as Action;
      if (action.compoundActions !== undefined) visit(action.compoundActions);
      else out.push(action);
    }
  };
  visit(actions);
  return out;
}

/** What must stay the same between replays: the kind of action and its target. */
export function actionSignature(a: Pick<Action, "actionType" | "functionName" | "externalEventName">): string {
  switch (a.actionType) {
    case ActionType.CallActivity:
    case ActionType.CallActivityWithRetry:
      return `CallActivity(${a.functionName ?? ""})`;
    case ActionType.CallSubOrchestrator:
    case ActionType.CallSubOrchestratorWithRetry:
      return `CallSubOrchestrator(${a.functionName ?? ""})`;
    case ActionType.CreateTimer:
      return "CreateTimer";
    case ActionType.WaitForExternalEvent:
      return `WaitForExternalEvent(${a.externalEventName ?? ""})`;
    case ActionType.ContinueAsNew:
      return "ContinueAsNew";
    default:
      return `Action${a.actionType}`;
  }
}

/** Activity and continueAsNew inputs arrive JSON-encoded when they are strings (Utils.processInput). */
export function decodeProcessedInput(input: unknown): unknown {
  return typeof input === "string" ? (JSON.parse(input) as unknown) : input;
}

/** Every payload crosses JSON in production: Dates become strings, undefined disappears. */
export function jsonRoundTrip(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text === undefined ? undefined : (JSON.parse(text) as unknown);
}
