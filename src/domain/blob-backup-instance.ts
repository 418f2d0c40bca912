/** What the queue trigger does when the instance of a request's blob version may already exist. */

export interface InstanceState {
  readonly runtimeStatus?: string;
  readonly output?: unknown;
}

/**
 * - no instance → start it;
 * - pending, running, or completed with a Copied/Skipped output → a duplicate delivery: do nothing;
 * - failed, terminated, or completed with a "Failed" output → start it again (a re-sent request is a retry).
 */
export function existingInstanceAction(state: InstanceState | undefined): "start" | "duplicate" | "restart" {
  if (state?.runtimeStatus === undefined) return "start";
  switch (state.runtimeStatus) {
    case "Failed":
    case "Terminated":
    case "Canceled":
      return "restart";
    case "Completed": {
      const output = state.output as { status?: unknown } | null | undefined;
      return output?.status === "Failed" ? "restart" : "duplicate";
    }
    default:
      return "duplicate";
  }
}
