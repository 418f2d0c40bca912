/** Lease mode: releases our lease on every exit path of the orchestration. Releasing twice is harmless. */

import type { BlobAccount } from "../config/clients";
import { leaseInputSchema, type ReleaseLeaseResult } from "../domain/blob-backup-activities";
import { describeError } from "../domain/errors";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { blobIn } from "../storage/addressed-clients";
import { statusOf } from "../storage/rest-errors";

export function createReleaseBlobLeaseActivity(deps: { readonly source: BlobAccount }) {
  return async (raw: unknown): Promise<ReleaseLeaseResult> => {
    const input = leaseInputSchema.parse(raw);
    const blob = blobIn(deps.source.service, input.container, input.blob);
    try {
      await blob.getBlobLeaseClient(input.leaseId).releaseLease();
      return { kind: "released" };
    } catch (err) {
      // 409: the lease is gone or someone else's (it expired); 404: the blob is gone. Either way we hold nothing.
      const status = statusOf(err);
      if (status === 409 || status === 404 || status === 412) return { kind: "notHeld", reason: describeError(err) };
      throw err;
    }
  };
}

registerActivity(Activities.releaseBlobLease, ({ clients }) => createReleaseBlobLeaseActivity(clients));
