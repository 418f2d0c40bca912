import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { BlobServiceClient } from "@azure/storage-blob";

import type { BlobAccount } from "../../src/config/clients";
import { sourceReadUrl } from "../../src/storage/source-sas";

describe("read SAS URLs", () => {
  it("refuses a user-delegation SAS that would outlive the longest key the service grants (7 days)", async () => {
    let requests = 0;
    // An identity-based account (no shared key): its SAS is signed with a user delegation key. Nothing may be sent.
    const service = new BlobServiceClient("https://lake.blob.core.windows.net", { getToken: () => Promise.resolve({ token: "t", expiresOnTimestamp: Date.now() + 3_600_000 }) }, {
      retryOptions: { maxTries: 1 },
      httpClient: {
        sendRequest: (request) => {
          requests += 1;
          return Promise.reject(new Error(`unexpected request ${request.method} ${request.url}`));
        },
      },
    });
    const account: BlobAccount = { accountName: "lake", service, singleAttempt: service };
    await assert.rejects(
      sourceReadUrl(account, "raw", "a.parquet", undefined, new Date(Date.now() + 8 * 24 * 3_600_000)),
      /cannot be valid beyond 7 days/,
    );
    assert.equal(requests, 0, "no delegation key requested for a SAS it could not cover");
  });
});
