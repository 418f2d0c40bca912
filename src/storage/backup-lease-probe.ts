/**
 * Whether a source blob is still leased with a given backup's lease id (src/domain/backup-lease-id.ts), and releasing
 * it. The check is a read: Get Blob Properties with `x-ms-lease-id` succeeds only while that lease is active and
 * answers 412 otherwise (LeaseNotPresentWithBlobOperation / LeaseIdMismatchWithBlobOperation; Azurite: LeaseLost or
 * LeaseIdMismatchWithBlobOperation), so it neither renews nor takes anything.
 */
import type { BlobServiceClient } from "@azure/storage-blob";

import { blobIn } from "./addressed-clients";
import { statusOf } from "./rest-errors";

export async function isLeasedWith(service: BlobServiceClient, container: string, blob: string, leaseId: string): Promise<boolean> {
  try {
    await blobIn(service, container, blob).getProperties({ conditions: { leaseId } });
    return true;
  } catch (err) {
    const status = statusOf(err);
    if (status === 412 || status === 404) return false;
    throw err;
  }
}

/** Releases the lease; false when it was not (or no longer) held with that id. */
export async function releaseLeaseWith(service: BlobServiceClient, container: string, blob: string, leaseId: string): Promise<boolean> {
  try {
    await blobIn(service, container, blob).getBlobLeaseClient(leaseId).releaseLease();
    return true;
  } catch (err) {
    const status = statusOf(err);
    if (status === 409 || status === 412 || status === 404) return false;
    throw err;
  }
}
