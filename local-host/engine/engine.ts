/**
 * The orchestration engine: a task hub in memory (optionally mirrored to a directory). It runs episodes, numbers the
 * tasks exactly as the library does, runs activities with bounded concurrency, and fires durable timers.
 *
 * Sequence ids (reference §3): new actions take ids in order, depth-first; a retryable task's failure takes the next id
 * for its retry timer and that timer's firing takes the next id for the new attempt, both while the event is replayed.
 * A long timer's intermediate firing likewise takes an id for the next leg. Such "internal" events never resume user
 * code, so delivering them first in an episode makes their ids precede those of the episode's new actions.
 */
import { randomUUID } from "node:crypto";

import type { Invoker } from "../invoke";
import type { Registry } from "../registry";
import { ActivityPool } from "./activity-pool";
import { type Clock, VirtualClock } from "./clock";
import { runEpisode } from "./episode";
import {
  type Action,
  actionSignature,
  ActionType,
  decodeProcessedInput,
  event,
  EventType,
  flattenActions,
  type HistoryEvent,
  jsonRoundTrip,
} from "./history";
import {
  actionLimitIndex,
  actionLimitMessage,
  checkDeterminism,
  childInstanceId,
  customStatusError,
  scheduleAction,
  type Started,
  takeInternalIds,
} from "./sequencing";
import type { InstanceStore } from "./store";
import { TimerQueue } from "./timer-queue";
import { type Completion, type InboxItem, type Instance, type Pending, type RuntimeStatus, TERMINAL, type Work } from "./types";

export interface EngineOptions {
  readonly registry: Registry;
  readonly invoker: Invoker;
  readonly clock: Clock;
  readonly maxConcurrentActivities: number;
  /** host.json extensions.durableTask.maxOrchestrationActions. */
  readonly maxOrchestrationActions: number;
  readonly store?: InstanceStore;
  readonly log: (message: string) => void;
}

/** How long an episode may wait for more completions of a running fan-out (see #hold). */
const EPISODE_BATCH_MS = 20;

export class ConflictError extends Error {}

/** Counters for the benchmark: how much replay the host did and how long the orchestrator invocations took. */
export interface EngineStats {
  episodes: number;
  replayedEvents: number;
  episodeMs: number;
  activities: number;
}

export class Engine {
  readonly #opts: EngineOptions;
  readonly #instances = new Map<string, Instance>();
  readonly #ready = new Set<string>();
  readonly #running = new Set<string>();
  readonly #activities: ActivityPool;
  /** Activities queued or running per instance, and when each instance's oldest undelivered event arrived. */
  readonly #inboxSince = new Map<string, number>();
  readonly #lastEpisodeMs = new Map<string, number>();
  /** Per instance: the JSON of its (append-only, already played) history prefix, extended each episode. */
  readonly #historyJson = new Map<string, { executionId: string; count: number; json: string }>();
  #holdTimer: NodeJS.Timeout | undefined;
  readonly #timers: TimerQueue;
  #pumpScheduled = false;
  #stopped = false;
  #executionCounter = 0;
  readonly #listeners = new Set<() => void>();
  readonly stats: EngineStats = { episodes: 0, replayedEvents: 0, episodeMs: 0, activities: 0 };

  constructor(opts: EngineOptions) {
    this.#opts = opts;
    this.#timers = new TimerQueue(opts.clock);
    this.#activities = new ActivityPool(opts.registry, opts.invoker, opts.maxConcurrentActivities, (job, outcome) => {
      this.stats.activities++;
      if (this.#stopped) return;
      this.#complete(job.instanceId, job.executionId, job.taskId, outcome);
      this.#schedulePump();
    });
  }

  /** Loads persisted instances and restarts their outstanding work (activities, timers, episodes). */
  restore(): void {
    const loaded = this.#opts.store?.loadAll() ?? [];
    // All instances first: a parent's pending sub-orchestration must find its persisted child.
    for (const inst of loaded) this.#instances.set(inst.instanceId, inst);
    for (const inst of loaded) {
      if (TERMINAL.has(inst.runtimeStatus)) continue;
      for (const [id, p] of Object.entries(inst.pending)) this.#startPending(inst, Number(id), p);
      if (inst.inbox.length > 0) this.#ready.add(inst.instanceId);
    }
    this.#schedulePump();
  }

  // ---- client operations ----

  startNew(name: string, options: { instanceId?: string; input?: unknown } = {}): string {
    const fn = this.#opts.registry.get(name);
    if (fn?.triggerType !== "orchestrationTrigger") throw new Error(`The function '${name}' doesn't exist, is disabled, or is not an orchestrator function.`);
    const instanceId = options.instanceId ?? randomUUID().replaceAll("-", "");
    const existing = this.#instances.get(instanceId);
    if (existing !== undefined && !TERMINAL.has(existing.runtimeStatus)) {
      throw new ConflictError(`An instance with ID '${instanceId}' already exists.`);
    }
    this.#create(instanceId, name, jsonRoundTrip(options.input));
    return instanceId;
  }

  get(instanceId: string): Instance | undefined {
    return this.#instances.get(instanceId);
  }

  list(): Instance[] {
    return [...this.#instances.values()];
  }

  raiseEvent(instanceId: string, name: string, data: unknown): "ok" | "notFound" | "gone" {
    const inst = this.#instances.get(instanceId);
    if (inst === undefined) return "notFound";
    if (TERMINAL.has(inst.runtimeStatus)) return "gone";
    const input = JSON.stringify(data);
    this.#deliver(inst, { event: event(EventType.EventRaised, this.#now(), { Name: name, Input: input ?? null }) });
    return "ok";
  }

  terminate(instanceId: string, reason: string): "ok" | "notFound" | "gone" {
    const inst = this.#instances.get(instanceId);
    if (inst === undefined) return "notFound";
    if (TERMINAL.has(inst.runtimeStatus)) return "gone";
    inst.history.push(event(EventType.ExecutionTerminated, this.#now(), { Input: JSON.stringify(reason) }));
    this.#finish(inst, "Terminated", reason, { failed: true, reason: `Orchestration terminated: ${reason}`, details: "" });
    return "ok";
  }

  suspend(instanceId: string, reason: string): "ok" | "notFound" | "gone" {
    const inst = this.#instances.get(instanceId);
    if (inst === undefined) return "notFound";
    if (TERMINAL.has(inst.runtimeStatus)) return "gone";
    if (inst.runtimeStatus !== "Suspended") {
      inst.runtimeStatus = "Suspended";
      // Through the inbox, so an episode running right now cannot lose it; the library ignores both event types.
      inst.inbox.push({ event: event(EventType.ExecutionSuspended, this.#now(), { Reason: reason }) });
      this.#touch(inst);
    }
    return "ok";
  }

  resume(instanceId: string, reason: string): "ok" | "notFound" | "gone" {
    const inst = this.#instances.get(instanceId);
    if (inst === undefined) return "notFound";
    if (TERMINAL.has(inst.runtimeStatus)) return "gone";
    if (inst.runtimeStatus === "Suspended") {
      inst.runtimeStatus = "Running";
      this.#deliver(inst, { event: event(EventType.ExecutionResumed, this.#now(), { Reason: reason }) });
      this.#touch(inst);
    }
    return "ok";
  }

  purge(instanceId: string): number {
    const inst = this.#instances.get(instanceId);
    if (inst === undefined) return 0;
    if (!TERMINAL.has(inst.runtimeStatus)) throw new ConflictError(`Instance '${instanceId}' is not in a terminal state.`);
    this.#instances.delete(instanceId);
    this.#opts.store?.delete(instanceId);
    this.#emit();
    return 1;
  }

  // ---- progress ----

  /** True when no episode or activity is running or waiting to run. */
  isQuiescent(): boolean {
    return this.#ready.size === 0 && this.#running.size === 0 && this.#activities.idle;
  }

  pendingTimers(): number {
    return this.#timers.size;
  }

  /** Virtual clock: move time forward and fire the timers now due. */
  advanceTo(ms: number): void {
    const clock = this.#opts.clock;
    if (!(clock instanceof VirtualClock)) throw new Error("advanceTime needs the virtual clock (startLocalHost({ clock: \"virtual\" }))");
    clock.set(ms);
    this.#timers.fireDue();
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  stop(): void {
    this.#stopped = true;
    this.#timers.stop();
    this.#opts.store?.close();
  }

  // ---- internals ----

  #now(): number {
    return this.#opts.clock.now();
  }

  #emit(): void {
    for (const l of this.#listeners) l();
  }

  #touch(inst: Instance): void {
    inst.lastUpdatedTime = new Date(this.#now()).toISOString();
    this.#opts.store?.save(inst);
    this.#emit();
  }

  #newExecutionId(): string {
    return `${Date.now().toString(36)}${(this.#executionCounter++).toString(36)}`;
  }

  #create(instanceId: string, name: string, input: unknown, parent?: Instance["parent"]): Instance {
    const now = this.#now();
    const iso = new Date(now).toISOString();
    const inst: Instance = {
      instanceId,
      name,
      executionId: this.#newExecutionId(),
      input,
      runtimeStatus: "Pending",
      createdTime: iso,
      lastUpdatedTime: iso,
      output: null,
      customStatus: null,
      ...(parent !== undefined ? { parent } : {}),
      history: [],
      inbox: [],
      nextId: 0,
      leaves: [],
      pending: {},
    };
    this.#instances.set(instanceId, inst);
    this.#deliver(inst, { event: this.#executionStarted(inst, now) });
    return inst;
  }

  #executionStarted(inst: Instance, at: number): HistoryEvent {
    const parent = inst.parent !== undefined ? { ParentInstance: { OrchestrationInstance: { InstanceId: inst.parent.instanceId } } } : {};
    return event(EventType.ExecutionStarted, at, { Name: inst.name, Version: "", Input: JSON.stringify(inst.input) ?? null, ...parent });
  }

  #deliver(inst: Instance, item: InboxItem): void {
    inst.inbox.push(item);
    if (inst.runtimeStatus !== "Suspended") this.#ready.add(inst.instanceId);
    this.#opts.store?.save(inst);
    this.#schedulePump();
  }

  #schedulePump(): void {
    if (this.#pumpScheduled || this.#stopped) return;
    this.#pumpScheduled = true;
    setImmediate(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    if (this.#stopped) return;
    for (const id of [...this.#ready]) {
      if (this.#running.has(id)) continue;
      this.#ready.delete(id);
      const inst = this.#instances.get(id);
      if (inst === undefined || TERMINAL.has(inst.runtimeStatus) || inst.runtimeStatus === "Suspended" || inst.inbox.length === 0) continue;
      if (this.#hold(id)) continue;
      this.#inboxSince.delete(id);
      this.#running.add(id);
      this.#episode(inst)
        .catch((err: unknown) => this.#fail(inst, `local host error: ${err instanceof Error ? err.message : String(err)}`, ""))
        .finally(() => {
          this.#running.delete(id);
          if (inst.inbox.length > 0 && !TERMINAL.has(inst.runtimeStatus) && inst.runtimeStatus !== "Suspended") this.#ready.add(id);
          this.#schedulePump();
          this.#emit();
        });
    }
    this.#activities.drain();
    if (this.isQuiescent()) {
      this.#emit();
      if (this.#opts.clock.virtual) this.#autoAdvance();
    }
  }

  /**
   * Batches completions: while an instance still has activities queued or running, its next episode waits for more
   * of them — EPISODE_BATCH_MS, or twice its last episode's duration when longer, so a big fan-out spends at most
   * about a third of its time replaying instead of replaying its whole history once per result.
   */
  #hold(id: string): boolean {
    if (this.#activities.outstanding(id) === 0) return false;
    const since = this.#inboxSince.get(id) ?? performance.now();
    this.#inboxSince.set(id, since);
    const window = Math.max(EPISODE_BATCH_MS, 2 * (this.#lastEpisodeMs.get(id) ?? 0));
    const wait = since + window - performance.now();
    if (wait <= 0) return false;
    this.#ready.add(id);
    if (this.#holdTimer === undefined) {
      this.#holdTimer = setTimeout(() => {
        this.#holdTimer = undefined;
        this.#schedulePump();
      }, Math.ceil(wait));
    }
    return true;
  }

  /** Virtual clock: when nothing else can progress, jump to the next timer (after a moment for client calls). */
  #autoAdvance(): void {
    setTimeout(() => {
      if (this.#stopped || !this.isQuiescent()) return;
      const next = this.#timers.next();
      if (next !== undefined) this.advanceTo(next);
    }, 5);
  }

  async #episode(inst: Instance): Promise<void> {
    const fn = this.#opts.registry.get(inst.name);
    if (fn === undefined) {
      this.#fail(inst, `The function '${inst.name}' doesn't exist, is disabled, or is not an orchestrator function.`, "");
      return;
    }
    const executionId = inst.executionId;
    const lastStart = inst.history.reduce((t, e) => (e.EventType === EventType.OrchestratorStarted ? Date.parse(e.Timestamp) : t), 0);
    const now = Math.max(this.#now(), lastStart);
    const items = inst.inbox.splice(0, inst.inbox.length);
    const started: Started[] = [];
    const internal: HistoryEvent[] = [];
    const normal: HistoryEvent[] = [];
    for (const item of items) {
      const taken = takeInternalIds(inst, item, now);
      if (taken === undefined) {
        normal.push(item.event);
      } else {
        internal.push(item.event, ...taken.events);
        started.push(...taken.started);
      }
    }
    if (inst.runtimeStatus === "Pending") inst.runtimeStatus = "Running";
    const episodeHistory = [...inst.history, event(EventType.OrchestratorStarted, now), ...internal, ...normal];
    const prefix = this.#extendHistoryJson(inst);
    const episodeStarted = performance.now();
    const result = await runEpisode(this.#opts.invoker, fn, {
      instanceId: inst.instanceId,
      input: inst.input,
      history: episodeHistory,
      ...(prefix !== undefined ? { historyPrefix: prefix } : {}),
      ...(inst.parent !== undefined ? { parentInstanceId: inst.parent.instanceId } : {}),
    });
    this.stats.episodes++;
    this.stats.replayedEvents += episodeHistory.length;
    const episodeMs = performance.now() - episodeStarted;
    this.stats.episodeMs += episodeMs;
    this.#lastEpisodeMs.set(inst.instanceId, episodeMs);
    if (inst.executionId !== executionId || TERMINAL.has(inst.runtimeStatus)) return; // terminated meanwhile
    // Everything this episode saw is "played" from now on (the library reports replays from IsPlayed).
    for (let i = inst.history.length; i < episodeHistory.length; i++) episodeHistory[i] = { ...episodeHistory[i], IsPlayed: true } as HistoryEvent;
    inst.history = episodeHistory;
    const failed = (message: string) => `Orchestrator function '${inst.name}' failed: ${message}`;
    const state = result.state;
    if (state === undefined) {
      // The invocation failed before the library produced a state: nothing was scheduled.
      if (!result.ok) this.#fail(inst, failed(result.message), result.details);
      return;
    }
    // The extension's out-of-process shim sets the custom status first, so an oversized one fails the episode before
    // any of its actions is scheduled.
    const statusError = customStatusError(state.customStatus);
    if (statusError !== undefined) {
      this.#fail(inst, failed(statusError), "");
      return;
    }
    inst.customStatus = jsonRoundTrip(state.customStatus) ?? null;
    const leaves = flattenActions(state.actions);
    const mismatch = checkDeterminism(inst, leaves);
    if (mismatch !== undefined) {
      this.#fail(inst, mismatch, "");
      return;
    }
    // The shim then replays every action in order, so those before the one past the limit are still scheduled.
    const overLimit = actionLimitIndex(inst, leaves, this.#opts.maxOrchestrationActions);
    let continueAsNew: Action | undefined;
    for (let i = 0; i < (overLimit >= 0 ? overLimit : leaves.length); i++) {
      const action = leaves[i];
      if (action === undefined) continue;
      if (action.actionType === ActionType.ContinueAsNew) continueAsNew = action;
      if (i < inst.leaves.length) continue;
      const scheduled = scheduleAction(inst, action, now);
      if ("error" in scheduled) {
        this.#fail(inst, scheduled.error, "");
        return;
      }
      inst.history.push(...scheduled.events);
      started.push(...scheduled.started);
      inst.leaves.push(actionSignature(action));
    }
    if (overLimit >= 0) {
      this.#fail(inst, failed(actionLimitMessage(this.#opts.maxOrchestrationActions)), "");
      this.#startSentWork(inst, started);
      return;
    }
    if (!result.ok) {
      this.#fail(inst, failed(result.message), result.details);
      this.#startSentWork(inst, started);
      return;
    }
    if (state.isDone && continueAsNew !== undefined) {
      this.#startSentWork(inst, started);
      this.#continueAsNew(inst, decodeProcessedInput(continueAsNew.input), now);
      return;
    }
    if (state.isDone) {
      inst.history.push(event(EventType.OrchestratorCompleted, now));
      inst.history.push(event(EventType.ExecutionCompleted, now, { OrchestrationStatus: "Completed", Result: JSON.stringify(state.output) ?? null }));
      this.#finish(inst, "Completed", jsonRoundTrip(state.output) ?? null);
      this.#startSentWork(inst, started);
      return;
    }
    inst.history.push(event(EventType.OrchestratorCompleted, now));
    this.#markPlayed(inst);
    this.#touch(inst);
    for (const { taskId, pending } of started) this.#startPending(inst, taskId, pending);
  }

  /**
   * Activities and sub-orchestrations scheduled by an episode that also ended its execution still run: DTFx sends
   * every message an episode produced along with its completion. Their results then find no running execution.
   */
  #startSentWork(inst: Instance, started: readonly Started[]): void {
    for (const { taskId, pending } of started) if (pending.kind === "task") this.#startPending(inst, taskId, pending);
  }

  /** Serializes the new part of the instance's played history once; undefined for an empty history. */
  #extendHistoryJson(inst: Instance): { count: number; json: string } | undefined {
    let cached = this.#historyJson.get(inst.instanceId);
    if (cached?.executionId !== inst.executionId || cached.count > inst.history.length) {
      cached = { executionId: inst.executionId, count: 0, json: "" };
    }
    if (cached.count < inst.history.length) {
      const added = inst.history.slice(cached.count).map((e) => JSON.stringify(e));
      cached.json = cached.count === 0 ? added.join(",") : `${cached.json},${added.join(",")}`;
      cached.count = inst.history.length;
    }
    this.#historyJson.set(inst.instanceId, cached);
    return cached.count > 0 ? { count: cached.count, json: cached.json } : undefined;
  }

  /** Events this host appended after an episode (scheduled, completed markers) are played in the next one. */
  #markPlayed(inst: Instance): void {
    for (let i = inst.history.length - 1; i >= 0; i--) {
      const e = inst.history[i];
      if (e === undefined || e.IsPlayed) break;
      inst.history[i] = { ...e, IsPlayed: true };
    }
  }

  #startPending(inst: Instance, taskId: number, pending: Pending): void {
    const executionId = inst.executionId;
    if (pending.kind === "timer") {
      this.#timers.add({
        at: Date.parse(pending.fireAt),
        owner: inst.instanceId,
        taskId,
        fire: () => {
          if (inst.executionId !== executionId || inst.pending[taskId] !== pending || TERMINAL.has(inst.runtimeStatus)) return;
          delete inst.pending[taskId];
          this.#deliver(inst, { event: event(EventType.TimerFired, this.#now(), { TimerId: taskId, FireAt: pending.fireAt }), firedTimer: pending });
        },
      });
      return;
    }
    if (pending.work.kind === "activity") {
      this.#activities.enqueue({ instanceId: inst.instanceId, executionId, taskId, work: pending.work });
      this.#schedulePump();
      return;
    }
    this.#startChild(inst, taskId, pending.work);
  }

  #startChild(parent: Instance, taskId: number, work: Work): void {
    const childId = childInstanceId(parent, work, taskId);
    const existing = this.#instances.get(childId);
    if (existing !== undefined && existing.parent?.instanceId === parent.instanceId && existing.parent.taskId === taskId) return; // restored
    if (existing !== undefined && !TERMINAL.has(existing.runtimeStatus)) {
      this.#complete(parent.instanceId, parent.executionId, taskId, { failed: true, reason: `An instance with ID '${childId}' already exists.`, details: "" });
      return;
    }
    if (this.#opts.registry.get(work.name)?.triggerType !== "orchestrationTrigger") {
      this.#complete(parent.instanceId, parent.executionId, taskId, { failed: true, reason: `The function '${work.name}' doesn't exist, is disabled, or is not an orchestrator function.`, details: "" });
      return;
    }
    this.#create(childId, work.name, work.input, { instanceId: parent.instanceId, executionId: parent.executionId, taskId });
  }

  /** Delivers the completion of an activity or sub-orchestration to the instance that scheduled it. */
  #complete(instanceId: string, executionId: string, taskId: number, outcome: Completion): void {
    const inst = this.#instances.get(instanceId);
    const pending = inst?.pending[taskId];
    if (inst === undefined || inst.executionId !== executionId || pending?.kind !== "task" || TERMINAL.has(inst.runtimeStatus)) return;
    delete inst.pending[taskId];
    const activity = pending.work.kind === "activity";
    const at = this.#now();
    if (!outcome.failed) {
      const type = activity ? EventType.TaskCompleted : EventType.SubOrchestrationInstanceCompleted;
      this.#deliver(inst, { event: event(type, at, { TaskScheduledId: taskId, Result: outcome.result }) });
      return;
    }
    const type = activity ? EventType.TaskFailed : EventType.SubOrchestrationInstanceFailed;
    this.#deliver(inst, {
      event: event(type, at, { TaskScheduledId: taskId, Reason: outcome.reason, Details: outcome.details }),
      ...(pending.work.retry !== undefined ? { failedWork: pending.work } : {}),
    });
  }

  #continueAsNew(inst: Instance, input: unknown, now: number): void {
    inst.executionId = this.#newExecutionId();
    inst.input = jsonRoundTrip(input) ?? null;
    inst.history = [];
    inst.nextId = 0;
    inst.leaves = [];
    delete inst.extraTimerLegs;
    inst.pending = {};
    this.#timers.remove((t) => t.owner === inst.instanceId);
    // Events not yet processed belong to the old execution (preserveUnprocessedEvents is off by default).
    inst.inbox = [];
    inst.customStatus = null;
    this.#deliver(inst, { event: this.#executionStarted(inst, now) });
    this.#touch(inst);
  }

  #fail(inst: Instance, message: string, details: string): void {
    inst.history.push(event(EventType.ExecutionCompleted, this.#now(), { OrchestrationStatus: "Failed", Result: JSON.stringify(message) }));
    this.#finish(inst, "Failed", message, { failed: true, reason: message, details });
  }

  #finish(inst: Instance, status: RuntimeStatus, output: unknown, parentOutcome?: Completion): void {
    inst.runtimeStatus = status;
    inst.output = output;
    inst.pending = {};
    inst.inbox = [];
    this.#ready.delete(inst.instanceId);
    this.#lastEpisodeMs.delete(inst.instanceId);
    this.#historyJson.delete(inst.instanceId);
    this.#timers.remove((t) => t.owner === inst.instanceId);
    this.#touch(inst);
    const parent = inst.parent;
    if (parent !== undefined) {
      const outcome: Completion = parentOutcome ?? { failed: false, result: JSON.stringify(output) ?? "null" };
      this.#complete(parent.instanceId, parent.executionId, parent.taskId, outcome);
    }
  }
}
