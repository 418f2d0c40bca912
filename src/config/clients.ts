/**
 * SDK clients, built once from the settings and injected into activities. Connection strings give shared-key clients
 * (Azurite, or accounts where keys are allowed); identity-based connections get the credential the Functions host
 * would build from the same settings (src/config/identity-credential.ts).
 */
import { DataFactoryManagementClient } from "@azure/arm-datafactory";
import type { TokenCredential } from "@azure/core-auth";
import { ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential } from "@azure/identity";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import type { QueueClient} from "@azure/storage-queue";
import { QueueServiceClient } from "@azure/storage-queue";

import type { StorageConnection } from "./connection";
import type { IdentityCredential } from "./identity-credential";
import type { AdfSettings, Settings } from "./settings";

export interface BlobAccount {
  readonly accountName: string;
  readonly service: BlobServiceClient;
  /**
   * The same account without SDK retries, for writes a blind retry would repeat: a Snapshot Blob whose answer was lost
   * and that the SDK sends again takes a second snapshot. Callers that use it check the outcome themselves.
   */
  readonly singleAttempt: BlobServiceClient;
  /** Present for shared-key connections: lets us sign SAS URLs without a user delegation key. */
  readonly sharedKey?: StorageSharedKeyCredential;
}

export interface Clients {
  readonly source: BlobAccount;
  readonly backup: BlobAccount;
  /** The RestoreStorage account, when configured. */
  readonly restore?: BlobAccount;
  /** The backup request queue, on the function storage account. */
  readonly backupQueue: QueueClient;
  /** Only when COPY_ENGINE=adf. */
  readonly adf?: DataFactoryManagementClient;
}

const credentials = new Map<string, TokenCredential>();

/** One credential per identity, shared by every client that uses it (token caches live in the credential). */
function credentialFor(identity: IdentityCredential): TokenCredential {
  const key = JSON.stringify(identity);
  let credential = credentials.get(key);
  if (credential === undefined) {
    credential = createCredential(identity);
    credentials.set(key, credential);
  }
  return credential;
}

function createCredential(identity: IdentityCredential): TokenCredential {
  switch (identity.kind) {
    case "managedIdentity":
      if (identity.resourceId !== undefined) return new ManagedIdentityCredential({ resourceId: identity.resourceId });
      return new ManagedIdentityCredential(identity.clientId === undefined ? {} : { clientId: identity.clientId });
    case "clientSecret":
      return new ClientSecretCredential(identity.tenantId, identity.clientId, identity.clientSecret);
    case "default": {
      const tenant = identity.tenantId === undefined ? {} : { tenantId: identity.tenantId };
      if (identity.resourceId !== undefined) return new DefaultAzureCredential({ ...tenant, managedIdentityResourceId: identity.resourceId });
      return new DefaultAzureCredential({ ...tenant, ...(identity.clientId !== undefined && { managedIdentityClientId: identity.clientId }) });
    }
  }
}

export function blobAccount(connection: StorageConnection): BlobAccount {
  const once = { retryOptions: { maxTries: 1 } };
  if (connection.kind === "connectionString") {
    const service = BlobServiceClient.fromConnectionString(connection.connectionString);
    const sharedKey = service.credential instanceof StorageSharedKeyCredential ? service.credential : undefined;
    const singleAttempt = BlobServiceClient.fromConnectionString(connection.connectionString, once);
    return { accountName: connection.accountName, service, singleAttempt, ...(sharedKey && { sharedKey }) };
  }
  const uri = connection.blobServiceUri;
  if (uri === undefined) throw new Error(`${connection.name} has no blob service URI`);
  const credential = credentialFor(connection.credential);
  return { accountName: connection.accountName, service: new BlobServiceClient(uri, credential), singleAttempt: new BlobServiceClient(uri, credential, once) };
}

export function queueService(connection: StorageConnection): QueueServiceClient {
  if (connection.kind === "connectionString") return QueueServiceClient.fromConnectionString(connection.connectionString);
  if (connection.queueServiceUri === undefined) throw new Error(`${connection.name} has no queue service URI`);
  return new QueueServiceClient(connection.queueServiceUri, credentialFor(connection.credential));
}

export function adfClient(adf: AdfSettings): DataFactoryManagementClient {
  const credential = credentialFor({ kind: "default", ...(adf.clientId !== undefined && { clientId: adf.clientId }) });
  // No SDK retries: the SDK would retry a createRun whose response was lost and start a second run. Transient ARM
  // errors are retried by the orchestration instead, through the duplicate-run lookup (src/copy/adf-pipeline.ts).
  const retryOptions = { maxRetries: 0 };
  return adf.endpoint === undefined
    ? new DataFactoryManagementClient(credential, adf.subscriptionId, { retryOptions })
    : // With a custom endpoint the SDK would derive the token scope from it; ARM's scope stays the same everywhere.
      new DataFactoryManagementClient(credential, adf.subscriptionId, {
        endpoint: adf.endpoint,
        credentialScopes: "https://management.azure.com/.default",
        retryOptions,
      });
}

/** What the `adf` copy engine's activities need: both accounts, and the ADF client and settings when COPY_ENGINE=adf. */
export interface AdfDeps {
  readonly source: BlobAccount;
  readonly backup: BlobAccount;
  readonly adf: DataFactoryManagementClient | undefined;
  readonly adfSettings: AdfSettings | undefined;
}

/** The ADF client and settings, or a clear error when the app runs an ADF activity without them configured. */
export function requireAdf(deps: Pick<AdfDeps, "adf" | "adfSettings">): { client: DataFactoryManagementClient; settings: AdfSettings } {
  if (deps.adf === undefined || deps.adfSettings === undefined) {
    throw new Error("COPY_ENGINE=adf needs ADF_SUBSCRIPTION_ID, ADF_RESOURCE_GROUP, ADF_FACTORY and ADF_PIPELINE");
  }
  return { client: deps.adf, settings: deps.adfSettings };
}

export function createClients(settings: Settings): Clients {
  return {
    source: blobAccount(settings.sourceStorage),
    backup: blobAccount(settings.backupStorage),
    ...(settings.restoreStorage !== undefined && { restore: blobAccount(settings.restoreStorage) }),
    backupQueue: queueService(settings.functionStorage).getQueueClient(settings.backupQueue),
    ...(settings.copyEngine === "adf" && settings.adf !== undefined && { adf: adfClient(settings.adf) }),
  };
}
