/**
 * Lease mode: takes a finite lease (LEASE_SECONDS) on the source blob with the orchestration's own lease id. Acquiring
 * again with the same id succeeds, so a retried activity is harmless; a lease held by someone else is an expected
 * outcome ("busy").
 */

import type { BlobAccount } from "../config/clients";
import type { Settings } from "../config/settings";
import { type AcquireLeaseResult, leaseInputSchema } from "../domain/blob-backup-activities";
import { describeError } from "../domain/errors";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { blobIn } from "../storage/addressed-clients";
import { statusOf } from "../storage/rest-errors";

export function createAcquireBlobLeaseActivity(deps: { readonly source: BlobAccount; readonly settings: Pick<Settings, "leaseSeconds"> }) {
  return async (raw: unknown): Promise<AcquireLeaseResult> => {
    const input = leaseInputSchema.parse(raw);
    const blob = blobIn(deps.source.service, input.container, input.blob);
    try {
      await blob.getBlobLeaseClient(input.leaseId).acquireLease(deps.settings.leaseSeconds);
      return { kind: "acquired" };
    } catch (err) {
      if (statusOf(err) === 409) return { kind: "busy", reason: describeError(err) };
      if (statusOf(err) === 404) return { kind: "missing", reason: "the source blob no longer exists" };
      throw err;
    }
  };
}

registerActivity(Activities.acquireBlobLease, ({ clients, settings }) => createAcquireBlobLeaseActivity({ source: clients.source, settings }));
