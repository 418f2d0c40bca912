/**
 * Lease mode: takes a finite lease on the source blob with the orchestration's own lease id. Acquiring again with the
 * same id succeeds, so a retried activity is harmless; a lease held by someone else is an expected outcome ("busy").
 */

import type { BlobAccount } from "../config/clients";
import { acquireLeaseInputSchema,type AcquireLeaseResult } from "../domain/blob-backup-activities";
import { describeError } from "../domain/errors";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { blobIn } from "../storage/addressed-clients";
import { errorCodeOf, statusOf } from "../storage/rest-errors";

export function createAcquireBlobLeaseActivity(deps: { readonly source: BlobAccount }) {
  return async (raw: unknown): Promise<AcquireLeaseResult> => {
    const input = acquireLeaseInputSchema.parse(raw);
    const blob = blobIn(deps.source.service, input.container, input.blob);
    try {
      await blob.getBlobLeaseClient(input.leaseId).acquireLease(input.leaseSeconds);
      return { kind: "acquired" };
    } catch (err) {
      if (statusOf(err) === 409) return { kind: "busy", reason: `${errorCodeOf(err) ?? "LeaseAlreadyPresent"}: ${describeError(err)}` };
      if (statusOf(err) === 404) return { kind: "missing", reason: "the source blob no longer exists" };
      throw err;
    }
  };
}

registerActivity(Activities.acquireBlobLease, ({ clients }) => createAcquireBlobLeaseActivity(clients));
