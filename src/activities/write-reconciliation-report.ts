/**
 * Writes the reconciliation report as JSON into the backup account, so admins keep its history next to the backups:
 * `<REPORTS_CONTAINER>/reconciliation/<yyyy>/<mm>/<dd>/<hhmmssfff>-<instanceId>.json`, one blob per run (the instance id
 * is the same for every run). The upload never overwrites a blob (`ifNoneMatch: "*"`): a re-run of the activity finds
 * its own report there (same content: done); a different blob under that name is kept, and this report is written
 * beside it under a name of its own.
 */
import { randomUUID } from "node:crypto";

import type { BlobServiceClient, ContainerClient } from "@azure/storage-blob";
import { z } from "zod";

import { reconciliationReportSchema } from "../domain/reconciliation";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { blockBlobClient, containerClient } from "../storage/addressed-clients";
import { statusOf } from "../storage/rest-errors";

export const writeReportInputSchema = z.strictObject({ report: reconciliationReportSchema });

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
    const { report } = writeReportInputSchema.parse(raw);
    const container = containerClient(backup, reportsContainer);
    await container.createIfNotExists();
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
