/** Counts of skipped blobs by reason, shared by the container scan's and reconciliation's outputs. */
import { z } from "zod";

import { SKIP_REASONS, type SkipReason } from "./change-detection";

const count = z.number().int().nonnegative();

export const skipCountsSchema = z.strictObject(
  Object.fromEntries(SKIP_REASONS.map((r) => [r, count])) as Record<SkipReason, typeof count>,
);
export type SkipCounts = z.infer<typeof skipCountsSchema>;

export function zeroSkipCounts(): SkipCounts {
  return Object.fromEntries(SKIP_REASONS.map((r) => [r, 0])) as SkipCounts;
}

export function addSkipCounts(a: SkipCounts, b: SkipCounts): SkipCounts {
  return Object.fromEntries(SKIP_REASONS.map((r) => [r, a[r] + b[r]])) as SkipCounts;
}

export function totalSkipped(s: SkipCounts): number {
  return SKIP_REASONS.reduce((sum, r) => sum + s[r], 0);
}
