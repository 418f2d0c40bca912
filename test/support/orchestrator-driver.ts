/**
 * Drives an orchestrator generator through the real durable-functions replay engine, playing the part of the Durable
 * extension: it records the history, numbers the actions as the extension does, answers activities and
 * sub-orchestrations from a script, fires timers on a virtual clock, delivers external events and follows
 * `continueAsNew`. No host, no storage: a whole orchestration runs in milliseconds.
 *
 * As the library's own tests do, each episode hands the library the whole history (OrchestratorStarted … new event)
 * and reads back its OrchestratorState; one new event per episode. The driver fails the test (throws) where the real
 * extension would misbehave or fail the instance:
 * - a task yielded a second time (`Task.any([t, timer])` in a loop): the extension schedules it again under a new id;
 * - a replay whose actions differ from what was scheduled (non-determinism).
 *
 * Retries (`callActivityWithRetry`, `callSubOrchestratorWithRetry`) are the extension's work, as in Azure: after each
 * failed attempt a retry timer (first × backoff^(n−1), capped), then the next attempt — the script is asked once per
 * attempt — and after the last failed attempt's timer the failure reaches the orchestrator.
 */
import type { OrchestrationHandler } from "durable-functions";
import { DummyOrchestrationContext } from "durable-functions";

// The wire constants and replay signature the local Durable host uses too: one definition of the extension's protocol.
import { actionSignature, ActionType, EventType } from "../../local-host/engine/history";

/**
 * createOrchestrator is the library's own test entry point (lib/src/util/testingUtils): the same Orchestrator and
 * TaskOrchestrationExecutor the Functions worker runs. The package's index does not re-export it; the version is pinned.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const testingUtils = require("durable-functions/lib/src/util/testingUtils") as {
  createOrchestrator(fn: OrchestrationHandler): (trigger: unknown, context: DummyOrchestrationContext) => Promise<OrchestratorState>;
};

/** What the library answers after an episode (schema 2: one inner array of every action since the execution began). */
interface OrchestratorState {
  readonly isDone: boolean;
  readonly actions: readonly (readonly WireAction[])[];
  readonly output?: unknown;
  readonly customStatus?: unknown;
  readonly error?: string;
}

interface WireAction {
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
  readonly fireAt?: string | Date;
  readonly isCanceled?: boolean;
  readonly externalEventName?: string;
  readonly compoundActions?: readonly WireAction[];
}

interface HistoryEvent {
  readonly EventType: number;
  readonly EventId: number;
  IsPlayed: boolean;
  readonly Timestamp: string;
  readonly [field: string]: unknown;
}

/** How a scripted activity or sub-orchestration answers one attempt. */
export type Answer =
  | { readonly result: unknown; readonly afterMs?: number }
  /** The attempt throws (an activity) or fails (a sub-orchestration) with this message. */
  | { readonly error: string; readonly afterMs?: number };

export interface Call {
  /** 1 for the first attempt; retries of the same call count up. */
  readonly attempt: number;
  /** The sub-orchestration's instance id (sub-orchestrations only). */
  readonly instanceId?: string;
  /** The driver, e.g. to raise an event while this call runs. */
  readonly driver: OrchestrationDriver;
}

export type Script = (input: never, call: Call) => Answer;

export interface DriverOptions {
  readonly input: unknown;
  readonly instanceId?: string;
  /** Virtual time of the first episode. */
  readonly startAt?: string;
  /** Answers per activity name; an activity without a script fails the test. */
  readonly activities?: Readonly<Record<string, Script>>;
  readonly subOrchestrations?: Readonly<Record<string, Script>>;
  /**
   * Sub-orchestrations run for real: each call runs the handler in a driver of its own (same activity scripts,
   * starting at the parent's virtual time), and its output or failure answers the parent when it ends. What each
   * child did is in `children` of the result.
   */
  readonly childOrchestrators?: Readonly<Record<string, OrchestrationHandler>>;
  /** Start the next execution after `continueAsNew` (default true), or stop there. */
  readonly followContinueAsNew?: boolean;
  /** Guard against an orchestration that never ends. */
  readonly maxEpisodes?: number;
}

/** What the orchestration asked for, in order (across executions). */
export type Scheduled =
  | { readonly kind: "activity"; readonly name: string; readonly input: unknown; readonly attempt: number; readonly execution: number; readonly at: string }
  | {
      readonly kind: "subOrchestration";
      readonly name: string;
      readonly instanceId: string;
      readonly input: unknown;
      readonly attempt: number;
      readonly execution: number;
      readonly at: string;
    }
  /** `retry`: created by the extension between attempts of a retried call, not by the orchestrator. */
  | { readonly kind: "timer"; readonly fireAt: string; readonly delayMs: number; readonly retry: boolean; readonly execution: number; readonly at: string }
  | { readonly kind: "waitForEvent"; readonly name: string; readonly execution: number; readonly at: string }
  | { readonly kind: "continueAsNew"; readonly input: unknown; readonly execution: number; readonly at: string };

export interface RunResult {
  /** Running: nothing left to deliver, but the orchestration waits (for an event that was never raised). */
  readonly status: "Completed" | "Failed" | "ContinuedAsNew" | "Running";
  readonly output: unknown;
  /** The orchestrator's failure message (status Failed). */
  readonly error?: string;
  readonly customStatus: unknown;
  /** The input of each execution: the first, then one per `continueAsNew`. */
  readonly inputs: readonly unknown[];
  readonly scheduled: readonly Scheduled[];
  /** `scheduled` in short form, e.g. "ScanSourcePage", "timer +5s", "wait RescanContainer", "continueAsNew". */
  readonly trail: readonly string[];
  /** What the orchestrator logged through context.log while not replaying. */
  readonly logs: readonly string[];
  readonly now: string;
  /** Events in the history of the last execution (what a replay reads). */
  readonly historyLength: number;
  /** The sub-orchestrations run for real (`childOrchestrators`), in the order they started. */
  readonly children: readonly (RunResult & { readonly name: string; readonly instanceId: string })[];
}

export class DoubleYieldError extends Error {}
export class NonDeterminismError extends Error {}

interface RetryState {
  readonly firstMs: number;
  readonly maxAttempts: number;
  readonly backoff: number;
  readonly maxIntervalMs: number;
  attempt: number;
}

interface Work {
  readonly kind: "activity" | "subOrchestration";
  readonly name: string;
  readonly input: unknown;
  readonly instanceId?: string;
  readonly retry?: RetryState;
}

type Delivery =
  | { readonly kind: "completion"; readonly at: number; readonly seq: number; readonly taskId: number; readonly work: Work; readonly answer: Answer }
  | { readonly kind: "timer"; readonly at: number; readonly seq: number; readonly taskId: number; readonly fireAt: string; readonly retryOf?: Work }
  | { readonly kind: "event"; readonly at: number; readonly seq: number; readonly name: string; readonly data: unknown }
  /** A sub-orchestration run for real: it runs when taken, and its completion is queued for when it ended. */
  | { readonly kind: "child"; readonly at: number; readonly seq: number; readonly taskId: number; readonly work: Work; readonly handler: OrchestrationHandler };

const DEFAULT_START = "2026-01-05T08:00:00.000Z";
const TIMER_SETTINGS = {
  longRunningTimerIntervalDuration: "3.00:00:00",
  maximumShortTimerDuration: "6.00:00:00",
  defaultHttpAsyncRequestSleepTimeMillseconds: 30000,
};

const roundTrip = (value: unknown): unknown => {
  const text = JSON.stringify(value);
  return text === undefined ? undefined : (JSON.parse(text) as unknown);
};

/** The library JSON-encodes string inputs of activities and continueAsNew (Utils.processInput). */
const decodeInput = (input: unknown): unknown => (typeof input === "string" ? (JSON.parse(input) as unknown) : input);

function leavesOf(actions: readonly (readonly WireAction[])[]): WireAction[] {
  const out: WireAction[] = [];
  const visit = (a: WireAction): void => {
    if (a.compoundActions !== undefined) a.compoundActions.forEach(visit);
    else out.push(a);
  };
  for (const group of actions) group.forEach(visit);
  return out;
}

export class OrchestrationDriver {
  readonly #handler: OrchestrationHandler;
  readonly #options: DriverOptions;
  readonly #instanceId: string;
  #now: number;
  #seq = 0;
  #episodes = 0;
  #execution = 0;
  #input: unknown;
  #history: HistoryEvent[] = [];
  #nextId = 0;
  /** Signatures of the leaves scheduled so far in this execution, by position. */
  #leaves: string[] = [];
  /** The id of each orchestrator timer of this execution, by leaf position, so a cancellation finds its timer. */
  #timerIds = new Map<number, number>();
  #queue: Delivery[] = [];
  #status: RunResult["status"] = "Running";
  #output: unknown;
  #error: string | undefined;
  #customStatus: unknown;
  readonly #inputs: unknown[] = [];
  readonly #scheduled: Scheduled[] = [];
  readonly #logs: string[] = [];
  readonly #children: (RunResult & { readonly name: string; readonly instanceId: string })[] = [];
  #started = false;

  constructor(handler: OrchestrationHandler, options: DriverOptions) {
    this.#handler = handler;
    this.#options = options;
    this.#instanceId = options.instanceId ?? "test-instance";
    this.#now = Date.parse(options.startAt ?? DEFAULT_START);
    this.#input = roundTrip(options.input);
  }

  get now(): Date {
    return new Date(this.#now);
  }

  /** The custom status as a status query would show it now (what the last finished episode set). */
  get customStatus(): unknown {
    return this.#customStatus;
  }

  /** Raises an external event: it reaches the orchestration in the next episode (before timers due at the same time). */
  raiseEvent(name: string, data?: unknown): void {
    this.#queue.push({ kind: "event", at: this.#now, seq: this.#seq++, name, data: roundTrip(data) });
  }

  /** Runs until the orchestration completes, fails, continues as new (when not followed) or waits with nothing to deliver. */
  async run(): Promise<RunResult> {
    if (!this.#started) {
      this.#started = true;
      await this.#startExecution();
    }
    while (this.#status === "Running") {
      const next = this.#takeNext();
      if (next === undefined) break;
      await this.#deliver(next);
    }
    return this.result();
  }

  result(): RunResult {
    return {
      status: this.#status,
      output: this.#output,
      ...(this.#error !== undefined && { error: this.#error }),
      customStatus: this.#customStatus,
      inputs: [...this.#inputs],
      scheduled: [...this.#scheduled],
      trail: this.#scheduled.map(describe),
      logs: [...this.#logs],
      now: new Date(this.#now).toISOString(),
      historyLength: this.#history.length,
      children: [...this.#children],
    };
  }

  async #startExecution(): Promise<void> {
    this.#execution += 1;
    this.#inputs.push(this.#input);
    this.#history = [];
    this.#nextId = 0;
    this.#leaves = [];
    this.#timerIds.clear();
    this.#status = "Running";
    const started = this.#event(EventType.ExecutionStarted, { Name: "orchestrator", Input: JSON.stringify(this.#input) ?? null });
    await this.#episode(started);
  }

  /** Earliest first; at the same instant completions and events go before timers (timers fire when nothing else can). */
  #takeNext(): Delivery | undefined {
    if (this.#queue.length === 0) return undefined;
    const rank = (d: Delivery): number => (d.kind === "timer" ? 1 : 0);
    this.#queue.sort((a, b) => a.at - b.at || rank(a) - rank(b) || a.seq - b.seq);
    return this.#queue.shift();
  }

  async #deliver(d: Delivery): Promise<void> {
    this.#now = Math.max(this.#now, d.at);
    if (d.kind === "child") {
      const child = await new OrchestrationDriver(d.handler, {
        ...this.#options,
        input: d.work.input,
        instanceId: d.work.instanceId ?? "",
        startAt: new Date(this.#now).toISOString(),
      }).run();
      this.#children.push({ ...child, name: d.work.name, instanceId: d.work.instanceId ?? "" });
      const afterMs = Date.parse(child.now) - this.#now;
      const answer: Answer =
        child.status === "Completed" ? { result: child.output, afterMs } : { error: child.error ?? `the child ended ${child.status}`, afterMs };
      this.#queue.push({ kind: "completion", at: Date.parse(child.now), seq: this.#seq++, taskId: d.taskId, work: d.work, answer });
      return;
    }
    if (d.kind === "event") {
      await this.#episode(this.#event(EventType.EventRaised, { Name: d.name, Input: JSON.stringify(d.data) ?? null }));
      return;
    }
    if (d.kind === "timer") {
      const retryOf = d.retryOf;
      await this.#episode(this.#event(EventType.TimerFired, { TimerId: d.taskId, FireAt: d.fireAt }), () => {
        // The library takes the next id for the new attempt while it replays this event (none when attempts are spent).
        if (retryOf?.retry !== undefined && retryOf.retry.attempt <= retryOf.retry.maxAttempts) this.#start(retryOf, this.#nextId++);
      });
      return;
    }
    const activity = d.work.kind === "activity";
    if ("result" in d.answer) {
      const type = activity ? EventType.TaskCompleted : EventType.SubOrchestrationInstanceCompleted;
      await this.#episode(this.#event(type, { TaskScheduledId: d.taskId, Result: JSON.stringify(d.answer.result) ?? "null" }));
      return;
    }
    const reason = activity ? `Activity function '${d.work.name}' failed: ${d.answer.error}` : `Orchestrator function '${d.work.name}' failed: ${d.answer.error}`;
    const type = activity ? EventType.TaskFailed : EventType.SubOrchestrationInstanceFailed;
    const retry = d.work.retry;
    await this.#episode(this.#event(type, { TaskScheduledId: d.taskId, Reason: reason, Details: "" }), () => {
      if (retry === undefined) return;
      // The extension's retry timer after every failed attempt, the last one included; the library takes its id here.
      retry.attempt += 1;
      const delay = Math.min(retry.firstMs * retry.backoff ** (retry.attempt - 2), retry.maxIntervalMs);
      this.#startTimer(this.#nextId++, new Date(this.#now + delay).toISOString(), true, d.work);
    });
  }

  #event(type: number, fields: Record<string, unknown>, eventId = -1): HistoryEvent {
    return { EventType: type, EventId: eventId, IsPlayed: false, Timestamp: new Date(this.#now).toISOString(), ...fields };
  }

  /** One episode: OrchestratorStarted + the new event, the library replays everything, then the new actions are recorded. */
  async #episode(newEvent: HistoryEvent, internal?: () => void): Promise<void> {
    this.#episodes += 1;
    if (this.#episodes > (this.#options.maxEpisodes ?? 10_000)) throw new Error(`more than ${this.#options.maxEpisodes ?? 10_000} episodes: the orchestration does not end`);
    for (const e of this.#history) e.IsPlayed = true;
    this.#history.push(this.#event(EventType.OrchestratorStarted, {}), newEvent);
    internal?.();
    const state = await this.#invoke();
    if (state.customStatus !== undefined) this.#customStatus = state.customStatus;
    this.#record(state);
    this.#history.push(this.#event(EventType.OrchestratorCompleted, {}));
    if (state.error !== undefined) {
      this.#status = "Failed";
      this.#error = state.error;
      return;
    }
    if (!state.isDone) return;
    const leaves = leavesOf(state.actions);
    const continued = leaves.find((a) => a.actionType === ActionType.ContinueAsNew);
    if (continued === undefined) {
      this.#status = "Completed";
      this.#output = roundTrip(state.output);
      return;
    }
    this.#status = "ContinuedAsNew";
    this.#input = roundTrip(decodeInput(continued.input));
    // Events not yet delivered belong to the old execution (preserveUnprocessedEvents is off by default); its timers and
    // tasks are abandoned.
    this.#queue = [];
    if (this.#options.followContinueAsNew ?? true) await this.#startExecution();
  }

  async #invoke(): Promise<OrchestratorState> {
    const trigger = {
      history: this.#history,
      input: this.#input,
      instanceId: this.#instanceId,
      isReplaying: this.#history.some((e) => e.IsPlayed),
      parentInstanceId: "",
      upperSchemaVersion: 1,
      upperSchemaVersionNew: 2,
      ...TIMER_SETTINGS,
    };
    const context = new DummyOrchestrationContext("orchestrator", `episode-${this.#episodes}`, (_level, ...args) => {
      this.#logs.push(args.map(String).join(" "));
    });
    try {
      return await testingUtils.createOrchestrator(this.#handler)(trigger, context);
    } catch (err) {
      // A failing orchestrator throws; its state follows this marker in the message (as the worker reads it).
      const message = err instanceof Error ? err.message : String(err);
      const at = message.indexOf("$OutOfProcData$:");
      if (at < 0) throw err;
      return JSON.parse(message.slice(at + "$OutOfProcData$:".length)) as OrchestratorState;
    }
  }

  /** Checks the replay against what was scheduled, then numbers and starts the new actions as the extension would. */
  #record(state: OrchestratorState): void {
    const leaves = leavesOf(state.actions);
    const seen = new Set<WireAction>();
    for (const leaf of leaves) {
      if (seen.has(leaf)) {
        throw new DoubleYieldError(
          `a task was yielded a second time (${actionSignature(leaf)}): the Durable extension would schedule it again under a new id`,
        );
      }
      seen.add(leaf);
    }
    leaves.forEach((leaf, i) => {
      const before = this.#leaves[i];
      if (before !== undefined && before !== actionSignature(leaf)) {
        throw new NonDeterminismError(`action #${i} was ${before} when first scheduled, but the replay produced ${actionSignature(leaf)}`);
      }
    });
    for (const leaf of leaves.slice(this.#leaves.length)) {
      this.#leaves.push(actionSignature(leaf));
      this.#schedule(leaf);
    }
    // A timer cancelled after it was scheduled never fires for the orchestration (in Azure it fires, and is ignored).
    leaves.forEach((leaf, i) => {
      const id = this.#timerIds.get(i);
      if (id !== undefined && leaf.isCanceled === true) this.#queue = this.#queue.filter((d) => !(d.kind === "timer" && d.taskId === id));
    });
  }

  #schedule(action: WireAction): void {
    const at = new Date(this.#now).toISOString();
    const execution = this.#execution;
    switch (action.actionType) {
      case ActionType.WaitForExternalEvent:
        this.#scheduled.push({ kind: "waitForEvent", name: action.externalEventName ?? "", execution, at });
        return;
      case ActionType.ContinueAsNew:
        this.#scheduled.push({ kind: "continueAsNew", input: roundTrip(decodeInput(action.input)), execution, at });
        return;
      case ActionType.CreateTimer: {
        const id = this.#nextId++;
        this.#timerIds.set(this.#leaves.length - 1, id);
        const fireAt = new Date(action.fireAt ?? 0).toISOString();
        if (action.isCanceled === true) {
          this.#recordTimer(id, fireAt, false);
          return;
        }
        this.#startTimer(id, fireAt, false);
        return;
      }
      case ActionType.CallActivity:
      case ActionType.CallActivityWithRetry:
      case ActionType.CallSubOrchestrator:
      case ActionType.CallSubOrchestratorWithRetry: {
        const activity = action.actionType <= ActionType.CallActivityWithRetry;
        const id = this.#nextId++;
        const r = action.retryOptions;
        const work: Work = {
          kind: activity ? "activity" : "subOrchestration",
          name: action.functionName ?? "",
          input: roundTrip(activity ? decodeInput(action.input) : action.input),
          ...(!activity && { instanceId: action.instanceId || `${this.#instanceId}:${id}` }),
          ...(r !== undefined && {
            retry: {
              firstMs: r.firstRetryIntervalInMilliseconds,
              maxAttempts: r.maxNumberOfAttempts,
              backoff: r.backoffCoefficient ?? 1,
              maxIntervalMs: r.maxRetryIntervalInMilliseconds !== undefined && r.maxRetryIntervalInMilliseconds > 0 ? r.maxRetryIntervalInMilliseconds : Number.MAX_SAFE_INTEGER,
              attempt: 1,
            },
          }),
        };
        this.#start(work, id);
        return;
      }
      default:
        throw new Error(`the driver does not support action type ${action.actionType} (entities, callHttp)`);
    }
  }

  #recordTimer(id: number, fireAt: string, retry: boolean): void {
    const at = new Date(this.#now).toISOString();
    this.#history.push(this.#event(EventType.TimerCreated, { FireAt: fireAt }, id));
    this.#scheduled.push({ kind: "timer", fireAt, delayMs: Date.parse(fireAt) - this.#now, retry, execution: this.#execution, at });
  }

  #startTimer(id: number, fireAt: string, retry: boolean, retryOf?: Work): void {
    this.#recordTimer(id, fireAt, retry);
    this.#queue.push({ kind: "timer", at: Math.max(this.#now, Date.parse(fireAt)), seq: this.#seq++, taskId: id, fireAt, ...(retryOf !== undefined && { retryOf }) });
  }

  /** Records the scheduling of an attempt and asks the script for its answer. */
  #start(work: Work, id: number): void {
    const at = new Date(this.#now).toISOString();
    const attempt = work.retry?.attempt ?? 1;
    const execution = this.#execution;
    if (work.kind === "activity") {
      this.#history.push(this.#event(EventType.TaskScheduled, { Name: work.name, Input: JSON.stringify(work.input) ?? null }, id));
      this.#scheduled.push({ kind: "activity", name: work.name, input: work.input, attempt, execution, at });
    } else {
      const instanceId = work.instanceId ?? "";
      this.#history.push(this.#event(EventType.SubOrchestrationInstanceCreated, { Name: work.name, InstanceId: instanceId, Input: JSON.stringify(work.input) ?? null }, id));
      this.#scheduled.push({ kind: "subOrchestration", name: work.name, instanceId, input: work.input, attempt, execution, at });
    }
    const handler = work.kind === "subOrchestration" ? this.#options.childOrchestrators?.[work.name] : undefined;
    if (handler !== undefined) {
      this.#queue.push({ kind: "child", at: this.#now, seq: this.#seq++, taskId: id, work, handler });
      return;
    }
    const scripts = work.kind === "activity" ? this.#options.activities : this.#options.subOrchestrations;
    const script = scripts?.[work.name];
    if (script === undefined) throw new Error(`no script for ${work.kind} ${work.name} (input ${JSON.stringify(work.input)})`);
    const answer = script(work.input as never, { attempt, driver: this, ...(work.instanceId !== undefined && { instanceId: work.instanceId }) });
    this.#queue.push({ kind: "completion", at: this.#now + (answer.afterMs ?? 0), seq: this.#seq++, taskId: id, work, answer });
  }
}

function describe(s: Scheduled): string {
  switch (s.kind) {
    case "activity":
      return s.attempt > 1 ? `${s.name} (attempt ${s.attempt})` : s.name;
    case "subOrchestration":
      return `sub ${s.name} ${s.instanceId}`;
    case "timer":
      return `${s.retry ? "retry timer" : "timer"} +${s.delayMs / 1000}s`;
    case "waitForEvent":
      return `wait ${s.name}`;
    case "continueAsNew":
      return "continueAsNew";
  }
}

/** Runs an orchestration to its end (or until it waits with nothing to deliver). */
export function runOrchestration(handler: OrchestrationHandler, options: DriverOptions): Promise<RunResult> {
  return new OrchestrationDriver(handler, options).run();
}
