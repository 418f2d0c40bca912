/** What the queue trigger does when the instance of a request's blob version may already exist. */

export interface ExistingBlobBackupInstance {
  readonly runtimeStatus?: string;
  readonly output?: unknown;
}

/**
 * - no instance → start it;
 * - pending, running, or completed with a Copied/Skipped output → a duplicate delivery: do nothing;
 * - failed or terminated → start it again (a re-sent request is a retry); so is one completed with a "Failed" output,
 *   which is how versions before failed backups failed their instance recorded a failure;
 * - completed with a Copied/Skipped output, but the request comes from reconciliation → start it again: reconciliation
 *   only requests a version after its listing showed that the backup does not hold it (the backup blob was deleted or
 *   overwritten since that copy), so the old instance's outcome no longer holds. The restarted backup re-reads the
 *   backup blob first, so a request that is a plain duplicate after all ends Skipped ("already holds") at the cost of
 *   one read.
 */
export function existingInstanceAction(state: ExistingBlobBackupInstance | undefined, reason?: string): "start" | "duplicate" | "restart" {
  if (state?.runtimeStatus === undefined) return "start";
  switch (state.runtimeStatus) {
    case "Failed":
    case "Terminated":
    case "Canceled":
      return "restart";
    case "Completed": {
      const output = state.output as { status?: unknown } | null | undefined;
      return output?.status === "Failed" || reason === "reconcile" ? "restart" : "duplicate";
    }
    default:
      return "duplicate";
  }
}
