/**
 * The first step of a retention run: the same container selection as reconciliation (the lake's containers, narrowed
 * by the request, under CONTAINERS / EXCLUDE_CONTAINERS and the reserved names), plus the retention settings as the
 * report shows them. The window activities read the settings again themselves; this copy is for the report only.
 */
import { z } from "zod";

import type { Settings } from "../config/settings";
import { describePolicy } from "../domain/lake-snapshots";
import { reconciliationPlanSchema } from "../domain/reconciliation";
import { retentionReportSchema } from "../domain/retention";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";
import { createPlanReconciliationActivity, type PlanDeps } from "./plan-reconciliation";

export const retentionPlanSchema = z.strictObject({
  ...reconciliationPlanSchema.shape,
  policy: retentionReportSchema.shape.policy,
});
export type RetentionPlan = z.infer<typeof retentionPlanSchema>;

type RetentionPlanSettings = PlanDeps["settings"] &
  Pick<Settings, "lakeSnapshots" | "backupRetentionDays" | "backupMinVersions" | "orphanRetentionDays" | "instanceRetentionDays">;

export function createPlanRetentionActivity(deps: PlanDeps & { readonly settings: RetentionPlanSettings }): (input: unknown) => Promise<RetentionPlan> {
  const plan = createPlanReconciliationActivity(deps);
  const s = deps.settings;
  return async (raw) => ({
    ...(await plan(raw)),
    policy: {
      lakeSnapshots: describePolicy(s.lakeSnapshots),
      ...(s.backupRetentionDays !== undefined && { backupRetentionDays: s.backupRetentionDays }),
      backupMinVersions: s.backupMinVersions,
      ...(s.orphanRetentionDays !== undefined && { orphanRetentionDays: s.orphanRetentionDays }),
      instanceRetentionDays: s.instanceRetentionDays,
    },
  });
}

registerActivity(Activities.planRetention, ({ clients, settings }) => createPlanRetentionActivity({ source: clients.source, backup: clients.backup, settings }));
