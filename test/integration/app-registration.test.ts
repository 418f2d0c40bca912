/**
 * package.json `main` is what the Functions host loads: the compiled files it names must register every function
 * the app has, each exactly once, with the bindings production relies on.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { type LocalHost, startLocalHost } from "../../local-host";
import { findRepoRoot, resolveMainFiles } from "../../local-host/app-loader";
import { Activities, Orchestrators, Triggers } from "../../src/function-names";

const OUT_ROOT = path.resolve(__dirname, "../..");
const REPO_ROOT = findRepoRoot(OUT_ROOT);

describe("the app as package.json main describes it", { timeout: 600_000 }, () => {
  let azurite: AzuriteInstance;
  let host: LocalHost;
  const hostMessages: string[] = [];

  before(async () => {
    azurite = await startAzurite();
    host = await startLocalHost({ settings: { ...azurite.settings }, timerSchedules: false, log: (m) => hostMessages.push(m) });
  });
  after(async () => {
    await host?.stop();
    await azurite?.stop();
  });

  it("names every compiled trigger, orchestrator and activity file", () => {
    const main = resolveMainFiles(REPO_ROOT, OUT_ROOT).map((f) => path.relative(OUT_ROOT, f)).sort();
    const compiled = ["triggers", "orchestrators", "activities"]
      .flatMap((dir) => fs.readdirSync(path.join(OUT_ROOT, "src", dir)).filter((f) => f.endsWith(".js")).map((f) => path.join("src", dir, f)))
      .sort();
    assert.ok(compiled.length >= 10);
    assert.deepEqual(main, compiled);
  });

  it("registers every function named in src/function-names.ts, and nothing else, with no setting beyond the connections", () => {
    const expected = [...Object.values(Triggers), ...Object.values(Orchestrators), ...Object.values(Activities)].sort();
    assert.deepEqual([...host.functions].sort(), expected);
    assert.deepEqual(hostMessages.filter((m) => /error|not set/i.test(m)), [], "every trigger binds with the defaults");
  });
});
