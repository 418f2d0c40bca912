/**
 * The lease id a blob backup holds on its source blob in lease mode, derived from the backup's instance id alone.
 *
 * Azure never tells who holds a lease (a listing or a HEAD shows only that the blob is leased), so a lease id that
 * nobody but the holder knows cannot be found again once the holder is gone. Derived from the instance id, it can:
 * reconciliation asks "is this blob leased with the id of that failed or stuck backup?" with a read conditioned on
 * the lease id, and releases it. A restarted backup (same instance id) also acquires its own leftover lease again
 * instead of waiting for it to lapse. `context.df.newGuid` would not do: its value depends on the orchestration time.
 */
import { createHash } from "node:crypto";

/** A version-5-shaped GUID from SHA-256 of the instance id (schemas check the GUID format, not the version). */
export function backupLeaseId(instanceId: string): string {
  const b = createHash("sha256").update(`datalake-backup lease\n${instanceId}`).digest();
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x50;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const h = b.subarray(0, 16).toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
