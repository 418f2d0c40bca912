/**
 * Writes a restore's report into the reports container of the backup account (src/domain/restore.ts names the blobs):
 * the JSON summary, and the per-blob lines that the batches staged as blocks, committed in batch order. Neither ever
 * overwrites an existing blob (If-None-Match *); a re-run that finds them written by its earlier attempt is done.
 */
import type { BlobServiceClient } from "@azure/storage-blob";
import { z } from "zod";

import { restoreReportSchema } from "../domain/restore-contracts";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { blockBlobClient, containerClient } from "../storage/addressed-clients";
import { errorCodeOf, isPreconditionFailed } from "../storage/rest-errors";
import { detailsBlockId } from "../storage/restore-batch";

export const writeRestoreReportInputSchema = z.strictObject({
  report: restoreReportSchema,
  reportBlob: z.string().min(1),
  detailsBlob: z.string().min(1),
  /** Blocks the batches staged for the per-blob lines (0: no lines, no blob). */
  detailsBlocks: z.number().int().nonnegative(),
});

export interface WriteRestoreReportResult {
  readonly reportBlob: string;
  readonly detailsBlob?: string;
}

const alreadyWritten = (err: unknown): boolean => errorCodeOf(err) === "BlobAlreadyExists" || isPreconditionFailed(err);

export function createWriteRestoreReportActivity(
  backup: BlobServiceClient,
  reportsContainer: string,
): (input: unknown) => Promise<WriteRestoreReportResult> {
  return async (raw) => {
    const input = writeRestoreReportInputSchema.parse(raw);
    const container = containerClient(backup, reportsContainer);
    await container.createIfNotExists();
    const detailsBlob = input.detailsBlocks > 0 ? `${reportsContainer}/${input.detailsBlob}` : undefined;
    if (input.detailsBlocks > 0) {
      const ids = Array.from({ length: input.detailsBlocks }, (_, i) => detailsBlockId(i));
      try {
        await blockBlobClient(container, input.detailsBlob).commitBlockList(ids, {
          blobHTTPHeaders: { blobContentType: "application/x-ndjson" },
          conditions: { ifNoneMatch: "*" },
        });
      } catch (err) {
        if (!alreadyWritten(err)) throw err;
      }
    }
    const reportBlob = `${reportsContainer}/${input.reportBlob}`;
    const body = JSON.stringify({ ...input.report, reportBlob, ...(detailsBlob !== undefined && { detailsBlob }) }, null, 2);
    try {
      await blockBlobClient(container, input.reportBlob).upload(body, Buffer.byteLength(body), {
        blobHTTPHeaders: { blobContentType: "application/json" },
        conditions: { ifNoneMatch: "*" },
      });
    } catch (err) {
      if (!alreadyWritten(err)) throw err;
    }
    return { reportBlob, ...(detailsBlob !== undefined && { detailsBlob }) };
  };
}

registerActivity(Activities.writeRestoreReport, ({ clients, settings }) => createWriteRestoreReportActivity(clients.backup.service, settings.reportsContainer));
