/** Lease mode: renews our lease while a copy runs. A lease we no longer hold is reported, not thrown. */

import type { BlobAccount } from "../config/clients";
import { leaseInputSchema, type RenewLeaseResult } from "../domain/blob-backup-activities";
import { describeError } from "../domain/errors";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { blobIn } from "../storage/addressed-clients";
import { statusOf } from "../storage/rest-errors";

export function createRenewBlobLeaseActivity(deps: { readonly source: BlobAccount }) {
  return async (raw: unknown): Promise<RenewLeaseResult> => {
    const input = leaseInputSchema.parse(raw);
    const blob = blobIn(deps.source.service, input.container, input.blob);
    try {
      await blob.getBlobLeaseClient(input.leaseId).renewLease();
      return { kind: "renewed" };
    } catch (err) {
      const status = statusOf(err);
      if (status === 409 || status === 404 || status === 412) return { kind: "lost", reason: describeError(err) };
      throw err;
    }
  };
}

registerActivity(Activities.renewBlobLease, ({ clients }) => createRenewBlobLeaseActivity(clients));
