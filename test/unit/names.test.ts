import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { backupContainerName, isValidBackupContainerTemplate, isValidContainerName } from "../../src/domain/names";

describe("container names", { timeout: 30_000 }, () => {
  for (const name of ["abc", "raw-data", "a1b2c3", "a".repeat(63), "0ab"]) {
    it(`accepts ${name.length > 10 ? `${name.length} characters` : name}`, () => assert.ok(isValidContainerName(name)));
  }
  for (const name of ["ab", "a".repeat(64), "Raw", "raw--data", "-raw", "raw-", "raw_data", "raw.data", "", "ünï"]) {
    it(`refuses ${JSON.stringify(name.length > 10 ? `${name.length} characters` : name)}`, () => assert.ok(!isValidContainerName(name)));
  }
});

describe("backup container template", { timeout: 30_000 }, () => {
  it("substitutes every placeholder", () => assert.equal(backupContainerName("bk-{container}", "raw"), "bk-raw"));
  it("accepts the default", () => assert.ok(isValidBackupContainerTemplate("{container}")));
  it("refuses a template without the placeholder", () => assert.ok(!isValidBackupContainerTemplate("backup")));
  it("refuses a template that yields an invalid name", () => assert.ok(!isValidBackupContainerTemplate("BK_{container}")));
});
