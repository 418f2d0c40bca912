/**
 * The throughput settings and the engine a blob backup gets: batching thresholds with their documented defaults and
 * bounds, and ADF only for blobs of ADF_MIN_BLOB_BYTES or more.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { planFor } from "../../src/activities/prepare-blob-backup";
import { ConfigurationError, loadSettings } from "../../src/config/settings";
import type { SourceVersionWithMetadata } from "../../src/domain/blob-backup";

const KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const connectionString = (account: string) =>
  `DefaultEndpointsProtocol=http;AccountName=${account};AccountKey=${KEY};BlobEndpoint=http://127.0.0.1:10000/${account};QueueEndpoint=http://127.0.0.1:10001/${account};`;
const valid = {
  AzureWebJobsStorage: connectionString("devstoreaccount1"),
  SourceStorage: connectionString("datalake1"),
  BackupStorage: connectionString("backup1"),
};
const adf = {
  COPY_ENGINE: "adf",
  ADF_SUBSCRIPTION_ID: "00000000-0000-4000-8000-000000000001",
  ADF_RESOURCE_GROUP: "rg",
  ADF_FACTORY: "f",
  ADF_PIPELINE: "p",
};
const MiB = 1024 * 1024;

function version(contentLength: number, snapshot?: string): SourceVersionWithMetadata {
  return {
    account: "datalake1",
    container: "raw",
    blob: "x",
    etag: '"0x1"',
    ...(snapshot !== undefined && { snapshot }),
    lastModified: "2026-01-05T07:58:59.000Z",
    contentLength,
    metadata: {},
  };
}

/** The engine a plan picks; a refused plan fails the test with its reason. */
function engineOf(plan: ReturnType<typeof planFor>): string {
  if ("problem" in plan) assert.fail(plan.problem);
  return plan.engine;
}

describe("batch and ADF thresholds", { timeout: 30_000 }, () => {
  it("defaults to 8 MiB batches, 16 copies per activity and ADF from 256 MiB", () => {
    const s = loadSettings(valid);
    assert.deepEqual([s.batchMaxBlobBytes, s.batchCopyConcurrency, s.adfMinBlobBytes], [8 * MiB, 16, 256 * MiB]);
  });

  it("refuses a batch threshold above one Copy Blob From URL and names each bad value", () => {
    try {
      loadSettings({ ...valid, BATCH_MAX_BLOB_BYTES: String(257 * MiB), BATCH_COPY_CONCURRENCY: "0", ADF_MIN_BLOB_BYTES: "-1" });
      assert.fail("expected a ConfigurationError");
    } catch (err) {
      assert.ok(err instanceof ConfigurationError);
      for (const key of ["BATCH_MAX_BLOB_BYTES", "BATCH_COPY_CONCURRENCY", "ADF_MIN_BLOB_BYTES"]) {
        assert.ok(err.problems.some((p) => p.startsWith(`${key}:`)), `${key} in ${err.problems.join("; ")}`);
      }
    }
  });

  it("gives ADF only the blobs of ADF_MIN_BLOB_BYTES or more; the server engine copies the rest", () => {
    const s = loadSettings({ ...valid, ...adf, ADF_MIN_BLOB_BYTES: String(64 * MiB) });
    assert.equal(engineOf(planFor(s, version(64 * MiB - 1))), "server");
    assert.equal(engineOf(planFor(s, version(64 * MiB, "2026-01-05T07:59:00.1234567Z"))), "adf");
    assert.equal(engineOf(planFor({ ...s, adfMinBlobBytes: 0 }, version(1))), "adf");
    assert.equal(engineOf(planFor(loadSettings(valid), version(1024 * MiB))), "server");
  });
});
