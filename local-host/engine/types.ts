/** The persisted state of an orchestration instance: plain JSON, so a stateDir can hold it between host runs. */
import type { HistoryEvent } from "./history";

export type RuntimeStatus = "Pending" | "Running" | "Completed" | "Failed" | "Terminated" | "Suspended";

export const TERMINAL: ReadonlySet<RuntimeStatus> = new Set(["Completed", "Failed", "Terminated"]);

export interface RetryPolicy {
  readonly firstMs: number;
  readonly maxAttempts: number;
  readonly backoff: number;
  readonly maxIntervalMs: number;
}

/** Something an orchestrator scheduled that runs outside it: an activity call or a sub-orchestration. */
export interface Work {
  readonly kind: "activity" | "sub";
  readonly name: string;
  readonly input: unknown;
  /** Sub-orchestrations: the instance id the orchestrator chose, if any. */
  readonly instanceId?: string;
  readonly retry?: { readonly policy: RetryPolicy; attempt: number };
}

export type Pending =
  | { readonly kind: "task"; readonly work: Work; readonly childId?: string }
  | {
      readonly kind: "timer";
      readonly fireAt: string;
      /** A retry timer: the attempt to schedule when it fires. */
      readonly retryOf?: Work;
      /** A long timer split by the library: its final fire time. */
      readonly finalFireAt?: string;
    };

export interface InboxItem {
  readonly event: HistoryEvent;
  /** A failed attempt of a retryable task. */
  readonly failedWork?: Work;
  /** The timer that fired. */
  readonly firedTimer?: Pending & { kind: "timer" };
}

export interface Instance {
  readonly instanceId: string;
  name: string;
  executionId: string;
  input: unknown;
  runtimeStatus: RuntimeStatus;
  createdTime: string;
  lastUpdatedTime: string;
  output: unknown;
  customStatus: unknown;
  readonly parent?: { readonly instanceId: string; readonly executionId: string; readonly taskId: number };
  history: HistoryEvent[];
  inbox: InboxItem[];
  nextId: number;
  /** Signatures of every action scheduled so far in this execution, for non-determinism detection. */
  leaves: string[];
  /** Legs of long timers after their first, this execution: each counts as an action (absent in older state files). */
  extraTimerLegs?: number;
  pending: Record<string, Pending>;
}

/** How an activity or sub-orchestration ended, as its completion event will record it. */
export type Completion =
  | { readonly failed: false; readonly result: string }
  | { readonly failed: true; readonly reason: string; readonly details: string };
