/**
 * Writes the reconciliation report as JSON into the backup account, so admins keep its history next to the backups:
 * `<REPORTS_CONTAINER>/reconciliation/<yyyy>/<mm>/<dd>/<hhmmssfff>-<instanceId>.json`, one blob per run (the instance id
 * is the same for every run). The upload never overwrites a blob (`ifNoneMatch: "*"`): a re-run of the activity finds
 * its own report there (same content: done); a different blob under that name is kept, and this report is written
 * beside it under a name of its own.
 *
 * A run's container reports are staged as blocks of the report blob batch by batch
 * (src/activities/stage-reconciliation-report-part.ts, which also chose the name); this activity then stages the
 * report's head and tail around them and commits the block list, again never over an existing blob.
 */
import { randomUUID } from "node:crypto";

import type { BlobServiceClient, ContainerClient } from "@azure/storage-blob";
import { z } from "zod";

import { reconciliationReportSchema } from "../domain/reconciliation";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { blockBlobClient, containerClient } from "../storage/addressed-clients";
import { statusOf } from "../storage/rest-errors";

export const writeReportInputSchema = z.strictObject({
  report: reconciliationReportSchema,
  /** Parts staged on `reportName`; 0: the report is written whole, `containers` from `report`. */
  parts: z.number().int().min(0).max(49_000).default(0),
  reportName: z.string().max(1024).optional(),
});

/** Block ids of the report blob: one length for all, as the service requires (`h` head, `p` part, `t` tail). */
export function partBlockId(kind: "h" | "p" | "t", n: number): string {
  return Buffer.from(`${kind}-${String(n).padStart(6, "0")}`).toString("base64");
}

/** Stands for the staged parts in the report's JSON; written as an escaped string, so it cannot occur in a name. */
const PARTS = "\u0000containers\u0000";

/** Commits head, the staged parts and tail as the report; a retry that finds its own commit there is done. */
async function commitParts(container: ContainerClient, name: string, report: object, parts: number): Promise<void> {
  const json = JSON.stringify({ ...report, containers: PARTS }, null, 2);
  const marker = JSON.stringify(PARTS);
  const at = json.indexOf(marker);
  const head = `${json.slice(0, at)}[\n`;
  const tail = `\n]${json.slice(at + marker.length)}`;
  const blob = blockBlobClient(container, name);
  await blob.stageBlock(partBlockId("h", 0), head, Buffer.byteLength(head));
  await blob.stageBlock(partBlockId("t", 0), tail, Buffer.byteLength(tail));
  const ids = [partBlockId("h", 0), ...Array.from({ length: parts }, (_, i) => partBlockId("p", i)), partBlockId("t", 0)];
  try {
    await blob.commitBlockList(ids, { blobHTTPHeaders: { blobContentType: "application/json" }, conditions: { ifNoneMatch: "*" } });
  } catch (err) {
    const status = statusOf(err);
    if (status !== 409 && status !== 412) throw err;
    // Committed by an earlier attempt of this activity (its blocks are gone now), or someone else's blob.
    const existing = (await blob.downloadToBuffer()).toString("utf8");
    if (!existing.startsWith(head) || !existing.endsWith(tail)) {
      throw new Error(`the reconciliation report's name ${JSON.stringify(name)} was taken while the run staged its parts`);
    }
  }
}

export function reportBlobName(instanceId: string, startedAt: string, suffix = ""): string {
  const day = startedAt.slice(0, 10).split("-").join("/");
  const time = startedAt.slice(11, 23).replace(/[:.]/g, "");
  return `reconciliation/${day}/${time}-${instanceId.replace(/[^A-Za-z0-9._-]/g, "_")}${suffix}.json`;
}

type Written = "written" | "same" | "taken";

/** Uploads `body` as `name` unless a blob of that name exists; says whether an existing one holds the same content. */
export async function uploadNew(container: ContainerClient, name: string, body: string): Promise<Written> {
  const blob = blockBlobClient(container, name);
  try {
    await blob.upload(body, Buffer.byteLength(body), {
      blobHTTPHeaders: { blobContentType: "application/json" },
      conditions: { ifNoneMatch: "*" },
    });
    return "written";
  } catch (err) {
    if (statusOf(err) !== 409) throw err;
    const existing = (await blob.downloadToBuffer()).toString("utf8");
    return existing === body ? "same" : "taken";
  }
}

export function createWriteReconciliationReportActivity(
  backup: BlobServiceClient,
  reportsContainer: string,
): (input: unknown) => Promise<{ readonly reportBlob: string }> {
  return async (raw) => {
    const { report, parts, reportName } = writeReportInputSchema.parse(raw);
    const container = containerClient(backup, reportsContainer);
    await container.createIfNotExists();
    if (parts > 0) {
      if (reportName === undefined) throw new Error("report parts were staged without a report name");
      const reportBlob = `${reportsContainer}/${reportName}`;
      await commitParts(container, reportName, { ...report, reportBlob }, parts);
      return { reportBlob };
    }
    for (const suffix of ["", `-${randomUUID()}`]) {
      const name = reportBlobName(report.instanceId, report.startedAt, suffix);
      const reportBlob = `${reportsContainer}/${name}`;
      const outcome = await uploadNew(container, name, JSON.stringify({ ...report, reportBlob }, null, 2));
      if (outcome !== "taken") return { reportBlob };
    }
    throw new Error(`could not write the reconciliation report into ${JSON.stringify(reportsContainer)}: its names are taken`);
  };
}

registerActivity(Activities.writeReconciliationReport, ({ clients, settings }) => createWriteReconciliationReportActivity(clients.backup.service, settings.reportsContainer));
