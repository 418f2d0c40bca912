/** Helpers for the restore tests, the demo and the benchmark: real backups through the app, times, and content checks. */
import assert from "node:assert/strict";

import type { ContainerClient } from "@azure/storage-blob";

import type { LocalHost } from "../../local-host";
import type { RestoreReport } from "../../src/domain/restore-contracts";
import { Orchestrators } from "../../src/function-names";
import { followStatus, postJson } from "./durable-http";

/**
 * Backs a lake container up the way production does: the producer's starter (scan: snapshot + request per new
 * version), then the queue-triggered backups, until the host is idle. Fails if any backup failed.
 */
export async function backUpThroughTheApp(host: LocalHost, container: string): Promise<void> {
  const started = await postJson(`${host.baseUrl}/api/containers/${container}/backup`);
  assert.equal(started.status, 202, await started.clone().text());
  const status = await followStatus(started.headers.get("location") ?? "");
  assert.equal(status.runtimeStatus, "Completed", JSON.stringify(status.output));
  await host.waitForIdle({ timeoutMs: 120_000 });
  const failed = await host.client.listInstances({ runtimeStatus: ["Failed"] });
  const backups = failed.filter((f) => f.name === Orchestrators.blobBackup || f.name === Orchestrators.containerScan);
  assert.deepEqual(backups.map((f) => `${f.name} ${f.instanceId}: ${JSON.stringify(f.output)}`), []);
}

/**
 * Waits (on the clock, with a deadline) until `at` is at least one whole second in the past. Last-modified times have
 * one-second resolution, so a version written afterwards is strictly later than `at`.
 */
export async function pastSecond(at: Date | string): Promise<void> {
  const target = (typeof at === "string" ? Date.parse(at) : at.getTime()) + 1000;
  const deadline = Date.now() + 5_000;
  while (Date.now() < target) {
    if (Date.now() > deadline) throw new Error("the clock did not advance");
    await new Promise((r) => setTimeout(r, Math.min(100, target - Date.now() + 1)));
  }
}

/** A moment strictly between what was written before it and what is written after it (second resolution). */
export async function momentBetween(): Promise<string> {
  await pastSecond(new Date());
  const moment = new Date();
  await pastSecond(moment);
  return moment.toISOString();
}

/** Starts a restore and follows it to the end; the output must be Completed. */
export async function runRestore(host: LocalHost, body: unknown, timeoutMs = 180_000): Promise<RestoreReport> {
  const started = await postJson(`${host.baseUrl}/api/restore`, body);
  assert.equal(started.status, 202, await started.clone().text());
  const status = await followStatus(started.headers.get("location") ?? "", timeoutMs);
  assert.equal(status.runtimeStatus, "Completed", JSON.stringify(status.output));
  return status.output as RestoreReport;
}

export async function text(container: ContainerClient, name: string): Promise<string> {
  return (await container.getBlobClient(name).downloadToBuffer()).toString("utf8");
}

/** Every blob of a container with its content. */
export async function contents(container: ContainerClient): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  if (!(await container.exists())) return out;
  for await (const blob of container.listBlobsFlat()) out[blob.name] = await text(container, blob.name);
  return out;
}
