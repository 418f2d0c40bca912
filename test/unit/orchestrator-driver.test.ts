/**
 * The orchestrator test driver itself: it must number tasks as the Durable extension does (results land on the right
 * tasks, retries included), keep time on its virtual clock, and refuse what Azure would not run correctly — a task
 * yielded twice, a replay that drifts from its history.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import * as df from "durable-functions";

import { DoubleYieldError, NonDeterminismError, OrchestrationDriver, runOrchestration } from "../support/orchestrator-driver";

const retry = (): df.RetryOptions => {
  const r = new df.RetryOptions(1_000, 3);
  r.backoffCoefficient = 2;
  return r;
};

describe("orchestrator driver", { timeout: 30_000 }, () => {
  it("answers activities from the script, with inputs and results through JSON, and records the actions", async () => {
    const chain: OrchestrationHandler = function* (context: OrchestrationContext) {
      const a = (yield context.df.callActivity("Hello", { name: "a", at: new Date(0) })) as string;
      const b = (yield context.df.callActivity("Hello", "b")) as string;
      return [a, b, context.df.getInput()];
    };
    const run = await runOrchestration(chain, {
      input: { n: 1 },
      activities: { Hello: (input: { name?: string; at?: unknown } | string) => ({ result: typeof input === "string" ? `hi ${input}` : `hi ${input.name ?? ""} ${typeof input.at}` }) },
    });
    assert.equal(run.status, "Completed");
    assert.deepEqual(run.output, ["hi a string", "hi b", { n: 1 }]);
    assert.deepEqual(run.trail, ["Hello", "Hello"]);
  });

  it("retries as the extension does: a timer after each failure, results on the right tasks beside a parallel one", async () => {
    const parallel: OrchestrationHandler = function* (context: OrchestrationContext) {
      const flaky = context.df.callActivityWithRetry("Flaky", retry(), "x");
      const steady = context.df.callActivity("Steady", "y");
      return (yield context.df.Task.all([flaky, steady])) as unknown;
    };
    const run = await runOrchestration(parallel, {
      input: null,
      activities: {
        Flaky: (_: string, call) => (call.attempt < 3 ? { error: `failure ${call.attempt}` } : { result: "flaky ok" }),
        Steady: () => ({ result: "steady ok", afterMs: 1_500 }),
      },
    });
    assert.equal(run.status, "Completed", run.error);
    assert.deepEqual(run.output, ["flaky ok", "steady ok"]);
    assert.deepEqual(run.trail, ["Flaky", "Steady", "retry timer +1s", "Flaky (attempt 2)", "retry timer +2s", "Flaky (attempt 3)"]);
    assert.equal(run.now, "2026-01-05T08:00:03.000Z");
  });

  it("surfaces the last failure after the last attempt's retry timer, with the production message", async () => {
    const caught: OrchestrationHandler = function* (context: OrchestrationContext) {
      try {
        yield context.df.callActivityWithRetry("Flaky", retry(), null);
        return "not reached";
      } catch (err) {
        return (err as Error).message;
      }
    };
    const run = await runOrchestration(caught, { input: null, activities: { Flaky: (_: null, call) => ({ error: `failure ${call.attempt}` }) } });
    assert.match(String(run.output), /^Activity function 'Flaky' failed: failure 3/);
    assert.deepEqual(run.trail, ["Flaky", "retry timer +1s", "Flaky (attempt 2)", "retry timer +2s", "Flaky (attempt 3)", "retry timer +4s"]);
  });

  it("replays earlier episodes as replays: a log written only when not replaying appears once per step", async () => {
    const logging: OrchestrationHandler = function* (context: OrchestrationContext) {
      for (const step of ["one", "two", "three"]) {
        yield context.df.callActivity("Hello", step);
        if (!context.df.isReplaying) context.log(`after ${step}`);
      }
    };
    const run = await runOrchestration(logging, { input: null, activities: { Hello: () => ({ result: null }) } });
    assert.deepEqual(run.logs, ["after one", "after two", "after three"]);
  });

  it("reports an orchestrator that throws as Failed with its message", async () => {
    const failing: OrchestrationHandler = function* (context: OrchestrationContext) {
      yield context.df.callActivity("Hello", null);
      throw new Error("gave up");
    };
    const run = await runOrchestration(failing, { input: null, activities: { Hello: () => ({ result: 1 }) } });
    assert.equal(run.status, "Failed");
    assert.match(run.error ?? "", /gave up/);
  });

  it("races an activity against a timer on the virtual clock; a cancelled timer never fires", async () => {
    const race: OrchestrationHandler = function* (context: OrchestrationContext) {
      const work = context.df.callActivity("Slow", null);
      const timer = context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 5_000));
      const first: unknown = yield context.df.Task.any([work, timer]);
      if (first === work) timer.cancel();
      const late = context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 60_000));
      const second = context.df.callActivity("Slow", null);
      const winner: unknown = yield context.df.Task.any([late, second]);
      if (winner === second) late.cancel();
      return [first === work ? "work" : "timer", winner === second ? "work" : "timer", context.df.currentUtcDateTime.toISOString()];
    };
    const slow = await runOrchestration(race, { input: null, activities: { Slow: () => ({ result: null, afterMs: 10_000 }) } });
    assert.deepEqual(slow.output, ["timer", "work", "2026-01-05T08:00:15.000Z"]);
    assert.deepEqual(slow.trail, ["Slow", "timer +5s", "timer +60s", "Slow"]);
  });

  it("delivers an event raised before the orchestration waits for it, and waits (Running) for one never raised", async () => {
    const waits: OrchestrationHandler = function* (context: OrchestrationContext) {
      yield context.df.callActivity("Work", null);
      const first: unknown = yield context.df.waitForExternalEvent("Go");
      const second: unknown = yield context.df.waitForExternalEvent("Go");
      return [first, second];
    };
    const driver = new OrchestrationDriver(waits, {
      input: null,
      activities: {
        Work: (_: null, call) => {
          call.driver.raiseEvent("Go", { n: 1 });
          return { result: null };
        },
      },
    });
    const run = await driver.run();
    assert.equal(run.status, "Running");
    assert.deepEqual(run.trail, ["Work", "wait Go", "wait Go"]);
    driver.raiseEvent("Go", { n: 2 });
    const done = await driver.run();
    assert.equal(done.status, "Completed");
    assert.deepEqual(done.output, [{ n: 1 }, { n: 2 }]);
  });

  it("follows continueAsNew with the new input, or stops there when asked", async () => {
    const counter: OrchestrationHandler = function* (context: OrchestrationContext) {
      const n = context.df.getInput<number>();
      yield context.df.callActivity("Hello", n);
      if (n < 2) {
        context.df.continueAsNew(n + 1);
        return undefined;
      }
      return n;
    };
    const activities = { Hello: () => ({ result: null }) };
    const run = await runOrchestration(counter, { input: 0, activities });
    assert.equal(run.output, 2);
    assert.deepEqual(run.inputs, [0, 1, 2]);
    assert.deepEqual(run.trail, ["Hello", "continueAsNew", "Hello", "continueAsNew", "Hello"]);
    const once = await runOrchestration(counter, { input: 0, activities, followContinueAsNew: false });
    assert.equal(once.status, "ContinuedAsNew");
    assert.deepEqual(once.inputs, [0]);
  });

  it("answers sub-orchestrations from the script, with the ids the parent chose", async () => {
    const parent: OrchestrationHandler = function* (context: OrchestrationContext) {
      const tasks = ["a", "b"].map((x) => context.df.callSubOrchestrator("Child", { x }, `child-${x}`));
      try {
        return (yield context.df.Task.all(tasks)) as unknown;
      } catch (err) {
        return (err as Error).message;
      }
    };
    const run = await runOrchestration(parent, {
      input: null,
      subOrchestrations: { Child: (input: { x: string }, call) => (input.x === "b" ? { error: "child b broke" } : { result: call.instanceId }) },
    });
    assert.match(String(run.output), /Orchestrator function 'Child' failed: child b broke/);
    assert.deepEqual(run.trail, ["sub Child child-a", "sub Child child-b"]);
  });

  it("runs sub-orchestrations for real when given their handlers: the child's time, output and failure reach the parent", async () => {
    const child: OrchestrationHandler = function* (context: OrchestrationContext) {
      const n = context.df.getInput<number>();
      yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 60_000));
      if (n < 0) throw new Error("negative");
      return (yield context.df.callActivity("Double", n)) as number;
    };
    const parent: OrchestrationHandler = function* (context: OrchestrationContext) {
      const a = (yield context.df.callSubOrchestrator("Child", 2, "c-1")) as number;
      try {
        yield context.df.callSubOrchestrator("Child", -1, "c-2");
      } catch (err) {
        return { a, failed: err instanceof Error ? err.message : String(err), at: context.df.currentUtcDateTime.toISOString() };
      }
      return { a };
    };
    const run = await runOrchestration(parent, {
      input: null,
      startAt: "2026-01-05T08:00:00.000Z",
      childOrchestrators: { Child: child },
      activities: { Double: (n: number) => ({ result: n * 2 }) },
    });
    assert.equal(run.status, "Completed", run.error);
    const output = run.output as { a: number; failed: string; at: string };
    assert.equal(output.a, 4);
    assert.match(output.failed, /negative/);
    assert.equal(output.at, "2026-01-05T08:02:00.000Z", "each child's minute passed on the parent's clock");
    assert.deepEqual(run.children.map((c) => [c.instanceId, c.status]), [["c-1", "Completed"], ["c-2", "Failed"]]);
    assert.deepEqual(run.children[0]?.trail, ["timer +60s", "Double"]);
  });

  it("fails the test when a task is yielded a second time", async () => {
    const twice: OrchestrationHandler = function* (context: OrchestrationContext) {
      const work = context.df.callActivity("Slow", null);
      for (;;) {
        const timer = context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 1_000));
        if ((yield context.df.Task.any([work, timer])) === work) return "done";
      }
    };
    await assert.rejects(runOrchestration(twice, { input: null, activities: { Slow: () => ({ result: null, afterMs: 2_500 }) } }), DoubleYieldError);
  });

  it("fails the test when a replay does not match what was scheduled", async () => {
    let calls = 0;
    const drifting: OrchestrationHandler = function* (context: OrchestrationContext) {
      calls += 1;
      yield context.df.callActivity(calls === 1 ? "Hello" : "Other", null);
      return undefined;
    };
    await assert.rejects(runOrchestration(drifting, { input: null, activities: { Hello: () => ({ result: null }), Other: () => ({ result: null }) } }), NonDeterminismError);
  });

  it("fails the test on an activity the script does not know", async () => {
    const unknown: OrchestrationHandler = function* (context: OrchestrationContext) {
      yield context.df.callActivity("Unscripted", 1);
    };
    await assert.rejects(runOrchestration(unknown, { input: null }), /no script for activity Unscripted/);
  });
});
