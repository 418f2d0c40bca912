/**
 * The shipped ADF objects agree with the parameters the app sends, reference each other consistently, keep their
 * Copy timeout in step with COPY_TIMEOUT_MINUTES, and survive Data Factory's own model: each file is deserialised by
 * @azure/arm-datafactory as a GET answer and serialised again as a createOrUpdate body, which must give it back.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";

import { DataFactoryManagementClient } from "@azure/arm-datafactory";
import { createHttpHeaders, type PipelineRequest } from "@azure/core-rest-pipeline";

import { MAX_COPY_TIMEOUT_MINUTES } from "../../src/config/settings";
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
  });

  it("gives every Copy activity the timeout COPY_TIMEOUT_MINUTES may not exceed", () => {
    const text = JSON.stringify(read("pipeline/BlobBackupCopy.json"));
    const timeouts = [...text.matchAll(/"type":"Copy","policy":\{"timeout":"(\d+)\.(\d\d):(\d\d):(\d\d)"/g)].map(
      ([, d, h, m]) => Number(d) * 24 * 60 + Number(h) * 60 + Number(m),
    );
    assert.equal(timeouts.length, 2);
    for (const minutes of timeouts) assert.equal(minutes, MAX_COPY_TIMEOUT_MINUTES);
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

describe("adf/ objects through Data Factory's model (@azure/arm-datafactory mappers)", () => {
  /** A client whose HTTP client answers GETs with the file and records the body of every PUT. */
  function modelClient(file: unknown): { client: DataFactoryManagementClient; sent: () => unknown } {
    let body: unknown;
    const client = new DataFactoryManagementClient({ getToken: () => Promise.resolve({ token: "t", expiresOnTimestamp: Date.now() + 3_600_000 }) }, "sub", {
      httpClient: {
        sendRequest: (request: PipelineRequest) => {
          if (request.method === "PUT" && typeof request.body === "string") body = JSON.parse(request.body);
          return Promise.resolve({
            request,
            status: 200,
            headers: createHttpHeaders({ "content-type": "application/json" }),
            bodyAsText: JSON.stringify(request.method === "PUT" ? body : file),
          });
        },
      },
    });
    return { client, sent: () => body };
  }

  const files = (folder: string) => fs.readdirSync(path.join(adf, folder)).map((f) => `${folder}/${f}`);

  for (const rel of files("pipeline")) {
    it(`${rel} deserialises and serialises back unchanged`, async () => {
      const file = read(rel);
      const { client, sent } = modelClient(file);
      const model = await client.pipelines.get("rg", "factory", file.name);
      await client.pipelines.createOrUpdate("rg", "factory", file.name, model);
      assert.deepEqual((sent() as { properties: unknown }).properties, file.properties);
    });
  }
  for (const rel of files("dataset")) {
    it(`${rel} deserialises and serialises back unchanged`, async () => {
      const file = read(rel);
      const { client, sent } = modelClient(file);
      const model = await client.datasets.get("rg", "factory", file.name);
      assert.ok(model !== undefined);
      await client.datasets.createOrUpdate("rg", "factory", file.name, model);
      assert.deepEqual((sent() as { properties: unknown }).properties, file.properties);
    });
  }
  for (const rel of files("linkedService")) {
    it(`${rel} deserialises and serialises back unchanged`, async () => {
      const file = read(rel);
      const { client, sent } = modelClient(file);
      const model = await client.linkedServices.get("rg", "factory", file.name);
      assert.ok(model !== undefined);
      await client.linkedServices.createOrUpdate("rg", "factory", file.name, model);
      assert.deepEqual((sent() as { properties: unknown }).properties, file.properties);
    });
  }
});
