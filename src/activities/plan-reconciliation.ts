/**
 * The first step of every reconciliation: lists the lake's containers (so containers created since the last run are
 * included without configuration) and decides, from the settings alone, which of them this run covers and into which
 * backup containers, how many run in parallel, and the snapshot mode. The orchestration input only narrows the
 * selection (the request's `containers`); a forged input cannot add an excluded container, pick a backup container,
 * change the parallelism or the snapshot mode. Names only: a lake has at most thousands of containers.
 */
import type { BlobServiceClient } from "@azure/storage-blob";

import type { Settings } from "../config/settings";
import { planInputSchema, type ReconciliationPlan, selectContainers } from "../domain/reconciliation";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";

export interface PlanDeps {
  readonly source: { readonly accountName: string; readonly service: BlobServiceClient };
  readonly backup: { readonly accountName: string };
  readonly settings: Pick<Settings, "containers" | "excludeContainers" | "backupContainerTemplate" | "reportsContainer" | "snapshots" | "reconcileParallelism">;
}

async function lakeContainers(source: BlobServiceClient): Promise<string[]> {
  const containers: string[] = [];
  for await (const page of source.listContainers().byPage({ maxPageSize: 5000 })) {
    for (const item of page.containerItems) if (item.deleted !== true) containers.push(item.name);
  }
  return containers;
}

export function createPlanReconciliationActivity(deps: PlanDeps): (input: unknown) => Promise<ReconciliationPlan> {
  return async (raw) => {
    const input = planInputSchema.parse(raw ?? {});
    const selection = selectContainers(await lakeContainers(deps.source.service), input.containers, deps.settings);
    const plan = {
      account: deps.source.accountName,
      backupAccount: deps.backup.accountName,
      snapshots: deps.settings.snapshots,
      parallelism: deps.settings.reconcileParallelism,
    };
    if (input.batch !== true) {
      return { ...plan, containers: selection.selected, refused: selection.refused, excluded: selection.excluded, notFound: selection.notFound };
    }
    const after = input.after;
    const next = [
      ...selection.selected.map((s) => ({ name: s.container, selected: s })),
      ...selection.refused.map((r) => ({ name: r.container, refused: r })),
    ]
      .filter((c) => after === undefined || c.name > after)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const batch = next.slice(0, deps.settings.reconcileParallelism);
    return {
      ...plan,
      containers: batch.flatMap((c) => ("selected" in c ? [c.selected] : [])),
      refused: batch.flatMap((c) => ("refused" in c ? [c.refused] : [])),
      excluded: after === undefined ? selection.excluded : [],
      notFound: after === undefined ? selection.notFound : [],
      more: next.length > batch.length,
      ...(batch.length > 0 && { last: batch[batch.length - 1]?.name }),
    };
  };
}

registerActivity(Activities.planReconciliation, ({ clients, settings }) => createPlanReconciliationActivity({ source: clients.source, backup: clients.backup, settings }));
