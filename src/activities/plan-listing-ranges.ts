/**
 * Splits one container's listing into name ranges listed in parallel (src/domain/listing-ranges.ts): one page of a
 * hierarchical listing of the lake container and, for reconciliation, one of its backup container, under the run's
 * prefix. Returns no ranges when splitting would not help. The parallelism comes from LIST_PARALLELISM, and the
 * container and backup container are checked against the settings as the window activity checks them.
 *
 * The container scan names no backup container: it plans from the lake alone, since its backup join only looks up
 * names the lake lists, and a directory only the backup holds has none (reconciliation needs it for its orphans).
 */
import type { BlobServiceClient } from "@azure/storage-blob";
import { z } from "zod";

import { backupTargetOf, type ContainerPolicy } from "../domain/container-policy";
import { MAX_LEVEL_NAMES, planRanges, type PlanRangesResult, rangesMayPay } from "../domain/listing-ranges";
import { blobNameSchema, containerNameSchema } from "../domain/name-schemas";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { containerClient } from "../storage/addressed-clients";
import { topLevelOf } from "../storage/listing-ranges";

export const planRangesInputSchema = z.strictObject({
  container: containerNameSchema,
  /** Absent: the lake's directories alone (the container scan). */
  backupContainer: containerNameSchema.optional(),
  prefix: blobNameSchema.optional(),
  /**
   * Top-level directories the container's first pages covered wholly, from the lake's names (a window's
   * `directoriesCovered`): at LIST_PARALLELISM - 1 or more no split can pay (`rangesMayPay`), and nothing is listed.
   */
  coveredDirectories: z.number().int().nonnegative().optional(),
});
export type PlanRangesInput = z.infer<typeof planRangesInputSchema>;

export type { PlanRangesResult };

export interface PlanRangesDeps {
  readonly source: BlobServiceClient;
  readonly backup: BlobServiceClient;
  readonly policy: ContainerPolicy;
  readonly listParallelism: number;
}

export function createPlanListingRangesActivity(deps: PlanRangesDeps): (input: unknown) => Promise<PlanRangesResult> {
  return async (raw) => {
    const input = planRangesInputSchema.parse(raw);
    const target = backupTargetOf(deps.policy, input.container);
    if (!target.ok) return { kind: "refused", reason: target.reason };
    if (input.backupContainer !== undefined && target.backupContainer !== input.backupContainer) {
      return { kind: "refused", reason: `the run names backup container ${JSON.stringify(input.backupContainer)}, BACKUP_CONTAINER_TEMPLATE gives ${JSON.stringify(target.backupContainer)}` };
    }
    // Nothing would be split (LIST_PARALLELISM=1, or first pages that covered too many directories for ranges to pay:
    // the rest is at most ranges/parallelism stretches), so nothing is listed to plan it — on Azurite a hierarchical
    // listing of a container's root costs about a flat listing's worth of work, folded page by page.
    if (!rangesMayPay(input.coveredDirectories ?? 0, deps.listParallelism)) return { kind: "ranges", parallelism: deps.listParallelism };
    const root = input.prefix ?? "";
    const backupContainer = input.backupContainer;
    const [lake, backup] = await Promise.all([
      topLevelOf(containerClient(deps.source, input.container), root, MAX_LEVEL_NAMES),
      backupContainer === undefined ? { directories: [], blobs: 0 } : topLevelOf(containerClient(deps.backup, backupContainer), root),
    ]);
    const ranges = planRanges(root, lake, backup);
    return { kind: "ranges", ...(ranges !== undefined && { ranges }), parallelism: deps.listParallelism };
  };
}

registerActivity(Activities.planListingRanges, ({ clients, settings }) =>
  createPlanListingRangesActivity({ source: clients.source.service, backup: clients.backup.service, policy: settings, listParallelism: settings.listParallelism }));
