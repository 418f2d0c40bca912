/**
 * Read-only SAS URLs for one source blob version, for server-side copies and for the ADF pipeline's HTTP source.
 * Shared-key accounts (Azurite, or accounts with keys) sign with the key; identity-based accounts sign with a user
 * delegation key, so no account key is ever needed in Azure.
 */
import {
  BlobSASPermissions,
  type BlobSASSignatureValues,
  generateBlobSASQueryParameters,
  type UserDelegationKey,
} from "@azure/storage-blob";

import type { BlobAccount } from "../config/clients";

/** Clock skew allowance for the SAS start time. */
const SKEW_MS = 5 * 60_000;

const delegationKeys = new WeakMap<BlobAccount, UserDelegationKey>();

async function delegationKey(account: BlobAccount, expiresOn: Date): Promise<UserDelegationKey> {
  const cached = delegationKeys.get(account);
  if (cached !== undefined && cached.signedExpiresOn.getTime() >= expiresOn.getTime()) return cached;
  // A user delegation key lives at most 7 days; take a day more than needed so one key serves many copies.
  const keyExpiry = new Date(Math.min(expiresOn.getTime() + 24 * 3600_000, Date.now() + 7 * 24 * 3600_000 - SKEW_MS));
  const key = await account.service.getUserDelegationKey(new Date(Date.now() - SKEW_MS), keyExpiry);
  delegationKeys.set(account, key);
  return key;
}

/** The SAS query: signed with the account key where there is one, else with a user delegation key. */
async function sign(account: BlobAccount, values: BlobSASSignatureValues, expiresOn: Date): Promise<string> {
  return account.sharedKey !== undefined
    ? generateBlobSASQueryParameters(values, account.sharedKey).toString()
    : generateBlobSASQueryParameters(values, await delegationKey(account, expiresOn), account.accountName).toString();
}

/** URL of the blob (or of its snapshot) with a read SAS valid until `expiresOn`. Never log it. */
export async function sourceReadUrl(
  account: BlobAccount,
  container: string,
  blob: string,
  snapshot: string | undefined,
  expiresOn: Date,
): Promise<string> {
  const base = account.service.getContainerClient(container).getBlobClient(blob);
  const client = snapshot === undefined ? base : base.withSnapshot(snapshot);
  const values = {
    containerName: container,
    blobName: blob,
    // A snapshot needs a blob-snapshot SAS (sr=bs); a base-blob SAS does not authorise reading a snapshot URL.
    ...(snapshot !== undefined && { snapshotTime: snapshot }),
    permissions: BlobSASPermissions.parse("r"),
    startsOn: new Date(Date.now() - SKEW_MS),
    expiresOn,
  };
  return `${client.url}${client.url.includes("?") ? "&" : "?"}${await sign(account, values, expiresOn)}`;
}

/** URL of one blob version with a read SAS (`sr=bv`) valid until `expiresOn`, for accounts with blob versioning. Never log it. */
export async function versionReadUrl(account: BlobAccount, container: string, blob: string, versionId: string, expiresOn: Date): Promise<string> {
  const client = account.service.getContainerClient(container).getBlobClient(blob).withVersion(versionId);
  const values = {
    containerName: container,
    blobName: blob,
    versionId,
    permissions: BlobSASPermissions.parse("r"),
    startsOn: new Date(Date.now() - SKEW_MS),
    expiresOn,
  };
  return `${client.url}${client.url.includes("?") ? "&" : "?"}${await sign(account, values, expiresOn)}`;
}
