import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { RestError } from "@azure/storage-blob";

import { isSnapshotRefusal } from "../../src/storage/process-source-page";

const refusal = (statusCode: number, code: string) => new RestError(`Injected ${code}`, { statusCode, code });

describe("SNAPSHOTS=auto: what counts as an account refusing snapshots", () => {
  it("recognises the codes the Blob service answers Snapshot Blob with where snapshots are unavailable", () => {
    // Hierarchical namespace (and so NFS 3.0 and SFTP) accounts, as recorded against the live service.
    assert.ok(isSnapshotRefusal(refusal(409, "FeatureNotYetSupportedForHierarchicalNamespaceAccounts")));
    // The service's codes for a feature or Blob API an account type lacks, and for an operation "not supported in
    // this scenario".
    assert.ok(isSnapshotRefusal(refusal(409, "FeatureNotSupportedForAccount")));
    assert.ok(isSnapshotRefusal(refusal(400, "FeatureNotSupportedForAccount")));
    assert.ok(isSnapshotRefusal(refusal(400, "BlobApiNotYetSupportedForHierarchicalNamespaceAccounts")));
    assert.ok(isSnapshotRefusal(refusal(409, "BlobOperationNotSupported")));
  });

  it("does not take other failures for a refusal", () => {
    // A File share code, not one the Blob service uses.
    assert.ok(!isSnapshotRefusal(refusal(409, "SnapshotOperationNotSupported")));
    assert.ok(!isSnapshotRefusal(refusal(409, "SnapshotCountExceeded")));
    assert.ok(!isSnapshotRefusal(refusal(503, "ServerBusy")));
    assert.ok(!isSnapshotRefusal(refusal(412, "ConditionNotMet")));
    assert.ok(!isSnapshotRefusal(new Error("FeatureNotYetSupportedForHierarchicalNamespaceAccounts")));
  });
});
