/**
 * The functions the app registered through `@azure/functions-core`, as the worker would see them: metadata (bindings
 * keyed by their generated names) and the callback the programming model wraps.
 */
export interface RpcBinding {
  readonly type: string;
  readonly direction?: string;
  readonly [prop: string]: unknown;
}

export interface FunctionMetadata {
  readonly name: string;
  readonly bindings: Readonly<Record<string, RpcBinding>>;
  readonly retryOptions?: unknown;
}

export type FunctionCallback = (...args: unknown[]) => unknown;

export interface RegisteredFunction {
  readonly name: string;
  readonly metadata: FunctionMetadata;
  readonly callback: FunctionCallback;
  /** `httpTrigger`, `queueTrigger`, `timerTrigger`, `orchestrationTrigger`, `activityTrigger`. */
  readonly triggerType: string;
  readonly triggerName: string;
  readonly trigger: RpcBinding;
}

export class Registry {
  readonly #functions = new Map<string, RegisteredFunction>();

  add(metadata: FunctionMetadata, callback: FunctionCallback): void {
    const entry = Object.entries(metadata.bindings).find(([, b]) => b.type.endsWith("Trigger"));
    if (entry === undefined) throw new Error(`function '${metadata.name}' has no trigger binding`);
    const [triggerName, trigger] = entry;
    if (trigger.type === "entityTrigger") {
      throw new Error(`function '${metadata.name}': durable entities are not supported by the local host`);
    }
    if (this.#functions.has(metadata.name)) throw new Error(`function '${metadata.name}' is registered twice`);
    this.#functions.set(metadata.name, { name: metadata.name, metadata, callback, triggerType: trigger.type, triggerName, trigger });
  }

  get(name: string): RegisteredFunction | undefined {
    return this.#functions.get(name);
  }

  byTrigger(type: string): RegisteredFunction[] {
    return [...this.#functions.values()].filter((f) => f.triggerType === type);
  }

  all(): RegisteredFunction[] {
    return [...this.#functions.values()];
  }
}
