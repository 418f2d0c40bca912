/**
 * The snapshot mode (SNAPSHOTS and every scan or reconciliation run): `auto` snapshots where the lake allows it and
 * falls back to ETag-pinned copies where it does not, `on` requires snapshots, `off` takes none.
 */
import { z } from "zod";

export const snapshotModeSchema = z.enum(["auto", "on", "off"]);
export type SnapshotMode = z.infer<typeof snapshotModeSchema>;

/**
 * An orchestration's snapshot mode is checked against SNAPSHOTS where the work is done: an input may ask for more
 * (`on` where the setting is `auto`: fail rather than fall back), never for less — no `off` or fallback the setting
 * does not allow, and no snapshots in a lake whose setting is `off` (a snapshot blocks producers' plain deletes).
 */
export function snapshotModeProblem(setting: SnapshotMode, requested: SnapshotMode): string | undefined {
  const allowed = setting === "auto" ? requested !== "off" : requested === setting;
  return allowed ? undefined : `the run asks for snapshot mode ${JSON.stringify(requested)}, which SNAPSHOTS=${setting} does not allow`;
}
