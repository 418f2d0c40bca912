/**
 * A small app for the local host's conformance tests: one orchestration per behaviour under test, written the way the
 * product writes them (v4 model, module-scope registration).
 */
import fs from "node:fs";

import { app, type HttpRequest, type HttpResponseInit, type InvocationContext, type Timer } from "@azure/functions";
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import * as df from "durable-functions";

/** A gate the test closes to hold activities in flight (e.g. across a host stop), and opens to let them finish. */
class Gate {
  #opened: Promise<void> = Promise.resolve();
  #open: () => void = () => undefined;
  close(): void {
    this.#opened = new Promise((resolve) => (this.#open = resolve));
  }
  open(): void {
    this.#open();
    this.#opened = Promise.resolve();
  }
  passed(): Promise<void> {
    return this.#opened;
  }
}

/** Test hooks shared with the test process (same process: the host loads this file). */
export const probes = { flakyCalls: new Map<string, number>(), nonDeterministic: false, recordGate: new Gate() };

df.app.activity("Hello", { handler: (name: string) => `Hello ${name}` });
df.app.activity("Double", { handler: (n: number) => n * 2 });

/** Fails `failures` times per key, then answers. */
df.app.activity("Flaky", {
  handler: (input: { key: string; failures: number }) => {
    const calls = (probes.flakyCalls.get(input.key) ?? 0) + 1;
    probes.flakyCalls.set(input.key, calls);
    if (calls <= input.failures) throw new Error(`flaky failure ${calls}`);
    return { calls };
  },
});

/**
 * Appends its name to a file when it starts, so a test can count executions across host restarts; then finishes once
 * `probes.recordGate` is open (it is, unless a test closed it).
 */
df.app.activity("Record", {
  handler: async (input: { file: string; step: string }) => {
    fs.appendFileSync(input.file, `${input.step}\n`);
    await probes.recordGate.passed();
    return input.step;
  },
});

const fanOut: OrchestrationHandler = function* (context: OrchestrationContext) {
  const n = context.df.getInput<number>();
  const results = (yield context.df.Task.all(Array.from({ length: n }, (_, i) => context.df.callActivity("Double", i)))) as number[];
  return results.reduce((a, b) => a + b, 0);
};
df.app.orchestration("FanOut", fanOut);

const retry: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<{ key: string; failures: number; attempts: number }>();
  const options = new df.RetryOptions(1000, input.attempts);
  options.backoffCoefficient = 2;
  try {
    const result = (yield context.df.callActivityWithRetry("Flaky", options, { key: input.key, failures: input.failures })) as { calls: number };
    return result;
  } catch (err) {
    return { error: (err as Error).message };
  }
};
df.app.orchestration("Retry", retry);

const race: OrchestrationHandler = function* (context: OrchestrationContext) {
  const deadline = new Date(context.df.currentUtcDateTime.getTime() + 3600_000);
  const timer = context.df.createTimer(deadline);
  const work = context.df.callActivity("Hello", "race");
  const winner = (yield context.df.Task.any([work, timer])) as unknown;
  if (winner === work) {
    timer.cancel();
    return work.result;
  }
  return "timeout";
};
df.app.orchestration("Race", race);

const longTimer: OrchestrationHandler = function* (context: OrchestrationContext) {
  const start = context.df.currentUtcDateTime.getTime();
  yield context.df.createTimer(new Date(start + 30 * 24 * 3600_000));
  return (context.df.currentUtcDateTime.getTime() - start) / (24 * 3600_000);
};
df.app.orchestration("LongTimer", longTimer);

const failingChild: OrchestrationHandler = function* () {
  yield* [];
  throw new Error("child broke");
};
df.app.orchestration("FailingChild", failingChild);

const parent: OrchestrationHandler = function* (context: OrchestrationContext) {
  try {
    yield context.df.callSubOrchestrator("FailingChild", { why: "test" });
    return "not caught";
  } catch (err) {
    const after = (yield context.df.callActivity("Hello", "after")) as string;
    return { caught: (err as Error).message, after };
  }
};
df.app.orchestration("Parent", parent);

const counter: OrchestrationHandler = function* (context: OrchestrationContext) {
  const n = context.df.getInput<number>();
  const greeting = (yield context.df.callActivity("Hello", `round ${n}`)) as string;
  if (n < 2) {
    context.df.continueAsNew(n + 1);
    return undefined;
  }
  return { n, greeting };
};
df.app.orchestration("Counter", counter);

const approval: OrchestrationHandler = function* (context: OrchestrationContext) {
  context.df.setCustomStatus("waiting");
  const decision = (yield context.df.waitForExternalEvent("Approval")) as { approved: boolean };
  context.df.setCustomStatus("decided");
  return decision;
};
df.app.orchestration("Approval", approval);

/** Schedules a different activity once the test flips the probe: a replay that no longer matches its history. */
const drifting: OrchestrationHandler = function* (context: OrchestrationContext) {
  yield context.df.callActivity(probes.nonDeterministic ? "Double" : "Hello", 1);
  yield context.df.waitForExternalEvent("Go");
  return "done";
};
df.app.orchestration("Drifting", drifting);

const steps: OrchestrationHandler = function* (context: OrchestrationContext) {
  const file = context.df.getInput<string>();
  const a = (yield context.df.callActivity("Record", { file, step: "A" })) as string;
  yield context.df.waitForExternalEvent("Continue");
  const b = (yield context.df.callActivity("Record", { file, step: "B" })) as string;
  return [a, b];
};
df.app.orchestration("Steps", steps);

/** An unmodified HTTP starter, as the product writes them. */
app.http("StartOrchestration", {
  route: "orchestrators/{name}",
  methods: ["POST"],
  authLevel: "function",
  extraInputs: [df.input.durableClient()],
  handler: async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    const client = df.getClient(context);
    const body = await request.text();
    const instanceId = await client.startNew(request.params.name ?? "", { input: body === "" ? undefined : (JSON.parse(body) as unknown) });
    return client.createCheckStatusResponse(request, instanceId);
  },
});

app.http("Echo", {
  route: "echo/{*rest}",
  methods: ["GET"],
  authLevel: "anonymous",
  handler: (request: HttpRequest): HttpResponseInit => ({ jsonBody: { rest: request.params.rest ?? null, q: request.query.get("q") } }),
});

/** A timer starter: the durable client binding works outside HTTP triggers too. */
app.timer("NightlyStart", {
  schedule: "0 0 2 * * *",
  extraInputs: [df.input.durableClient()],
  handler: async (timer: Timer, context: InvocationContext): Promise<void> => {
    await df.getClient(context).startNew("Counter", { instanceId: "nightly", input: timer.isPastDue ? 0 : 2 });
  },
});

/** Drives the real DurableClient through its rpcBaseUrl calls and reports what it saw. */
app.http("ClientProbe", {
  route: "client-probe",
  methods: ["POST"],
  extraInputs: [df.input.durableClient()],
  handler: async (_request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    const client = df.getClient(context);
    const settle = async (id: string, done: (s: df.DurableOrchestrationStatus) => boolean): Promise<df.DurableOrchestrationStatus> => {
      for (const deadline = Date.now() + 10_000; ; await new Promise((r) => setTimeout(r, 20))) {
        const s = await client.getStatus(id);
        if (done(s)) return s;
        if (Date.now() > deadline) throw new Error(`${id} still ${s.runtimeStatus} after 10 s`);
      }
    };
    const id = await client.startNew("Approval", { instanceId: "probe-1" });
    const waiting = await settle(id, (s) => s.customStatus === "waiting");
    await client.raiseEvent(id, "Approval", { approved: true });
    const done = await settle(id, (s) => s.runtimeStatus === df.OrchestrationRuntimeStatus.Completed);
    const completed = await client.getStatusBy({ runtimeStatus: [df.OrchestrationRuntimeStatus.Completed] });
    const purged = await client.purgeInstanceHistory(id);
    const other = await client.startNew("Approval", { instanceId: "probe-2" });
    await settle(other, (s) => s.runtimeStatus === df.OrchestrationRuntimeStatus.Running);
    await client.terminate(other, "enough");
    const terminated = await settle(other, (s) => s.runtimeStatus === df.OrchestrationRuntimeStatus.Terminated);
    let missing = "";
    try {
      await client.getStatus("probe-1");
    } catch (err) {
      missing = (err as Error).message;
    }
    return {
      jsonBody: {
        waiting: waiting.runtimeStatus,
        output: done.output,
        completedIds: completed.map((s) => s.instanceId),
        purged: purged.instancesDeleted,
        terminated: { status: terminated.runtimeStatus, output: terminated.output },
        missing,
      },
    };
  },
});

/** Fails its first run for a key (through Flaky without retry), succeeds afterwards. */
const flakyChild: OrchestrationHandler = function* (context: OrchestrationContext) {
  const key = context.df.getInput<string>();
  return (yield context.df.callActivity("Flaky", { key, failures: 1 })) as { calls: number };
};
df.app.orchestration("FlakyChild", flakyChild);

const retryChild: OrchestrationHandler = function* (context: OrchestrationContext) {
  const result = (yield context.df.callSubOrchestratorWithRetry("FlakyChild", new df.RetryOptions(500, 3), context.df.getInput<string>())) as { calls: number };
  return result;
};
df.app.orchestration("RetryChild", retryChild);

/** Lets an activity failure escape: the instance fails. */
const unhandled: OrchestrationHandler = function* (context: OrchestrationContext) {
  yield context.df.callActivity("Flaky", { key: context.df.getInput<string>(), failures: 99 });
  return "unreachable";
};
df.app.orchestration("Unhandled", unhandled);

df.app.activity("Shapes", { handler: () => ({ at: new Date(0), gone: undefined, kept: null }) });

/** What an activity's result looks like after the JSON boundary. */
const shapes: OrchestrationHandler = function* (context: OrchestrationContext) {
  const value = (yield context.df.callActivity("Shapes")) as Record<string, unknown>;
  return { atType: typeof value.at, at: value.at, keys: Object.keys(value).sort() };
};
df.app.orchestration("JsonShapes", shapes);
