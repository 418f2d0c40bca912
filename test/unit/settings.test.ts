import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { ConfigurationError, loadSettings } from "../../src/config/settings";

const KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const connectionString = (account: string) =>
  `DefaultEndpointsProtocol=http;AccountName=${account};AccountKey=${KEY};BlobEndpoint=http://127.0.0.1:10000/${account};QueueEndpoint=http://127.0.0.1:10001/${account};`;

const valid = {
  AzureWebJobsStorage: connectionString("devstoreaccount1"),
  SourceStorage: connectionString("datalake1"),
  BackupStorage: connectionString("backup1"),
};

function problemsOf(env: Record<string, string | undefined>): readonly string[] {
  try {
    loadSettings(env);
  } catch (err) {
    assert.ok(err instanceof ConfigurationError, `expected ConfigurationError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail("expected the settings to be refused");
}

describe("settings", { timeout: 30_000 }, () => {
  it("applies the documented defaults", () => {
    const s = loadSettings(valid);
    assert.equal(s.backupQueue, "backup-requests");
    assert.equal(s.copyEngine, "server");
    assert.equal(s.snapshots, "auto");
    assert.equal(s.blobLease, false);
    assert.equal(s.leaseSeconds, 30);
    assert.equal(s.backupContainerTemplate, "{container}");
    assert.equal(s.backupHistory, "snapshot");
    assert.equal(s.reconcileSchedule, "0 0 2 * * *");
    assert.equal(s.containers, undefined);
    assert.deepEqual(s.excludeContainers, []);
    assert.equal(s.adf, undefined);
    assert.equal(s.sourceStorage.accountName, "datalake1");
  });

  it("treats blank settings as unset", () => {
    assert.equal(loadSettings({ ...valid, COPY_ENGINE: "  ", LEASE_SECONDS: "" }).copyEngine, "server");
  });

  it("parses every setting", () => {
    const s = loadSettings({
      ...valid,
      BACKUP_QUEUE: "my-queue",
      COPY_ENGINE: "adf",
      ADF_SUBSCRIPTION_ID: "00000000-0000-4000-8000-000000000001",
      ADF_RESOURCE_GROUP: "rg-data",
      ADF_FACTORY: "adf-lake",
      ADF_PIPELINE: "CopyBlobVersion",
      ADF_ENDPOINT: "https://127.0.0.1:8443",
      BLOB_LEASE: "true",
      LEASE_SECONDS: "15",
      SNAPSHOTS: "off",
      RECONCILE_SCHEDULE: "0 30 1 * * *",
      CONTAINERS: "raw, curated",
      EXCLUDE_CONTAINERS: "tmp",
      BACKUP_CONTAINER_TEMPLATE: "bk-{container}",
      BACKUP_HISTORY: "versioning",
      COPY_BLOCK_MIB: "256",
      COPY_STEP_SECONDS: "120",
    });
    assert.equal(s.copyEngine, "adf");
    assert.deepEqual(s.adf, {
      subscriptionId: "00000000-0000-4000-8000-000000000001",
      resourceGroup: "rg-data",
      factory: "adf-lake",
      pipeline: "CopyBlobVersion",
      endpoint: "https://127.0.0.1:8443",
    });
    assert.equal(s.blobLease, true);
    assert.equal(s.leaseSeconds, 15);
    assert.equal(s.snapshots, "off");
    assert.deepEqual(s.containers, ["raw", "curated"]);
    assert.deepEqual(s.excludeContainers, ["tmp"]);
    assert.equal(s.backupContainerTemplate, "bk-{container}");
    assert.equal(s.backupHistory, "versioning");
    assert.equal(s.copyBlockMiB, 256);
    assert.equal(s.copyStepSeconds, 120);
  });

  const invalid: ReadonlyArray<[string, string]> = [
    ["BACKUP_QUEUE", "Bad_Queue"],
    ["COPY_ENGINE", "azcopy"],
    ["BLOB_LEASE", "yes"],
    ["LEASE_SECONDS", "90"],
    ["LEASE_SECONDS", "10"],
    ["LEASE_SECONDS", "20.5"],
    ["SNAPSHOTS", "sometimes"],
    ["RECONCILE_SCHEDULE", "0 2 * * *"],
    ["RECONCILE_SCHEDULE", "not a schedule at all"],
    ["CONTAINERS", "raw,Bad_Name"],
    ["EXCLUDE_CONTAINERS", "a"],
    ["BACKUP_CONTAINER_TEMPLATE", "backup"],
    ["BACKUP_CONTAINER_TEMPLATE", "Backup_{container}"],
    ["BACKUP_HISTORY", "forever"],
    ["ADF_SUBSCRIPTION_ID", "not-a-guid"],
    ["ADF_ENDPOINT", "http://insecure.example"],
    ["SNAPSHOT_CONCURRENCY", "0"],
    ["COPY_BLOCK_MIB", "4001"],
    ["COPY_STEP_SECONDS", "600"],
  ];
  for (const [name, value] of invalid) {
    it(`names ${name} when it is ${JSON.stringify(value)}`, () => {
      const problems = problemsOf({ ...valid, [name]: value });
      assert.equal(problems.length, 1, problems.join("\n"));
      assert.match(problems[0] ?? "", new RegExp(`^${name}: `));
    });
  }

  for (const name of ["AzureWebJobsStorage", "SourceStorage", "BackupStorage"]) {
    it(`names ${name} when it is missing`, () => {
      const problems = problemsOf({ ...valid, [name]: undefined });
      assert.deepEqual(problems.length, 1);
      assert.match(problems[0] ?? "", new RegExp(`^${name}: missing`));
    });
  }

  it("requires the pipeline settings when COPY_ENGINE=adf, naming each", () => {
    const problems = problemsOf({ ...valid, COPY_ENGINE: "adf", ADF_FACTORY: "f" });
    assert.deepEqual(
      problems.map((p) => p.split(":")[0]).sort(),
      ["ADF_PIPELINE", "ADF_RESOURCE_GROUP", "ADF_SUBSCRIPTION_ID"],
    );
  });

  it("reports every problem at once in one message", () => {
    const err = (() => {
      try {
        loadSettings({ SourceStorage: connectionString("datalake1"), COPY_ENGINE: "x", LEASE_SECONDS: "5" });
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    assert.ok(err instanceof ConfigurationError);
    for (const name of ["AzureWebJobsStorage", "BackupStorage", "COPY_ENGINE", "LEASE_SECONDS"]) {
      assert.match(err.message, new RegExp(`- ${name}: `));
    }
    assert.doesNotMatch(err.message, /SourceStorage/);
  });
});

describe("restore settings", { timeout: 30_000 }, () => {
  it("has no restore account unless RestoreStorage is set, and restores 32 blobs at a time by default", () => {
    const s = loadSettings(valid);
    assert.equal(s.restoreStorage, undefined);
    assert.equal(s.restoreConcurrency, 32);
  });

  it("resolves RestoreStorage by the Functions conventions: a connection string, or an identity-based URI", () => {
    assert.equal(loadSettings({ ...valid, RestoreStorage: connectionString("restore1") }).restoreStorage?.accountName, "restore1");
    const identity = loadSettings({ ...valid, RestoreStorage__blobServiceUri: "https://lakedr.blob.core.windows.net", RestoreStorage__credential: "managedidentity" });
    assert.equal(identity.restoreStorage?.kind, "identity");
    assert.equal(identity.restoreStorage?.accountName, "lakedr");
  });

  it("names a bad RestoreStorage, refuses the backup account as the restore account, and bounds RESTORE_CONCURRENCY", () => {
    assert.ok(problemsOf({ ...valid, RestoreStorage__blobServiceUri: "not a url" }).some((p) => p.startsWith("RestoreStorage__blobServiceUri")));
    assert.ok(problemsOf({ ...valid, RestoreStorage: connectionString("backup1") }).some((p) => /RestoreStorage: must not be the backup account/.test(p)));
    assert.ok(problemsOf({ ...valid, RESTORE_CONCURRENCY: "0" }).some((p) => p.startsWith("RESTORE_CONCURRENCY")));
  });
});

describe("connections", { timeout: 30_000 }, () => {
  it("resolves a connection string, taking the account from AccountName", () => {
    const s = loadSettings(valid);
    assert.equal(s.sourceStorage.kind, "connectionString");
    assert.equal(s.functionStorage.accountName, "devstoreaccount1");
  });

  it("accepts UseDevelopmentStorage=true", () => {
    assert.equal(loadSettings({ ...valid, AzureWebJobsStorage: "UseDevelopmentStorage=true" }).functionStorage.accountName, "devstoreaccount1");
  });

  it("resolves identity-based connections with blob and queue service URIs, credential and client id", () => {
    const s = loadSettings({
      ...valid,
      SourceStorage: undefined,
      SourceStorage__blobServiceUri: "https://lakeprod.blob.core.windows.net",
      SourceStorage__credential: "managedidentity",
      SourceStorage__clientId: "11111111-2222-4333-8444-555555555555",
      AzureWebJobsStorage: undefined,
      AzureWebJobsStorage__accountName: "funcprod",
    });
    assert.deepEqual(s.sourceStorage, {
      name: "SourceStorage",
      kind: "identity",
      accountName: "lakeprod",
      blobServiceUri: "https://lakeprod.blob.core.windows.net",
      credential: { kind: "managedIdentity", clientId: "11111111-2222-4333-8444-555555555555" },
    });
    assert.deepEqual(s.functionStorage, {
      name: "AzureWebJobsStorage",
      kind: "identity",
      accountName: "funcprod",
      blobServiceUri: "https://funcprod.blob.core.windows.net",
      queueServiceUri: "https://funcprod.queue.core.windows.net",
      credential: { kind: "default" },
    });
  });

  it("takes the account of a path-style identity URI (Azurite) from the path", () => {
    const s = loadSettings({ ...valid, BackupStorage: undefined, BackupStorage__blobServiceUri: "http://127.0.0.1:10000/backup1" });
    assert.equal(s.backupStorage.accountName, "backup1");
  });

  it("names the missing queue URI of an identity-based function storage", () => {
    const problems = problemsOf({
      ...valid,
      AzureWebJobsStorage: undefined,
      AzureWebJobsStorage__blobServiceUri: "https://funcprod.blob.core.windows.net",
    });
    assert.deepEqual(problems, ["AzureWebJobsStorage__queueServiceUri: missing (needed for an identity-based connection)"]);
  });

  it("names invalid identity settings", () => {
    const problems = problemsOf({
      ...valid,
      SourceStorage: undefined,
      SourceStorage__blobServiceUri: "ftp://lake",
      SourceStorage__credential: "password",
      SourceStorage__clientId: "me",
    });
    assert.deepEqual(problems.map((p) => p.split(":")[0]).sort(), [
      "SourceStorage__blobServiceUri",
      "SourceStorage__clientId",
      "SourceStorage__credential",
    ]);
  });

  it("refuses a connection string without a key or SAS", () => {
    const problems = problemsOf({ ...valid, BackupStorage: "AccountName=backup1;BlobEndpoint=http://127.0.0.1:10000/backup1" });
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? "", /^BackupStorage: connection string: .*neither AccountKey nor SharedAccessSignature/);
  });

  it("never puts a secret into an error message", () => {
    const secretKey = "c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LWxlYWs=";
    const sas = "sv=2024-01-01&sig=SECRETSIGNATURE";
    const message = (() => {
      try {
        loadSettings({
          AzureWebJobsStorage: `AccountName=x;AccountKey=${secretKey}`, // AccountName too short: refused
          SourceStorage: `BlobEndpoint=notaurl;SharedAccessSignature=${sas}`,
          BackupStorage: `AccountName=backup1;AccountKey=${secretKey}!!`,
          COPY_ENGINE: "adf",
        });
      } catch (e) {
        return (e as Error).message;
      }
      return "";
    })();
    assert.notEqual(message, "");
    for (const secret of [secretKey, "SECRETSIGNATURE", "notaurl"]) assert.ok(!message.includes(secret), `leaked ${secret}: ${message}`);
  });
});

describe("identity connections, resolved as the Functions host resolves them", () => {
  const MI = "11111111-2222-4333-8444-555555555555";
  const TENANT = "99999999-8888-4777-8666-555555555555";
  const RESOURCE_ID = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/backup-id";
  const lake = { ...valid, SourceStorage: undefined, SourceStorage__blobServiceUri: "https://lakeprod.blob.core.windows.net" };

  it("reads setting names case-insensitively, as the host's .NET configuration does", () => {
    const s = loadSettings({ ...lake, SourceStorage__blobServiceUri: undefined, sourcestorage__BLOBSERVICEURI: "https://lakeprod.blob.core.windows.net", SourceStorage__clientID: MI });
    assert.equal(s.sourceStorage.kind === "identity" && s.sourceStorage.blobServiceUri, "https://lakeprod.blob.core.windows.net");
    assert.deepEqual(s.sourceStorage.kind === "identity" && s.sourceStorage.credential, { kind: "default", clientId: MI });
  });

  it("refuses two settings whose names differ only in case, naming both", () => {
    const problems = problemsOf({ ...lake, SourceStorage__clientId: MI, SourceStorage__CLIENTID: MI });
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? "", /SourceStorage__CLIENTID and SourceStorage__clientId: .*case-insensitively/);
  });

  it("prefers AzureWebJobs<Name> over <Name>, as the host's connection lookup does", () => {
    const s = loadSettings({ ...valid, AzureWebJobsSourceStorage: connectionString("lakeprefixed") });
    assert.equal(s.sourceStorage.accountName, "lakeprefixed");
  });

  it("uses a user-assigned managed identity by resource id", () => {
    const s = loadSettings({ ...lake, SourceStorage__credential: "ManagedIdentity", SourceStorage__managedIdentityResourceId: RESOURCE_ID });
    assert.deepEqual(s.sourceStorage.kind === "identity" && s.sourceStorage.credential, { kind: "managedIdentity", resourceId: RESOURCE_ID });
  });

  it("passes tenant, client id and resource id to DefaultAzureCredential without credential=managedidentity", () => {
    const s = loadSettings({ ...lake, SourceStorage__tenantId: TENANT, SourceStorage__managedIdentityResourceId: RESOURCE_ID });
    assert.deepEqual(s.sourceStorage.kind === "identity" && s.sourceStorage.credential, { kind: "default", tenantId: TENANT, resourceId: RESOURCE_ID });
  });

  it("refuses a client id together with a managed identity resource id", () => {
    for (const extra of [{ SourceStorage__credential: "managedidentity" }, {}]) {
      const problems = problemsOf({ ...lake, ...extra, SourceStorage__clientId: MI, SourceStorage__managedIdentityResourceId: RESOURCE_ID });
      assert.match(problems.join("\n"), /SourceStorage__clientId and SourceStorage__managedIdentityResourceId: set one of them, not both/);
    }
  });

  it("uses a service principal with tenant, client id and client secret, and never echoes the secret", () => {
    const secret = "s3cr3t~value.that-must-not-leak";
    const s = loadSettings({ ...lake, SourceStorage__tenantId: TENANT, SourceStorage__clientId: MI, SourceStorage__clientSecret: secret });
    assert.deepEqual(s.sourceStorage.kind === "identity" && s.sourceStorage.credential, { kind: "clientSecret", tenantId: TENANT, clientId: MI, clientSecret: secret });
    const problems = problemsOf({ ...lake, SourceStorage__tenantId: "not a tenant", SourceStorage__clientId: MI, SourceStorage__clientSecret: secret });
    assert.deepEqual(problems.map((p) => p.split(":")[0]), ["SourceStorage__tenantId"]);
    assert.ok(!problems.join("\n").includes(secret));
  });

  it("refuses a certificate credential the app's Node clients could not load from the host's certificate store", () => {
    const problems = problemsOf({ ...lake, SourceStorage__tenantId: TENANT, SourceStorage__clientId: MI, SourceStorage__clientCertificate: "ABCDEF0123" });
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? "", /^SourceStorage__clientCertificate: .*certificate store/);
  });

  it("refuses a credential type the app cannot build", () => {
    const problems = problemsOf({ ...lake, SourceStorage__credential: "workloadidentity" });
    assert.match(problems.join("\n"), /^SourceStorage__credential: must be "managedidentity"/);
  });
});

describe("accounts the app must be able to use", () => {
  const sasOnly = (account: string) => `BlobEndpoint=http://127.0.0.1:10000/${account};SharedAccessSignature=sv=2024-01-01&sig=abc`;

  it("refuses a SAS-only connection string for the lake, whose copies need signed read URLs", () => {
    const problems = problemsOf({ ...valid, SourceStorage: sasOnly("datalake1") });
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? "", /^SourceStorage: a connection string with only a SharedAccessSignature cannot sign/);
  });

  it("refuses a SAS-only backup connection only where the app signs on it (COPY_ENGINE=adf)", () => {
    assert.equal(loadSettings({ ...valid, BackupStorage: sasOnly("backup1") }).backupStorage.accountName, "backup1");
    const adf = {
      COPY_ENGINE: "adf",
      ADF_SUBSCRIPTION_ID: "00000000-0000-4000-8000-000000000001",
      ADF_RESOURCE_GROUP: "rg",
      ADF_FACTORY: "f",
      ADF_PIPELINE: "p",
    };
    assert.match(problemsOf({ ...valid, ...adf, BackupStorage: sasOnly("backup1") }).join("\n"), /^BackupStorage: .*only a SharedAccessSignature/);
  });

  it("refuses SourceStorage and BackupStorage naming the same account", () => {
    for (const backup of [connectionString("datalake1"), connectionString("DataLake1".toLowerCase())]) {
      assert.match(problemsOf({ ...valid, BackupStorage: backup }).join("\n"), /^BackupStorage: names the same account as SourceStorage \(datalake1\)/);
    }
    const identity = problemsOf({ ...valid, BackupStorage: undefined, BackupStorage__blobServiceUri: "https://datalake1.blob.core.windows.net" });
    assert.match(identity.join("\n"), /same account/);
  });

  it("keeps COPY_TIMEOUT_MINUTES within the shipped pipeline's Copy activity timeout", () => {
    assert.deepEqual(problemsOf({ ...valid, COPY_TIMEOUT_MINUTES: "121" }), ["COPY_TIMEOUT_MINUTES: must be at most 120"]);
    assert.equal(loadSettings({ ...valid, COPY_TIMEOUT_MINUTES: "120" }).copyTimeoutMinutes, 120);
  });
});
