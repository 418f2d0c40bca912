/**
 * The Azurite the tests and benches start collects unreferenced extents once, at start, and not every 10 minutes as
 * Azurite does by default (dev/azurite-process.ts says why: a collection stops the server, for minutes in a large
 * bench). A persisted Azurite keeps the default schedule. Read from Azurite's debug log, where its collector says how
 * long it sleeps after each mark and sweep.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";

import { startAzurite } from "../../dev/azurite";
import { waitFor } from "../support/wait-for";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "azurite-gc-"));

/** The sleep Azurite's blob collector logs after its first mark and sweep, in ms. */
async function collectorSleep(options: { location?: string }, name: string): Promise<number> {
  const debugLog = path.join(work, `${name}.log`);
  const azurite = await startAzurite({ ...options, debugLog });
  try {
    const sleep = /BlobGCManager:markSweepLoop\(\) Sleep for (\d+)ms/;
    const found = await waitFor(() => (fs.existsSync(debugLog) ? sleep.exec(fs.readFileSync(debugLog, "utf8"))?.[1] : undefined), {
      describe: "Azurite's blob collector to log its sleep",
      timeoutMs: 20_000,
    });
    return Number(found);
  } finally {
    await azurite.stop();
  }
}

describe("Azurite's extent collector in the tests' Azurite", { timeout: 60_000 }, () => {
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it("in memory: runs once at start, then sleeps the longest setTimeout allows", async () => {
    assert.equal(await collectorSleep({}, "memory"), 2 ** 31 - 1);
  });

  it("persisted: keeps Azurite's 10-minute schedule", async () => {
    assert.equal(await collectorSleep({ location: path.join(work, "data") }, "persisted"), 10 * 60 * 1000);
  });
});
