/**
 * SDK clients, built once from the settings and injected into activities. Connection strings give shared-key clients
 * (Azurite, or accounts where keys are allowed); identity-based connections use DefaultAzureCredential, or managed
 * identity only when `<Name>__credential=managedidentity`, as the Functions host does.
 */
import { DataFactoryManagementClient } from "@azure/arm-datafactory";
import type { TokenCredential } from "@azure/core-auth";
import { DefaultAzureCredential, ManagedIdentityCredential } from "@azure/identity";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import type { QueueClient} from "@azure/storage-queue";
import { QueueServiceClient } from "@azure/storage-queue";

import type { StorageConnection } from "./connection";
import type { AdfSettings, Settings } from "./settings";

export interface BlobAccount {
  readonly accountName: string;
  readonly service: BlobServiceClient;
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
function credentialFor(clientId: string | undefined, managedIdentityOnly: boolean): TokenCredential {
  const key = `${managedIdentityOnly ? "mi" : "default"}:${clientId ?? ""}`;
  let credential = credentials.get(key);
  if (credential === undefined) {
    credential = managedIdentityOnly
      ? new ManagedIdentityCredential(clientId === undefined ? {} : { clientId })
      : new DefaultAzureCredential(clientId === undefined ? {} : { managedIdentityClientId: clientId });
    credentials.set(key, credential);
  }
  return credential;
}

export function blobAccount(connection: StorageConnection): BlobAccount {
  if (connection.kind === "connectionString") {
    const service = BlobServiceClient.fromConnectionString(connection.connectionString);
    const sharedKey = service.credential instanceof StorageSharedKeyCredential ? service.credential : undefined;
    return { accountName: connection.accountName, service, ...(sharedKey && { sharedKey }) };
  }
  if (connection.blobServiceUri === undefined) throw new Error(`${connection.name} has no blob service URI`);
  const credential = credentialFor(connection.clientId, connection.credential === "managedidentity");
  return { accountName: connection.accountName, service: new BlobServiceClient(connection.blobServiceUri, credential) };
}

export function queueService(connection: StorageConnection): QueueServiceClient {
  if (connection.kind === "connectionString") return QueueServiceClient.fromConnectionString(connection.connectionString);
  if (connection.queueServiceUri === undefined) throw new Error(`${connection.name} has no queue service URI`);
  return new QueueServiceClient(connection.queueServiceUri, credentialFor(connection.clientId, connection.credential === "managedidentity"));
}

export function adfClient(adf: AdfSettings): DataFactoryManagementClient {
  const credential = credentialFor(adf.clientId, false);
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

export function createClients(settings: Settings): Clients {
  return {
    source: blobAccount(settings.sourceStorage),
    backup: blobAccount(settings.backupStorage),
    ...(settings.restoreStorage !== undefined && { restore: blobAccount(settings.restoreStorage) }),
    backupQueue: queueService(settings.functionStorage).getQueueClient(settings.backupQueue),
    ...(settings.copyEngine === "adf" && settings.adf !== undefined && { adf: adfClient(settings.adf) }),
  };
}
