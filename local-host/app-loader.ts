/**
 * Finds the app's compiled entry points from package.json `main` (e.g. "dist/src/{triggers,orchestrators,activities}/*.js"),
 * with the leading "dist/" replaced by the compiled output root this host runs from, so the host works from dist/ or
 * from any other tsc outDir. Supports the `{a,b}` and `*` forms the Functions host accepts.
 */
import fs from "node:fs";
import path from "node:path";

/** Expands one `{a,b}` group at a time. */
function expandBraces(pattern: string): string[] {
  const m = /\{([^{}]*)\}/.exec(pattern);
  if (m === null) return [pattern];
  const [whole, inner = ""] = m;
  return inner.split(",").flatMap((alt) => expandBraces(pattern.replace(whole, alt)));
}

function matchSegment(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join("[^/]*")}$`);
  return re.test(name);
}

function globOne(root: string, pattern: string): string[] {
  let current = [root];
  for (const segment of pattern.split("/").filter((s) => s !== "" && s !== ".")) {
    const next: string[] = [];
    for (const dir of current) {
      if (!segment.includes("*")) {
        const p = path.join(dir, segment);
        if (fs.existsSync(p)) next.push(p);
        continue;
      }
      if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) continue;
      for (const name of fs.readdirSync(dir).sort()) if (matchSegment(segment, name)) next.push(path.join(dir, name));
    }
    current = next;
  }
  return current.filter((p) => fs.statSync(p).isFile());
}

/** The app's entry files, resolved against `outRoot` (the compiled output root, e.g. <repo>/dist). */
export function resolveMainFiles(repoRoot: string, outRoot: string): string[] {
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { main?: string };
  if (pkg.main === undefined) throw new Error("package.json has no `main`: cannot find the app's functions");
  const relative = pkg.main.replace(/^(\.\/)?dist\//, "");
  const files = expandBraces(relative).flatMap((p) => globOne(outRoot, p));
  return [...new Set(files)];
}

/** The repository root: the nearest folder above the compiled output that holds package.json. */
export function findRepoRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "package.json"))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${start}`);
  }
}

export function loadFiles(files: readonly string[]): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the app's entry points are CommonJS files found at run time
  for (const file of files) require(path.resolve(file));
}
