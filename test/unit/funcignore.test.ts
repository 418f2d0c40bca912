/**
 * What a deployment ships, resolved as the deploy tools resolve it: every path of the built app (files and folders,
 * dotfiles too), relative to the root, tested against `.funcignore` with the `ignore` package, which the GitHub
 * Action (`respect-funcignore`) uses. A path is shipped when neither it nor a folder above it is ignored.
 * Runs on the real tree after `npm run build`.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";

import ignore from "ignore";

import { OUT_ROOT } from "../../local-host";
import { findRepoRoot, resolveMainFiles } from "../../local-host/app-loader";

const repo = findRepoRoot(OUT_ROOT);
const rules = ignore().add(fs.readFileSync(path.join(repo, ".funcignore"), "utf8"));

function shipped(relative: string): boolean {
  const parts = relative.split("/");
  return parts.every((_, i) => !rules.ignores(parts.slice(0, i + 1).join("/")));
}

/** Every file under `dir` (relative to the repository, "/"-separated), skipping folders named in `skip`. */
function filesUnder(dir: string, skip: ReadonlySet<string> = new Set()): string[] {
  const out: string[] = [];
  const visit = (rel: string): void => {
    for (const entry of fs.readdirSync(path.join(repo, rel), { withFileTypes: true })) {
      const child = `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        if (!skip.has(entry.name)) visit(child);
      } else {
        out.push(child);
      }
    }
  };
  if (fs.existsSync(path.join(repo, dir))) visit(dir);
  return out;
}

/** The packages a production install has: package-lock entries that are not dev-only. */
function runtimePackages(): string[] {
  const lock = JSON.parse(fs.readFileSync(path.join(repo, "package-lock.json"), "utf8")) as {
    packages: Record<string, { dev?: boolean; devOptional?: boolean }>;
  };
  return Object.entries(lock.packages)
    .filter(([key, entry]) => key.startsWith("node_modules/") && entry.dev !== true && entry.devOptional !== true)
    .map(([key]) => key)
    .filter((key) => fs.existsSync(path.join(repo, key)));
}

describe(".funcignore: what a deployment ships", () => {
  it("ships every entry point package.json `main` names, host.json and the package files", () => {
    const main = resolveMainFiles(repo, path.join(repo, "dist")).map((f) => path.relative(repo, f).split(path.sep).join("/"));
    assert.ok(main.length >= 10, `package.json main resolves to ${main.length} files: build first`);
    assert.ok(main.some((f) => f.startsWith("dist/src/orchestrators/")));
    for (const file of [...main, "host.json", "package.json", "package-lock.json"]) assert.ok(shipped(file), `${file} is left out`);
    assert.deepEqual(filesUnder("dist/src").filter((f) => f.endsWith(".js") && !shipped(f)), []);
  });

  it("ships every file of every runtime dependency", () => {
    const packages = runtimePackages();
    assert.ok(packages.includes("node_modules/durable-functions") && packages.includes("node_modules/@azure/functions"));
    // Nested node_modules are packages of their own in the lock file.
    const files = packages.flatMap((pkg) => filesUnder(pkg, new Set(["node_modules"])));
    assert.ok(files.includes("node_modules/durable-functions/lib/src/index.js"));
    assert.deepEqual(files.filter((f) => !shipped(f)), []);
  });

  it("leaves out the sources, tests, local host, demo, benchmarks, dev tools and source maps", () => {
    const devOnly = ["src", "test", "local-host", "demo", "bench", "dev", "docs", "adf", "dist/test", "dist/local-host", "dist/demo", "dist/bench", "dist/dev"];
    const files = devOnly.flatMap((dir) => filesUnder(dir));
    assert.ok(files.some((f) => f.startsWith("dist/test/")) && files.some((f) => f.startsWith("dist/local-host/")), "build first");
    assert.deepEqual(files.filter(shipped), []);
    assert.deepEqual(filesUnder("dist/src").filter((f) => f.endsWith(".map") && shipped(f)), []);
    for (const file of ["local.settings.json.sample", "tsconfig.json", "eslint.config.mjs", "README.md", ".ci/run", ".funcignore", ".gitignore"]) {
      assert.equal(shipped(file), false, `${file} is shipped`);
    }
  });
});
