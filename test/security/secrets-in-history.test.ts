/**
 * Secrets stay out of the Durable history (which the management API serves) and out of outputs: an activity that fails
 * with an SDK error quoting a SAS URL, an account key, a Shared Key signature and a bearer token leaves none of them in
 * the history or the instance's output; an ADF run that fails with a message quoting its SAS source URL is reported
 * without the signature.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import { DataFactoryManagementClient } from "@azure/arm-datafactory";
import { DefaultAzureCredential } from "@azure/identity";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { type LocalHost, startLocalHost } from "../../local-host";
import { createGetAdfCopyRunActivity } from "../../src/activities/get-adf-copy-run";
import { makeSelfSignedCert, type SelfSignedCert } from "../support/adf-fake/cert";
import { type AdfFake, FAKE_FACTORY, startAdfFake } from "../support/adf-fake/fake";
import { LEAKED_SECRET } from "./apps/leaky-activity";

let azurite: AzuriteInstance;

before(async () => {
  azurite = await startAzurite();
});
after(async () => {
  await azurite?.stop();
});

describe("a failing activity's error in the Durable history", { timeout: 60_000 }, () => {
  let host: LocalHost;
  before(async () => {
    host = await startLocalHost({ settings: { ...azurite.settings }, functions: [path.resolve(__dirname, "apps/leaky-activity.js")], timerSchedules: false });
  });
  after(async () => {
    await host?.stop();
  });

  it("keeps the failure readable and carries no secret", async () => {
    const id = await host.client.startNew("LeakyOrchestration");
    const status = await host.client.waitForCompletion(id, { showHistory: true });
    assert.equal(status.runtimeStatus, "Failed");
    const everything = JSON.stringify(status);
    assert.ok(everything.includes("REDACTED"), "the failure is recorded, redacted");
    assert.ok(everything.includes("datalake1.blob.core.windows.net/raw/a.csv"), "and stays readable");
    assert.ok(!everything.includes(LEAKED_SECRET), everything);
  });
});

describe("ADF run messages", { timeout: 60_000 }, () => {
  let cert: SelfSignedCert;
  let fake: AdfFake;
  before(async () => {
    cert = makeSelfSignedCert();
    fake = await startAdfFake({
      ...FAKE_FACTORY,
      cert: cert.cert,
      key: cert.key,
      sourceConnectionString: azurite.settings.SourceStorage,
      backupConnectionString: azurite.settings.BackupStorage,
      queuedMs: 20,
      runMs: 20,
    });
    process.env.IDENTITY_ENDPOINT = fake.identityEndpoint;
    process.env.IDENTITY_HEADER = fake.identityHeader;
  });
  after(async () => {
    await fake?.stop();
    cert?.remove();
  });

  it("are redacted before they reach the orchestration (history, output)", async () => {
    const client = new DataFactoryManagementClient(new DefaultAzureCredential(), FAKE_FACTORY.subscriptionId, {
      endpoint: fake.endpoint,
      credentialScopes: "https://management.azure.com/.default",
      retryOptions: { maxRetries: 0 },
      tlsOptions: { ca: cert.cert },
    });
    fake.nextRun({
      outcome: "Failed",
      message: `ErrorCode=UserErrorSourceBlobNotExist, 'Source https://datalake1.blob.core.windows.net/raw/a.csv?snapshot=x&sv=2024&sig=${LEAKED_SECRET}&se=1 not found'`,
    });
    const { runId } = await client.pipelines.createRun(FAKE_FACTORY.resourceGroup, FAKE_FACTORY.factory, FAKE_FACTORY.pipeline, {
      parameters: { requestId: "r1", sourceAccount: "datalake1", sourceContainer: "raw", sourcePath: "a.csv", backupAccount: "backup1", backupContainer: "datalake-backup-staging", backupPath: "r1" },
    });
    const activity = createGetAdfCopyRunActivity({ adf: client, adfSettings: { ...FAKE_FACTORY, endpoint: fake.endpoint } });
    for (const deadline = Date.now() + 20_000; ; await new Promise((r) => setTimeout(r, 50))) {
      const polled = await activity({ runId });
      if (polled.kind === "run" && polled.status === "Failed") {
        assert.ok(!polled.message.includes(LEAKED_SECRET), polled.message);
        assert.match(polled.message, /UserErrorSourceBlobNotExist.*sig=REDACTED/);
        return;
      }
      assert.ok(Date.now() < deadline, `run ${runId} never failed: ${JSON.stringify(polled)}`);
    }
  });
});
