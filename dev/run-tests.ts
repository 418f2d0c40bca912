/**
 * `npm test` after the build: runs node's test runner on the compiled `*.test.js` files only. Given a folder, node's
 * runner would also load every .js file under a `test/` folder (support code, test apps) as a test file.
 * Arguments narrow the run: `npm test -- reconcil` runs the test files whose path contains "reconcil".
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

function testFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) return testFiles(full);
      return entry.name.endsWith(".test.js") ? [full] : [];
    })
    .sort();
}

const root = path.resolve(__dirname, "../test");
const filters = process.argv.slice(2);
const files = testFiles(root).filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error(`no test files under ${root}${filters.length > 0 ? ` matching ${filters.join(", ")}` : ""}`);
  process.exit(1);
}
const result = spawnSync(process.execPath, ["--test", "--test-reporter=spec", ...files], { stdio: "inherit" });
process.exit(result.status ?? 1);
