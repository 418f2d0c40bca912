/**
 * The process-wide settings and clients. Built on first use (not at module load), so registering the functions never
 * fails on configuration; the first invocation that needs them fails with the full list of problems instead.
 */
import { type Clients, createClients } from "./config/clients";
import { loadSettings, type Settings } from "./config/settings";

export interface Runtime {
  readonly settings: Settings;
  readonly clients: Clients;
}

let current: Runtime | undefined;

export function runtime(): Runtime {
  if (current === undefined) {
    const settings = loadSettings(process.env);
    current = { settings, clients: createClients(settings) };
  }
  return current;
}
