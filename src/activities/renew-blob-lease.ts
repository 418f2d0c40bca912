/**
 * Lease mode with the ADF engine: renews our lease on the monitor's timer cadence while the pipeline run copies. A lease
 * we no longer hold is reported, not thrown. (The server engine renews inside its copy activity instead.)
 */

import type { BlobAccount } from "../config/clients";
import { leaseInputSchema, type RenewLeaseResult } from "../domain/blob-backup-activities";
import { describeError } from "../domain/errors";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { blobIn } from "../storage/addressed-clients";
import { isLeaseLost } from "../storage/lease-renewal";

export function createRenewBlobLeaseActivity(deps: { readonly source: BlobAccount }) {
  return async (raw: unknown): Promise<RenewLeaseResult> => {
    const input = leaseInputSchema.parse(raw);
    const blob = blobIn(deps.source.service, input.container, input.blob);
    try {
      await blob.getBlobLeaseClient(input.leaseId).renewLease();
      return { kind: "renewed" };
    } catch (err) {
      if (isLeaseLost(err)) return { kind: "lost", reason: describeError(err) };
      throw err;
    }
  };
}

registerActivity(Activities.renewBlobLease, ({ clients }) => createRenewBlobLeaseActivity(clients));
