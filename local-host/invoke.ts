/**
 * Invokes a registered function the way the worker does: through the captured programming model, so the handler gets
 * real `HttpRequest` / `InvocationContext` objects and its result comes back as RpcTypedData. host.json's
 * `functionTimeout` applies to every invocation, as in the real host.
 */
import { randomUUID } from "node:crypto";

import { describeError } from "../src/domain/errors";
import type { CoreApi } from "./functions-core";
import { formatTimeSpan } from "./host-json";
import type { RegisteredFunction } from "./registry";

export interface RpcTypedData {
  string?: string;
  json?: string;
  bytes?: Uint8Array;
  int?: number;
  double?: number;
  http?: RpcHttpData;
}

export interface RpcHttpData {
  method?: string;
  url?: string;
  headers?: Record<string, string>;
  query?: Record<string, string>;
  params?: Record<string, string>;
  body?: RpcTypedData;
  statusCode?: string;
}

export interface InvocationInput {
  /** Trigger data. */
  readonly trigger?: RpcTypedData;
  readonly triggerMetadata?: Record<string, RpcTypedData>;
  /** Extra input bindings by type (e.g. `durableClient`), filled in for every binding of that type. */
  readonly extraInputs?: Readonly<Record<string, RpcTypedData>>;
  /** The Durable instance this invocation works for (an orchestrator episode or an activity), for the observer. */
  readonly instanceId?: string;
}

export interface InvocationResult {
  readonly returnValue?: RpcTypedData;
  readonly durationMs: number;
}

export type InvocationObserver = (
  fn: RegisteredFunction,
  outcome: "Succeeded" | "Failed",
  durationMs: number,
  error?: unknown,
  /** The Durable instance the invocation worked for, when it was an orchestrator or an activity. */
  instanceId?: string,
) => void;

export interface InvokerOptions {
  readonly observe?: InvocationObserver;
  /** Input binding data offered to every function by binding type (the `durableClient` binding). */
  readonly bindingData?: () => Readonly<Record<string, RpcTypedData>>;
  /** Receives what functions log through `context.log` / `context.warn` / … */
  readonly userLog?: (fn: RegisteredFunction, level: string, message: string) => void;
  /** host.json `functionTimeout`; undefined for no limit. */
  readonly timeoutMs?: number;
}

/**
 * The WebJobs executor's FunctionTimeoutException message. Script functions are methods of a generated class named
 * "Functions", so the host names them `Functions.<name>`.
 */
export function functionTimeoutMessage(functionName: string, timeoutMs: number): string {
  return `Timeout value of ${formatTimeSpan(timeoutMs)} was exceeded by function: Functions.${functionName}`;
}

export class Invoker {
  readonly #observe: InvocationObserver;
  readonly #bindingData: () => Readonly<Record<string, RpcTypedData>>;
  readonly #userLog: (fn: RegisteredFunction, level: string, message: string) => void;
  readonly #timeoutMs: number | undefined;

  constructor(
    private readonly core: CoreApi,
    options: InvokerOptions = {},
  ) {
    this.#observe = options.observe ?? (() => undefined);
    this.#bindingData = options.bindingData ?? (() => ({}));
    this.#userLog = options.userLog ?? (() => undefined);
    this.#timeoutMs = options.timeoutMs;
  }

  async invoke(fn: RegisteredFunction, input: InvocationInput): Promise<InvocationResult> {
    const started = performance.now();
    const inputData: { name: string; data: RpcTypedData }[] = [];
    if (input.trigger !== undefined) inputData.push({ name: fn.triggerName, data: input.trigger });
    const offered = { ...this.#bindingData(), ...input.extraInputs };
    for (const [name, binding] of Object.entries(fn.metadata.bindings)) {
      const extra = offered[binding.type];
      if (binding.direction === "in" && name !== fn.triggerName && extra !== undefined) inputData.push({ name, data: extra });
    }
    const coreCtx = {
      invocationId: randomUUID(),
      metadata: fn.metadata,
      request: { inputData, triggerMetadata: input.triggerMetadata ?? {} },
      log: (level: string, _category: string, message: string) => this.#userLog(fn, level, message),
      state: undefined,
    };
    const run = async () => {
      const model = this.core.programmingModel().getInvocationModel(coreCtx);
      const { context, inputs } = await model.getArguments();
      const result = await model.invokeFunction(context, inputs, fn.callback);
      return model.getResponse(context, result);
    };
    try {
      const response = await this.#withTimeout(fn, run());
      const durationMs = performance.now() - started;
      this.#observe(fn, "Succeeded", durationMs, undefined, input.instanceId);
      return { returnValue: response.returnValue as RpcTypedData | undefined, durationMs };
    } catch (err) {
      this.#observe(fn, "Failed", performance.now() - started, err, input.instanceId);
      throw err;
    }
  }

  /**
   * Fails the invocation once `functionTimeout` has passed, with the host's message. Orchestrator episodes are exempt:
   * the library runs them synchronously, so no timer could fire before they end.
   */
  async #withTimeout<T>(fn: RegisteredFunction, work: Promise<T>): Promise<T> {
    const timeoutMs = this.#timeoutMs;
    if (timeoutMs === undefined || fn.triggerType === "orchestrationTrigger") return work;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(functionTimeoutMessage(fn.name, timeoutMs))), timeoutMs);
    });
    try {
      return await Promise.race([work, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * A one-line reason for a failed invocation, described as the app describes its own failures (`describeError`). A
 * failing orchestrator throws the library's OrchestrationFailureError, whose message is "false" + the state JSON after
 * a marker; the state's `error` holds the real reason.
 */
export function describeInvocationError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const at = message.indexOf("$OutOfProcData$:");
  if (at >= 0) {
    try {
      const state = JSON.parse(message.slice(at + "$OutOfProcData$:".length)) as { error?: string };
      if (state.error !== undefined) return describeError(state.error);
    } catch {
      // fall through to the error itself
    }
  }
  return describeError(err);
}

/** RpcTypedData → value, without the library's "parse any string as JSON" guess (a string result stays a string). */
export function fromTypedData(data: RpcTypedData | null | undefined): unknown {
  if (data === null || data === undefined) return undefined;
  if (data.json !== undefined && data.json !== null) return JSON.parse(data.json) as unknown;
  if (data.string !== undefined && data.string !== null) return data.string;
  if (data.int !== undefined && data.int !== null) return Number(data.int);
  if (data.double !== undefined && data.double !== null) return data.double;
  if (data.bytes !== undefined && data.bytes !== null) return Buffer.from(data.bytes).toString("base64");
  return undefined;
}

/** A value as JSON typed data (undefined → no data, as when a binding carries nothing). */
export function jsonData(value: unknown): RpcTypedData | undefined {
  const json = JSON.stringify(value);
  return json === undefined ? undefined : { json };
}
