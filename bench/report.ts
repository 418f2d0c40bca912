/**
 * Benchmark output: a plain table where every row carries its ratio to a baseline measured in the same run, because
 * this machine is shared and absolute figures drift between runs.
 */
import fs from "node:fs";

export interface Row {
  readonly name: string;
  /** Wall time in milliseconds. */
  readonly ms: number;
  /** Extra columns (requests per 1,000 blobs, history events, memory…), already formatted. */
  readonly extra?: Readonly<Record<string, string | number>>;
}

export function printTable(title: string, baseline: Row, rows: readonly Row[]): void {
  const all = [baseline, ...rows];
  const extraKeys = [...new Set(all.flatMap((r) => Object.keys(r.extra ?? {})))];
  const header = ["case", "wall ms", `× ${baseline.name}`, ...extraKeys];
  const lines = all.map((r) => [
    r.name,
    r.ms.toFixed(0),
    (r.ms / baseline.ms).toFixed(2),
    ...extraKeys.map((k) => String(r.extra?.[k] ?? "")),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? "").length)));
  const fmt = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ");
  console.log(`\n${title}`);
  console.log(fmt(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const l of lines) console.log(fmt(l));
}

/** Peak resident memory of this process so far, in MiB. */
export function peakRssMiB(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

/**
 * CPU time (user + system) another process has used so far, in seconds, from Linux's /proc (clock ticks of 1/100 s,
 * Linux's USER_HZ); undefined where there is no /proc. Azurite answers one request at a time on one core, so its CPU
 * during a run is the work a tool asked of it, which the run's wall time alone does not tell apart from waiting.
 */
export function processCpuSeconds(pid: number): number | undefined {
  try {
    // Fields after the command name, which is in parentheses and may hold spaces: utime and stime are 14th and 15th.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** `fn`'s value and the CPU seconds process `pid` used meanwhile (undefined where there is no /proc). */
export async function cpuDuring<T>(pid: number, fn: () => Promise<T>): Promise<{ value: T; cpuS?: number }> {
  const before = processCpuSeconds(pid);
  const value = await fn();
  const after = processCpuSeconds(pid);
  return before === undefined || after === undefined ? { value } : { value, cpuS: after - before };
}

/** The "Azurite CPU s" column of a row, when measured. */
export function azuriteCpuColumn(cpuS: number | undefined): Record<string, string> {
  return cpuS === undefined ? {} : { "Azurite CPU s": cpuS.toFixed(1) };
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await fn();
  return { ms: performance.now() - start, value };
}

/** `--name N` from a benchmark's arguments: a positive whole number, `fallback` when absent. */
export function option(args: readonly string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  const value = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} must be a positive whole number`);
  return value;
}
