/**
 * Invokes a registered function the way the worker does: through the captured programming model, so the handler gets
 * real `HttpRequest` / `InvocationContext` objects and its result comes back as RpcTypedData.
 */
import { randomUUID } from "node:crypto";

import { describeError } from "../src/domain/errors";
import type { CoreApi } from "./functions-core";
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

export class Invoker {
  constructor(
    private readonly core: CoreApi,
    private readonly observe: InvocationObserver = () => undefined,
    /** Input binding data offered to every function by binding type (the `durableClient` binding). */
    private readonly bindingData: () => Readonly<Record<string, RpcTypedData>> = () => ({}),
    /** Receives what functions log through `context.log` / `context.warn` / … */
    private readonly userLog: (fn: RegisteredFunction, level: string, message: string) => void = () => undefined,
  ) {}

  async invoke(fn: RegisteredFunction, input: InvocationInput): Promise<InvocationResult> {
    const started = performance.now();
    const inputData: { name: string; data: RpcTypedData }[] = [];
    if (input.trigger !== undefined) inputData.push({ name: fn.triggerName, data: input.trigger });
    const offered = { ...this.bindingData(), ...input.extraInputs };
    for (const [name, binding] of Object.entries(fn.metadata.bindings)) {
      const extra = offered[binding.type];
      if (binding.direction === "in" && name !== fn.triggerName && extra !== undefined) inputData.push({ name, data: extra });
    }
    const coreCtx = {
      invocationId: randomUUID(),
      metadata: fn.metadata,
      request: { inputData, triggerMetadata: input.triggerMetadata ?? {} },
      log: (level: string, _category: string, message: string) => this.userLog(fn, level, message),
      state: undefined,
    };
    try {
      const model = this.core.programmingModel().getInvocationModel(coreCtx);
      const { context, inputs } = await model.getArguments();
      const result = await model.invokeFunction(context, inputs, fn.callback);
      const response = await model.getResponse(context, result);
      const durationMs = performance.now() - started;
      this.observe(fn, "Succeeded", durationMs, undefined, input.instanceId);
      return { returnValue: response.returnValue as RpcTypedData | undefined, durationMs };
    } catch (err) {
      this.observe(fn, "Failed", performance.now() - started, err, input.instanceId);
      throw err;
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
