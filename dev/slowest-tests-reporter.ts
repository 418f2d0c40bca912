/**
 * A node:test reporter that prints, once the run ends, the ten slowest top-level tests (a file's `describe` blocks and
 * top-level `it`s) with their files: where the suite's time goes, without re-reading the spec output. `npm test` runs
 * it beside the spec reporter (dev/run-tests.ts).
 */
import path from "node:path";

interface TestEvent {
  readonly type: string;
  readonly data?: {
    readonly name?: string;
    readonly nesting?: number;
    readonly file?: string;
    readonly details?: { readonly duration_ms?: number };
  };
}

const SHOWN = 10;

async function* slowestTests(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const done: { name: string; file: string; ms: number }[] = [];
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const { name, nesting, file, details } = event.data ?? {};
    // nesting 0 with a file: a top-level test of that file (the runner's own per-file entries carry no duration).
    if (nesting !== 0 || file === undefined || name === undefined || details?.duration_ms === undefined) continue;
    done.push({ name, file: path.relative(process.cwd(), file), ms: details.duration_ms });
  }
  done.sort((a, b) => b.ms - a.ms);
  yield `\nslowest top-level tests:\n`;
  for (const t of done.slice(0, SHOWN)) yield `${(t.ms / 1000).toFixed(1).padStart(7)} s  ${t.name}  (${t.file})\n`;
}

// node:test loads a reporter as its module's default export; compiled to CommonJS, that is module.exports itself.
export = slowestTests;
