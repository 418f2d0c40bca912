/** A reconciliation request restarts a completed backup instance of the same version: its backup is gone. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { existingInstanceAction } from "../../src/domain/blob-backup-instance";

describe("existingInstanceAction with the request's reason", { timeout: 30_000 }, () => {
  it("a reconciliation request restarts a completed instance (Copied or Skipped)", () => {
    assert.equal(existingInstanceAction({ runtimeStatus: "Completed", output: { status: "Copied" } }, "reconcile"), "restart");
    assert.equal(existingInstanceAction({ runtimeStatus: "Completed", output: { status: "Skipped" } }, "reconcile"), "restart");
  });
  it("a producer request for a completed instance is still a duplicate", () => {
    assert.equal(existingInstanceAction({ runtimeStatus: "Completed", output: { status: "Copied" } }, "producer"), "duplicate");
  });
  it("a running instance is a duplicate whatever the reason", () => {
    assert.equal(existingInstanceAction({ runtimeStatus: "Running" }, "reconcile"), "duplicate");
    assert.equal(existingInstanceAction({ runtimeStatus: "Pending" }, "reconcile"), "duplicate");
  });
});
