/**
 * Stages one batch of container reports as a block of the reconciliation report blob, so a report of thousands of
 * containers is assembled in the backup account and never travels through the orchestration's history whole
 * (src/activities/write-reconciliation-report.ts commits the blocks). The first part chooses the blob's name: the
 * run's usual name, or — when a blob already holds that name — a name of its own beside it (nothing is overwritten;
 * committing a block list would replace that blob). A retried part stages the same block id again.
 */
import { randomUUID } from "node:crypto";

import type { BlobServiceClient } from "@azure/storage-blob";

import { stagePartInputSchema } from "../domain/reconciliation";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { blockBlobClient, containerClient } from "../storage/addressed-clients";
import { partBlockId, reportBlobName } from "./write-reconciliation-report";

export function createStageReconciliationReportPartActivity(
  backup: BlobServiceClient,
  reportsContainer: string,
): (input: unknown) => Promise<{ readonly reportName: string }> {
  return async (raw) => {
    const input = stagePartInputSchema.parse(raw);
    const container = containerClient(backup, reportsContainer);
    let reportName = input.reportName;
    if (reportName === undefined) {
      await container.createIfNotExists();
      const usual = reportBlobName(input.instanceId, input.startedAt);
      reportName = (await blockBlobClient(container, usual).exists()) ? reportBlobName(input.instanceId, input.startedAt, `-${randomUUID()}`) : usual;
    }
    const reports = input.containers.map((c) => JSON.stringify(c, null, 2)).join(",\n");
    const body = input.part === 0 ? reports : `,\n${reports}`;
    await blockBlobClient(container, reportName).stageBlock(partBlockId("p", input.part), body, Buffer.byteLength(body));
    return { reportName };
  };
}

registerActivity(Activities.stageReconciliationReportPart, ({ clients, settings }) =>
  createStageReconciliationReportPartActivity(clients.backup.service, settings.reportsContainer));
