/**
 * `npm test` after the build: runs node's test runner on the compiled `*.test.js` files only. Given a folder, node's
 * runner would also load every .js file under a `test/` folder (support code, test apps) as a test file.
 *
 * Arguments narrow the run: `npm test -- reconcil` runs the test files whose path contains "reconcil"; arguments that
 * start with `--` go to node's runner, e.g. `npm test -- end-to-end --test-name-pattern="second reconciliation"`.
 *
 * Files run three at a time (TEST_CONCURRENCY; each file starts its own Azurite on free ports, so files never share
 * state). Much of a file's time is spent waiting (lease periods, retries, polls), so on a 2-core CI machine two files
 * left a third of the CPU idle: the whole suite took 5m12s two at a time and 4m43s three at a time there. The longest
 * files start first so that they do not end the run alone.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

/** The slowest files (big data, real lease periods), started first; the rest follow in path order. */
const LONGEST_FIRST = [
  "integration/chaos.test.js",
  "integration/orphans-bounded.test.js",
  "integration/container-scan-large.test.js",
  "integration/blob-backup-adf-host.test.js",
  "integration/blob-backup-steps-host.test.js",
  "integration/reconcile-window.test.js",
  "integration/blob-backup-server-engine.test.js",
];

/** A hung test fails after this long even when its file sets no timeout of its own. */
const TEST_TIMEOUT_MS = 600_000;

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

function rank(file: string): number {
  const i = LONGEST_FIRST.findIndex((suffix) => file.endsWith(path.normalize(suffix)));
  return i < 0 ? LONGEST_FIRST.length : i;
}

const root = path.resolve(__dirname, "../test");
const args = process.argv.slice(2);
const runnerArgs = args.filter((a) => a.startsWith("--"));
const filters = args.filter((a) => !a.startsWith("--"));
const files = testFiles(root)
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort((a, b) => rank(a) - rank(b));
if (files.length === 0) {
  console.error(`no test files under ${root}${filters.length > 0 ? ` matching ${filters.join(", ")}` : ""}`);
  process.exit(1);
}
const concurrency = Number(process.env.TEST_CONCURRENCY ?? 3);
if (!Number.isInteger(concurrency) || concurrency < 1) {
  console.error(`TEST_CONCURRENCY must be a positive integer, not "${process.env.TEST_CONCURRENCY ?? ""}"`);
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  [
    "--test",
    "--test-reporter=spec",
    "--test-reporter-destination=stdout",
    `--test-reporter=${pathToFileURL(path.join(__dirname, "slowest-tests-reporter.js")).href}`,
    "--test-reporter-destination=stdout",
    `--test-concurrency=${concurrency}`,
    `--test-timeout=${TEST_TIMEOUT_MS}`,
    ...runnerArgs,
    ...files,
  ],
  { stdio: "inherit" },
);
process.exit(result.status ?? 1);
