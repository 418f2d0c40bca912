/**
 * Provides the virtual module `@azure/functions-core`, which only the Functions worker normally supplies. Without it
 * `@azure/functions` switches to "test mode" and silently skips every registration, and that failed lookup is cached,
 * so this must be installed before the app (or the library) is first required.
 */
import Module from "node:module";

import { type FunctionCallback, type FunctionMetadata, Registry } from "./registry";

const CORE_MODULE = "@azure/functions-core";

export interface ProgrammingModel {
  getInvocationModel(coreCtx: unknown): InvocationModel;
}

export interface InvocationModel {
  getArguments(): Promise<{ context: unknown; inputs: unknown[] }>;
  invokeFunction(context: unknown, inputs: unknown[], callback: FunctionCallback): Promise<unknown>;
  getResponse(context: unknown, result: unknown): Promise<{ returnValue?: unknown; outputData?: unknown[] }>;
}

export interface CoreApi {
  readonly registry: Registry;
  programmingModel(): ProgrammingModel;
}

type LoadFn = (request: string, parent: unknown, isMain: boolean) => unknown;

let installed: { api: CoreApi; target: { log: (level: string, message: string) => void } } | undefined;

/**
 * Idempotent: modules are cached per process, so a second host in the same process (a restart test) reuses the
 * registrations captured the first time.
 */
export function installFunctionsCore(log: (level: string, message: string) => void): CoreApi {
  if (installed !== undefined) {
    installed.target.log = log;
    return installed.api;
  }
  let pm: ProgrammingModel | undefined;
  const registry = new Registry();
  const target = { log };
  const core = {
    version: "3.10.1",
    hostVersion: "4.1037.0 (local host)",
    setProgrammingModel(model: ProgrammingModel): void {
      if (pm !== undefined && pm !== model) {
        // Each copy of @azure/functions sets its own model; functions registered through both would be served by one.
        target.log("Warning", "two copies of @azure/functions are loaded (check `npm ls @azure/functions`); the last one wins");
      }
      pm = model;
    },
    getProgrammingModel(): ProgrammingModel | undefined {
      return pm;
    },
    registerFunction(metadata: FunctionMetadata, callback: FunctionCallback): { dispose(): void } {
      registry.add(metadata, callback);
      return { dispose: () => undefined };
    },
    registerHook(_name: string, _cb: unknown): { dispose(): void } {
      return { dispose: () => undefined };
    },
    log(level: string, _category: string, message: string): void {
      target.log(level, message);
    },
  };
  const mod = Module as unknown as { _load: LoadFn };
  const original = mod._load;
  mod._load = function load(request: string, parent: unknown, isMain: boolean): unknown {
    if (request === CORE_MODULE) return core;
    return original.call(this, request, parent, isMain);
  };
  const api: CoreApi = {
    registry,
    programmingModel(): ProgrammingModel {
      if (pm === undefined) throw new Error("no programming model: the app did not load @azure/functions");
      return pm;
    },
  };
  installed = { api, target };
  return api;
}
