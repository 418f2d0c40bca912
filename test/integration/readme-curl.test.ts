/**
 * Every curl example of README.md runs, as written, against the app under the local host (what `npm run local` serves,
 * with the settings of local.settings.json.sample), with the real curl binary. Examples are the ```bash blocks marked
 * `<!-- readme-curl expect="…" -->`: one expected HTTP status per response the block prints (`a|b` = either), in order.
 * BASE, KEY and DURABLE_KEY are set as the README's setup block says, with BASE pointing at this test's host.
 */
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import { BlobServiceClient } from "@azure/storage-blob";

import { type AzuriteInstance, startAzurite } from "../../dev/azurite";
import { type LocalHost, OUT_ROOT, startLocalHost } from "../../local-host";
import { findRepoRoot } from "../../local-host/app-loader";

const repoRoot = findRepoRoot(OUT_ROOT);
const readme = fs.readFileSync(path.join(repoRoot, "README.md"), "utf8");

interface Example {
  readonly expect: readonly string[];
  readonly script: string;
}

const MARKED = /<!-- readme-curl expect="([^"]+)" -->\s*\n```bash\n([\s\S]*?)```/g;
const examples: Example[] = [...readme.matchAll(MARKED)].map((m) => ({ expect: (m[1] ?? "").trim().split(/\s+/), script: m[2] ?? "" }));

function curlAvailable(): boolean {
  try {
    execFileSync("curl", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** The sample's settings, with its Azurite connection strings replaced by this test's Azurite (free ports). */
function sampleSettings(azurite: AzuriteInstance): Record<string, string> {
  const sample = JSON.parse(fs.readFileSync(path.join(repoRoot, "local.settings.json.sample"), "utf8")) as { Values: Record<string, string> };
  return { ...sample.Values, ...azurite.settings };
}

function runBash(script: string, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("bash", ["-euo", "pipefail", "-c", script], { env: { ...process.env, ...env }, timeout: 90_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 1, stdout, stderr });
    });
  });
}

describe("README curl examples against the local host", { timeout: 600_000, skip: curlAvailable() ? false : "curl is not installed" }, () => {
  let azurite: AzuriteInstance;
  let host: LocalHost;

  before(async () => {
    azurite = await startAzurite();
    host = await startLocalHost({ settings: sampleSettings(azurite), port: 0, queuePollMs: 50, timerSchedules: false });
    // A small lake: `raw` is the examples' container; the others give the reconciliation enough work to still be
    // running when the 409 example's second POST arrives.
    const lake = BlobServiceClient.fromConnectionString(azurite.settings.SourceStorage);
    for (const [container, count] of [["raw", 30], ["curated", 60], ["logs", 60]] as const) {
      const c = lake.getContainerClient(container);
      await c.create();
      await Promise.all(Array.from({ length: count }, (_, i) => c.getBlockBlobClient(`ingest/2026/11/${i % 3}/part-${i}.csv`).upload(`row ${i}`, `row ${i}`.length)));
    }
  });

  after(async () => {
    await host?.stop();
    await azurite?.stop();
  });

  it("finds the marked examples, and every bash block with a curl call is marked", () => {
    assert.ok(examples.length >= 9, `found ${examples.length} marked examples`);
    const bashBlocks = [...readme.matchAll(/(<!-- readme-curl[^>]*-->\s*\n)?```bash\n([\s\S]*?)```/g)];
    const unmarked = bashBlocks.filter((m) => m[1] === undefined && /\bcurl\s/.test(m[2] ?? "")).map((m) => m[2]);
    assert.deepEqual(unmarked, [], "a curl example without a readme-curl marker");
  });

  it("runs every example in README order with the documented HTTP statuses", { timeout: 300_000 }, async () => {
    const env = { BASE: host.baseUrl, KEY: "local", DURABLE_KEY: "local", NO_PROXY: "127.0.0.1,localhost", no_proxy: "127.0.0.1,localhost" };
    for (const example of examples) {
      const result = await runBash(example.script, env);
      const what = `${example.script.trim()}\n--- stdout:\n${result.stdout.slice(0, 2000)}\n--- stderr:\n${result.stderr.slice(0, 1000)}`;
      assert.equal(result.code, 0, `exit code ${result.code}: ${what}`);
      // Status lines anywhere: a JSON body without a final newline runs into the next response's status line.
      const statuses = [...result.stdout.matchAll(/HTTP\/(?:1\.[01]|2) (\d{3}) /g)].map((m) => m[1] ?? "");
      assert.equal(statuses.length, example.expect.length, `responses ${statuses.join(" ")} vs expected ${example.expect.join(" ")}: ${what}`);
      statuses.forEach((status, i) => assert.ok((example.expect[i] ?? "").split("|").includes(status), `response ${i + 1}: ${status}, expected ${example.expect[i] ?? "?"}: ${what}`));
      if (example.script.includes("LOCATION=")) assert.match(result.stdout, /"runtimeStatus":\s*"Completed"/, `the followed instance completed: ${what}`);
    }
  });
});
