/**
 * Which lake containers the app may back up, and into which backup container: the one rule every entry point applies
 * (scan starter and page activity, queue trigger, reconciliation's plan and window activity), from the settings alone.
 * An orchestration input can name a container, but never widen the selection, pick its own backup container, or land
 * in a container the app keeps for itself. Pure (no I/O).
 */
import { backupContainerName, CONTAINER_NAME_RULE, isValidContainerName, STAGING_CONTAINER } from "./names";

export interface ContainerPolicy {
  /** CONTAINERS: when set, only these containers are backed up. */
  readonly containers?: readonly string[];
  /** EXCLUDE_CONTAINERS. */
  readonly excludeContainers: readonly string[];
  /** BACKUP_CONTAINER_TEMPLATE. */
  readonly backupContainerTemplate: string;
  /** REPORTS_CONTAINER (backup account). */
  readonly reportsContainer: string;
}

export type ContainerRefusal =
  | "InvalidContainerName"
  | "ContainerNotSelected"
  | "ContainerExcluded"
  | "ReservedContainer"
  | "InvalidBackupContainerName";

export type ContainerDecision =
  | { readonly ok: true; readonly backupContainer: string }
  | { readonly ok: false; readonly code: ContainerRefusal; readonly reason: string };

/**
 * The HTTP status a refusal answers with: 400 when the name itself (or what the template makes of it) is invalid — the
 * caller's mistake — and 403 when a valid container is outside what the settings let this app touch.
 */
export function refusalHttpStatus(code: ContainerRefusal): 400 | 403 {
  return code === "InvalidContainerName" || code === "InvalidBackupContainerName" ? 400 : 403;
}

/** Containers of the backup account the app writes itself: no lake container may be, or be backed up into, one of them. */
export function reservedContainers(policy: Pick<ContainerPolicy, "reportsContainer">): readonly string[] {
  return [policy.reportsContainer, STAGING_CONTAINER];
}

/** Whether `container` may be backed up, and where to. */
export function backupTargetOf(policy: ContainerPolicy, container: string): ContainerDecision {
  const q = JSON.stringify(container);
  if (!isValidContainerName(container)) return { ok: false, code: "InvalidContainerName", reason: `${q} is not a valid container name: ${CONTAINER_NAME_RULE}` };
  if (policy.containers !== undefined && !policy.containers.includes(container)) {
    return { ok: false, code: "ContainerNotSelected", reason: `container ${q} is not in CONTAINERS` };
  }
  if (policy.excludeContainers.includes(container)) return { ok: false, code: "ContainerExcluded", reason: `container ${q} is in EXCLUDE_CONTAINERS` };
  const backupContainer = backupContainerName(policy.backupContainerTemplate, container);
  if (!isValidContainerName(backupContainer)) {
    return {
      ok: false,
      code: "InvalidBackupContainerName",
      reason: `BACKUP_CONTAINER_TEMPLATE turns ${q} into ${JSON.stringify(backupContainer)}, which is not a valid container name: ${CONTAINER_NAME_RULE}`,
    };
  }
  const reserved = reservedContainers(policy);
  const clash = [container, backupContainer].find((name) => reserved.includes(name));
  if (clash !== undefined) {
    return {
      ok: false,
      code: "ReservedContainer",
      reason: `container ${q} would share ${JSON.stringify(clash)}, which the app reserves for its reports or ADF staging`,
    };
  }
  return { ok: true, backupContainer };
}
