/**
 * `npm run bench -- <name> [options]`: runs one benchmark (or all, without a name). Each benchmark lives in
 * bench/<name>.ts and exports `run(args)`. Benchmarks are never part of the test run.
 */
import fs from "node:fs";
import path from "node:path";

interface Benchmark {
  run(args: readonly string[]): Promise<void>;
}

function available(): string[] {
  return fs
    .readdirSync(__dirname)
    .filter((f) => f.endsWith(".js") && !["run.js", "report.js"].includes(f) && !f.startsWith("_"))
    .map((f) => f.slice(0, -3))
    .sort();
}

async function main(): Promise<void> {
  const [name, ...args] = process.argv.slice(2);
  const names = name === undefined || name.startsWith("-") ? available() : [name];
  for (const n of names) {
    if (!available().includes(n)) {
      console.error(`unknown benchmark "${n}"; available: ${available().join(", ")}`);
      process.exit(2);
    }
    console.log(`\n## bench: ${n}\n`);
    const benchmark = (await import(path.join(__dirname, `${n}.js`))) as Benchmark;
    await benchmark.run(name === undefined ? [] : args);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
