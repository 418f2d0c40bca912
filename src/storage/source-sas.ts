/**
 * Read-only SAS URLs for one source blob version, for server-side copies and for the ADF pipeline's HTTP source.
 * Shared-key accounts (Azurite, or accounts with keys) sign with the key; identity-based accounts sign with a user
 * delegation key, so no account key is ever needed in Azure. The SAS is HTTPS-only (`spr=https`) and refused for a
 * plain-http endpoint, except on loopback (Azurite in local development): a signature must not travel in clear text.
 */
import {
  BlobSASPermissions,
  type BlobSASSignatureValues,
  generateBlobSASQueryParameters,
  SASProtocol,
  type UserDelegationKey,
} from "@azure/storage-blob";

import type { BlobAccount } from "../config/clients";
import { blobIn } from "./addressed-clients";

/** True for loopback hosts (Azurite in local development), the only place a SAS may be used over plain http. */
export function isLoopbackUrl(url: string): boolean {
  const host = new URL(url).hostname;
  return host === "localhost" || host === "[::1]" || /^127(?:\.\d{1,3}){3}$/.test(host);
}

/** Clock skew allowance for the SAS start time. */
const SKEW_MS = 5 * 60_000;

/** The service refuses a user delegation key valid for more than 7 days (we keep the skew allowance off it). */
export const MAX_DELEGATION_KEY_MS = 7 * 24 * 3600_000 - SKEW_MS;

const delegationKeys = new WeakMap<BlobAccount, UserDelegationKey>();

async function delegationKey(account: BlobAccount, expiresOn: Date): Promise<UserDelegationKey> {
  const cached = delegationKeys.get(account);
  if (cached !== undefined && cached.signedExpiresOn.getTime() >= expiresOn.getTime()) return cached;
  // Take a day more than needed, within the 7-day limit, so one key serves many copies.
  const keyExpiry = new Date(Math.min(expiresOn.getTime() + 24 * 3600_000, Date.now() + MAX_DELEGATION_KEY_MS));
  const key = await account.service.getUserDelegationKey(new Date(Date.now() - SKEW_MS), keyExpiry);
  delegationKeys.set(account, key);
  return key;
}

/**
 * The SAS query: signed with the account key where there is one, else with a user delegation key. A SAS signed with a
 * user delegation key is valid only while the key is, so one that would outlive the longest key the service grants is
 * refused here rather than handed out with a validity it does not have.
 */
async function sign(account: BlobAccount, values: BlobSASSignatureValues, expiresOn: Date): Promise<string> {
  if (account.sharedKey !== undefined) return generateBlobSASQueryParameters(values, account.sharedKey).toString();
  if (expiresOn.getTime() > Date.now() + MAX_DELEGATION_KEY_MS) {
    throw new Error(`a SAS signed with a user delegation key cannot be valid beyond 7 days (asked until ${expiresOn.toISOString()})`);
  }
  return generateBlobSASQueryParameters(values, await delegationKey(account, expiresOn), account.accountName).toString();
}

/** HTTPS only, except on loopback (Azurite, local development); a plain-http endpoint elsewhere gets no SAS. */
function protocolFor(account: BlobAccount, url: string): SASProtocol {
  const loopback = isLoopbackUrl(url);
  if (new URL(url).protocol !== "https:" && !loopback) {
    throw new Error(`refusing to issue a SAS for ${account.accountName} over plain http: use its https endpoint`);
  }
  return loopback ? SASProtocol.HttpsAndHttp : SASProtocol.Https;
}

const withQuery = (url: string, query: string): string => `${url}${url.includes("?") ? "&" : "?"}${query}`;

/** URL of the blob (or of its snapshot) with a read SAS valid until `expiresOn`. Never log it. */
export async function sourceReadUrl(
  account: BlobAccount,
  container: string,
  blob: string,
  snapshot: string | undefined,
  expiresOn: Date,
): Promise<string> {
  const base = blobIn(account.service, container, blob);
  const client = snapshot === undefined ? base : base.withSnapshot(snapshot);
  const values = {
    containerName: container,
    blobName: blob,
    // A snapshot needs a blob-snapshot SAS (sr=bs); a base-blob SAS does not authorise reading a snapshot URL.
    ...(snapshot !== undefined && { snapshotTime: snapshot }),
    permissions: BlobSASPermissions.parse("r"),
    protocol: protocolFor(account, client.url),
    startsOn: new Date(Date.now() - SKEW_MS),
    expiresOn,
  };
  return withQuery(client.url, await sign(account, values, expiresOn));
}

/** URL of one blob version with a read SAS (`sr=bv`) valid until `expiresOn`, for accounts with blob versioning. Never log it. */
export async function versionReadUrl(account: BlobAccount, container: string, blob: string, versionId: string, expiresOn: Date): Promise<string> {
  const client = blobIn(account.service, container, blob).withVersion(versionId);
  const values = {
    containerName: container,
    blobName: blob,
    versionId,
    permissions: BlobSASPermissions.parse("r"),
    protocol: protocolFor(account, client.url),
    startsOn: new Date(Date.now() - SKEW_MS),
    expiresOn,
  };
  return withQuery(client.url, await sign(account, values, expiresOn));
}
