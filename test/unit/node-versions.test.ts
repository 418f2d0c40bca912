/**
 * One story about Node.js: `.ci/run` runs the suite on the Node.js the app is deployed on (`.ci/node-version`), the
 * README deploys that major, `@types/node` describes it, and `engines` admits it and Node 20 (still supported here).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";

import { OUT_ROOT } from "../../local-host";
import { findRepoRoot } from "../../local-host/app-loader";

const repo = findRepoRoot(OUT_ROOT);
const read = (file: string) => fs.readFileSync(path.join(repo, file), "utf8");
const pkg = JSON.parse(read("package.json")) as { engines: { node: string }; devDependencies: Record<string, string> };
const ciVersion = read(".ci/node-version").trim();
const deployedMajor = Number(ciVersion.split(".")[0]);

/** True when `version` satisfies one of the `^x.y.z` alternatives of an engines range. */
function admits(range: string, version: string): boolean {
  const v = version.split(".").map(Number);
  return range.split("||").some((alternative) => {
    const m = /^\s*\^(\d+)\.(\d+)\.(\d+)\s*$/.exec(alternative);
    if (m === null) throw new Error(`engines alternative '${alternative}' is not ^x.y.z`);
    const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
    return v[0] === major && ((v[1] ?? 0) > minor || ((v[1] ?? 0) === minor && (v[2] ?? 0) >= patch));
  });
}

describe("Node.js versions", () => {
  it("CI runs on the Node 22 LTS the README deploys, an exact version", () => {
    assert.match(ciVersion, /^\d+\.\d+\.\d+$/);
    assert.equal(deployedMajor, 22);
    assert.match(read("README.md"), new RegExp(`Function app\\*\\*: Node\\.js ${deployedMajor} on Functions v4`));
    assert.match(read(".ci/run"), /\.ci\/node-version/);
  });

  it("@types/node describes the deployed major", () => {
    assert.equal(Number(pkg.devDependencies["@types/node"]?.split(".")[0]), deployedMajor);
  });

  it("engines admits the deployed Node and Node 20, and the README says so", () => {
    assert.ok(admits(pkg.engines.node, ciVersion), `${pkg.engines.node} does not admit ${ciVersion}`);
    assert.ok(admits(pkg.engines.node, "20.19.0"), `${pkg.engines.node} does not admit Node 20`);
    assert.ok(!admits(pkg.engines.node, "18.20.0"));
    assert.match(read("README.md"), /Requirements: Node\.js 20 or 22/);
  });
});
