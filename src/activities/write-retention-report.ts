/**
 * Writes the retention report as JSON into the backup account, like the reconciliation report:
 * `<REPORTS_CONTAINER>/retention/<yyyy>/<mm>/<dd>/<hhmmssfff>-<instanceId>.json`, never over an existing blob (a re-run
 * that finds its own report is done; another blob of that name is kept and this report gets a name of its own).
 */
import { randomUUID } from "node:crypto";

import type { BlobServiceClient } from "@azure/storage-blob";
import { z } from "zod";

import { retentionReportSchema } from "../domain/retention";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { containerClient } from "../storage/addressed-clients";
import { reportBlobName, uploadNew } from "./write-reconciliation-report";

export const writeRetentionReportInputSchema = z.strictObject({ report: retentionReportSchema });

export function retentionReportBlobName(instanceId: string, startedAt: string, suffix = ""): string {
  return `retention/${reportBlobName(instanceId, startedAt, suffix).slice("reconciliation/".length)}`;
}

export function createWriteRetentionReportActivity(backup: BlobServiceClient, reportsContainer: string): (input: unknown) => Promise<{ readonly reportBlob: string }> {
  return async (raw) => {
    const { report } = writeRetentionReportInputSchema.parse(raw);
    const container = containerClient(backup, reportsContainer);
    await container.createIfNotExists();
    for (const suffix of ["", `-${randomUUID()}`]) {
      const name = retentionReportBlobName(report.instanceId, report.startedAt, suffix);
      const reportBlob = `${reportsContainer}/${name}`;
      const outcome = await uploadNew(container, name, JSON.stringify({ ...report, reportBlob }, null, 2));
      if (outcome !== "taken") return { reportBlob };
    }
    throw new Error(`could not write the retention report into ${JSON.stringify(reportsContainer)}: its names are taken`);
  };
}

registerActivity(Activities.writeRetentionReport, ({ clients, settings }) => createWriteRetentionReportActivity(clients.backup.service, settings.reportsContainer));
