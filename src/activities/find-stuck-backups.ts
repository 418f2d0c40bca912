/**
 * Reconciliation's look at the backups themselves (src/domain/stuck-backups.ts): blob backup and batch backup
 * instances that failed or were terminated, instances running or pending longer than COPY_TIMEOUT_MINUTES, and source
 * blobs still leased by such a blob backup past LEASE_SECONDS. Unless it is a dry run it also repairs them, through
 * the request path reconciliation already uses: a stuck instance is terminated (and awaited), a lease the backup left
 * is released, and the backup's own message — its request, or its whole batch — is sent to the backup queue again,
 * where the queue trigger restarts a failed or terminated instance under the same id
 * (src/domain/blob-backup-instance.ts).
 *
 * A batch's leases are not looked for: a batch version's lease id derives from a GUID in the instance's history, not
 * from its id, and a batch only leases while it copies, renewing the lease as it goes (src/storage/batch-copy.ts), so
 * a lease it leaves behind expires within LEASE_SECONDS.
 *
 * Idempotent: a second run finds what the first left (a restarted instance is Running with a new creation time),
 * terminating or releasing twice is harmless, and a request sent twice starts the instance once.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";

import type { BlobAccount } from "../config/clients";
import type { Settings } from "../config/settings";
import { backupLeaseId } from "../domain/backup-lease-id";
import { backupTargetOf, type ContainerPolicy } from "../domain/container-policy";
import { describeError } from "../domain/errors";
import { mapBounded } from "../domain/map-bounded";
import {
  emptyStuckReport,
  failureLine,
  findStuckInputSchema,
  type InstanceSummary,
  isBackupInstanceId,
  leaseOverdue,
  MAX_STUCK_SAMPLES,
  type StuckBackup,
  stuckBackupOf,
  type StuckBackupsReport,
  type StuckTarget,
} from "../domain/stuck-backups";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { isLeasedWith, releaseLeaseWith } from "../storage/backup-lease-probe";
import type { BackupQueueSender } from "../storage/backup-queue";
import { createBackupQueueSender } from "../storage/backup-queue";

/** The durable client calls this activity makes (the real `DurableClient` has them; tests may pass a stand-in). */
export type InstanceClient = Pick<df.DurableClient, "getStatusBy" | "getStatus" | "terminate">;

export interface FindStuckDeps {
  readonly source: BlobAccount;
  readonly sender: BackupQueueSender;
  readonly settings: Pick<Settings, "copyTimeoutMinutes" | "leaseSeconds"> & ContainerPolicy;
  /** How long to wait for a terminated instance to show Terminated before its request is sent again. */
  readonly terminateWaitMs?: number;
}

const CONCURRENCY = 8;
const TERMINATE_WAIT_MS = 20_000;

interface Found {
  readonly status: InstanceSummary;
  readonly why: StuckBackup["why"];
  readonly target: StuckTarget;
}

function summary(s: df.DurableOrchestrationStatus): InstanceSummary {
  const iso = (d: unknown): string => (d instanceof Date ? d.toISOString() : String(d));
  return { instanceId: s.instanceId, runtimeStatus: String(s.runtimeStatus), createdTime: iso(s.createdTime), lastUpdatedTime: iso(s.lastUpdatedTime), input: s.input, output: s.output };
}

export function createFindStuckBackupsActivity(deps: FindStuckDeps) {
  return async (raw: unknown, client: InstanceClient): Promise<StuckBackupsReport> => {
    const input = findStuckInputSchema.parse(raw);
    const now = new Date(input.now);
    const runningSince = new Date(now.getTime() - deps.settings.copyTimeoutMinutes * 60_000);
    const containers = input.containers !== undefined ? new Set(input.containers) : { has: (c: string) => backupTargetOf(deps.settings, c).ok };
    const selection = { containers, prefix: input.prefix, runningSince };

    // The query's filters are those of the Durable extension's instance query (runtime status any of, created time at
    // or before); the client follows its continuation tokens. Only blob and batch backups of the selection are kept.
    const ended = await client.getStatusBy({ runtimeStatus: [df.OrchestrationRuntimeStatus.Failed, df.OrchestrationRuntimeStatus.Terminated] });
    const running = await client.getStatusBy({
      runtimeStatus: [df.OrchestrationRuntimeStatus.Running, df.OrchestrationRuntimeStatus.Pending],
      createdTimeTo: runningSince,
    });
    const found: Found[] = [];
    for (const status of [...ended, ...running].map(summary)) {
      // A listing without inputs (a backend that leaves them out) is completed by one status read per candidate.
      const full = status.input === undefined || status.input === null ? await withInput(client, status) : status;
      const stuck = full === undefined ? undefined : stuckBackupOf(full, selection);
      if (full !== undefined && stuck !== undefined) found.push({ status: full, ...stuck });
    }

    const report = emptyStuckReport();
    const listed = await mapBounded(found, CONCURRENCY, (f) => examine(deps, client, f, now, input.repair, report));
    report.samples = listed.slice(0, MAX_STUCK_SAMPLES);
    report.more = Math.max(0, listed.length - MAX_STUCK_SAMPLES);
    return report;
  };
}

async function withInput(client: InstanceClient, status: InstanceSummary): Promise<InstanceSummary | undefined> {
  if (!isBackupInstanceId(status.instanceId)) return undefined;
  const s = await client.getStatus(status.instanceId, { showHistory: false, showHistoryOutput: false, showInput: true });
  return { ...status, input: s.input, output: s.output };
}

/** Counts one backup into the report, repairs it when asked, and returns its line for the report's samples. */
async function examine(deps: FindStuckDeps, client: InstanceClient, f: Found, now: Date, repair: boolean, report: StuckBackupsReport): Promise<StuckBackup> {
  const { status, why, target } = f;
  const leaseId = backupLeaseId(status.instanceId);
  const service = deps.source.service;
  // Only a live (ETag-pinned) version is ever leased; a snapshot request never is.
  const request = target.kind === "blob" ? target.request : undefined;
  const leased = request !== undefined && request.snapshot === undefined && leaseOverdue(why, status.lastUpdatedTime, now, deps.settings.leaseSeconds)
    ? await isLeasedWith(service, request.container, request.blob, leaseId)
    : false;
  report[why] += 1;
  if (leased) report.leasesHeld += 1;
  const error = why === "failed" ? failureLine(status.output) : undefined;
  const line: StuckBackup = {
    instanceId: status.instanceId,
    ...(target.kind === "blob"
      ? { container: target.request.container, blob: target.request.blob }
      : { container: target.batch.container, blob: target.batch.versions[0]?.blob ?? "", batchVersions: target.batch.versions.length }),
    runtimeStatus: status.runtimeStatus,
    why,
    createdTime: status.createdTime,
    lastUpdatedTime: status.lastUpdatedTime,
    leaseHeld: leased,
    ...(error !== undefined && { error }),
  };
  if (!repair) return line;

  if (why === "stuck") {
    // The client answers 410 (it ended on its own meanwhile) without an error: that is what termination is for.
    await client.terminate(status.instanceId, `stuck: not finished ${deps.settings.copyTimeoutMinutes} min (COPY_TIMEOUT_MINUTES) after it was created; reconciliation restarts it`);
    if (!(await terminated(client, status.instanceId, deps.terminateWaitMs ?? TERMINATE_WAIT_MS))) return { ...line, action: "notTerminatedYet" };
    report.terminated += 1;
  }
  // Released before the request is sent again, so the restarted backup finds the blob free (it would also re-acquire
  // its own lease, the id being the same; a lease held by a stray renewal must not outlive the repair, though).
  if (leased && request !== undefined) {
    try {
      if (await releaseLeaseWith(service, request.container, request.blob, leaseId)) report.leasesReleased += 1;
    } catch (err) {
      return { ...line, action: "releaseFailed", error: describeError(err).slice(0, 500) };
    }
  }
  try {
    // A batch goes back as the same message, so the same batch instance restarts (and no longer shows as failed); as
    // single requests it would start other instances and leave the failed one to be found by every run.
    if (target.kind === "blob") await deps.sender.send([target.request]);
    else await deps.sender.sendBatch(target.batch);
  } catch (err) {
    return { ...line, action: "requestFailed", error: describeError(err).slice(0, 500) };
  }
  report.requested += 1;
  return { ...line, action: why === "stuck" ? "terminatedAndRequested" : "requested" };
}

/** Termination is a message the instance processes: the request is only sent again once it shows Terminated. */
async function terminated(client: InstanceClient, instanceId: string, waitMs: number): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const s = await client.getStatus(instanceId, { showHistory: false, showHistoryOutput: false, showInput: false });
    const status = String(s.runtimeStatus);
    if (status !== "Running" && status !== "Pending") return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

registerActivity(
  Activities.findStuckBackups,
  ({ clients, settings }) => {
    const activity = createFindStuckBackupsActivity({ source: clients.source, sender: createBackupQueueSender(clients.backupQueue, { concurrency: CONCURRENCY, batchMaxBlobBytes: 0 }), settings });
    return (input: unknown, context: InvocationContext) => activity(input, df.getClient(context));
  },
  { durableClient: true },
);
