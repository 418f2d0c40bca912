/**
 * Writes the reconciliation report as JSON into the backup account, so admins keep its history next to the backups:
 * `<REPORTS_CONTAINER>/reconciliation/<yyyy>/<mm>/<dd>/<hhmmssfff>-<instanceId>.json`, one blob per run (the instance id
 * is the same for every run). A re-run of the activity overwrites its own run's blob: the idempotent outcome.
 */
import type { BlobServiceClient } from "@azure/storage-blob";
import { z } from "zod";

import { reconciliationReportSchema } from "../domain/reconciliation";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";

export const writeReportInputSchema = z.strictObject({ report: reconciliationReportSchema });

export function reportBlobName(instanceId: string, startedAt: string): string {
  const day = startedAt.slice(0, 10).split("-").join("/");
  const time = startedAt.slice(11, 23).replace(/[:.]/g, "");
  return `reconciliation/${day}/${time}-${instanceId.replace(/[^A-Za-z0-9._-]/g, "_")}.json`;
}

export function createWriteReconciliationReportActivity(
  backup: BlobServiceClient,
  reportsContainer: string,
): (input: unknown) => Promise<{ readonly reportBlob: string }> {
  return async (raw) => {
    const { report } = writeReportInputSchema.parse(raw);
    const container = backup.getContainerClient(reportsContainer);
    await container.createIfNotExists();
    const name = reportBlobName(report.instanceId, report.startedAt);
    const reportBlob = `${reportsContainer}/${name}`;
    const body = JSON.stringify({ ...report, reportBlob }, null, 2);
    await container.getBlockBlobClient(name).upload(body, Buffer.byteLength(body), {
      blobHTTPHeaders: { blobContentType: "application/json" },
    });
    return { reportBlob };
  };
}

registerActivity(Activities.writeReconciliationReport, ({ clients, settings }) => createWriteReconciliationReportActivity(clients.backup.service, settings.reportsContainer));
