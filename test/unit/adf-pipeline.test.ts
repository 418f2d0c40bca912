/** The shipped ADF objects agree with the parameters the app sends, and reference each other consistently. */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";

import { PipelineParameters } from "../../src/copy/adf-pipeline";

function repoRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "package.json")) && fs.existsSync(path.join(dir, "adf"))) return dir;
    if (path.dirname(dir) === dir) throw new Error("repository root not found");
  }
}

const adf = path.join(repoRoot(), "adf");
const read = (rel: string) => JSON.parse(fs.readFileSync(path.join(adf, rel), "utf8")) as { name: string; properties: Record<string, unknown> };

describe("adf/ pipeline definition", { timeout: 30_000 }, () => {
  it("declares exactly the parameters the app sends, the SAS URL as SecureString", () => {
    const pipeline = read("pipeline/BlobBackupCopy.json");
    const params = pipeline.properties.parameters as Record<string, { type: string }>;
    assert.deepEqual(Object.keys(params).sort(), Object.values(PipelineParameters).sort());
    assert.equal(params.sourceSnapshotUrl?.type, "SecureString");
    assert.equal(params.metadata?.type, "Array");
  });

  it("references only datasets and linked services that ship, each named as its file", () => {
    const text = JSON.stringify(read("pipeline/BlobBackupCopy.json"));
    for (const folder of ["dataset", "linkedService"]) {
      for (const file of fs.readdirSync(path.join(adf, folder))) assert.equal(read(`${folder}/${file}`).name, file.replace(/\.json$/, ""));
    }
    const datasets = [...text.matchAll(/"referenceName":"([^"]+)","type":"DatasetReference"/g)].map((m) => m[1]);
    assert.ok(datasets.length >= 3);
    for (const d of datasets) {
      assert.ok(fs.existsSync(path.join(adf, "dataset", `${d}.json`)), d);
      const ls = (read(`dataset/${d}.json`).properties.linkedServiceName as { referenceName: string }).referenceName;
      assert.ok(fs.existsSync(path.join(adf, "linkedService", `${ls}.json`)), ls);
    }
  });
});
