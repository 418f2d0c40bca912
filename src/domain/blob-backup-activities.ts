/**
 * Inputs and tagged results of the blob backup activities. Both sides of the Durable JSON boundary parse with these
 * schemas; expected outcomes (a stale request, a busy lease, an ADF permission error) are results, not exceptions.
 * No input names a backup container, a history mode or a time limit: the activities take those from the settings.
 */
import { z } from "zod";

import { backupRequestSchema } from "./backup-request";
import { blobBackupPlanSchema, sourceVersionSchema } from "./blob-backup";
import { blockLayoutSchema, layoutFits } from "./block-layout";

const reason = z.string();

export const prepareBackupInputSchema = z.strictObject({ request: backupRequestSchema });
export type PrepareBackupInput = z.infer<typeof prepareBackupInputSchema>;
export const prepareBackupResultSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("ready"), version: sourceVersionSchema, plan: blobBackupPlanSchema }),
  z.strictObject({ kind: z.literal("skipped"), reason }),
  /** A version that cannot be backed up as it is (too large for a block blob, metadata that cannot fit). */
  z.strictObject({ kind: z.literal("failed"), reason }),
]);
export type PrepareBackupResult = z.infer<typeof prepareBackupResultSchema>;

const leaseTarget = { container: z.string(), blob: z.string(), leaseId: z.guid() };

export const leaseInputSchema = z.strictObject(leaseTarget);
export type LeaseInput = z.infer<typeof leaseInputSchema>;
export const acquireLeaseResultSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("acquired") }),
  /** Someone else holds a lease: the orchestration backs off and tries again. */
  z.strictObject({ kind: z.literal("busy"), reason }),
  z.strictObject({ kind: z.literal("missing"), reason }),
]);
export type AcquireLeaseResult = z.infer<typeof acquireLeaseResultSchema>;
export const renewLeaseResultSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("renewed") }),
  z.strictObject({ kind: z.literal("lost"), reason }),
]);
export type RenewLeaseResult = z.infer<typeof renewLeaseResultSchema>;
export const releaseLeaseResultSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("released") }),
  z.strictObject({ kind: z.literal("notHeld"), reason }),
]);
export type ReleaseLeaseResult = z.infer<typeof releaseLeaseResultSchema>;

const copyRequest = {
  version: sourceVersionSchema,
  /** ISO time the orchestration decided to copy (recorded as backup_copied_at; deterministic across retries). */
  copiedAt: z.iso.datetime({ offset: true }),
  /** This copy's id (newGuid), written into the backup blob's metadata so a retry recognises its own copy. */
  requestId: z.guid(),
};

export const serverCopyInputSchema = z.strictObject({
  ...copyRequest,
  /** Lease mode: the lease the activity keeps renewed while it copies (on the source blob of `version`). */
  leaseId: z.guid().optional(),
});
export type ServerCopyInput = z.infer<typeof serverCopyInputSchema>;
export const copyResultSchema = z.discriminatedUnion("kind", [
  z.strictObject({
    kind: z.literal("copied"),
    bytes: z.number().int().nonnegative(),
    /** Lease mode: the lease was lost while copying (the copy is ETag-conditional, so it still holds the version). */
    leaseLost: reason.optional(),
  }),
  /** Nothing to do: the backup already holds this or a newer version, or the source changed (a newer request exists). */
  z.strictObject({ kind: z.literal("skipped"), reason }),
  z.strictObject({ kind: z.literal("failed"), reason }),
]);
export type CopyResult = z.infer<typeof copyResultSchema>;

/**
 * A copy in steps (engine `server`, above the sync-copy limit): the layout comes from the plan, so every step of one
 * backup uses the same blocks even if a deployment changes the block size meanwhile; it must cover the version.
 */
const layoutOfVersion = <T extends { version: { contentLength: number }; layout: { blockBytes: number; count: number } }>(input: T) =>
  layoutFits(input.layout, input.version.contentLength);
const layoutProblem = { message: "the block layout does not cover the version's length", path: ["layout"] };

/**
 * Where a copy in steps reads from: the source version itself (engine `server`), or the blob an ADF run staged for
 * this request (engine `adf`, STAGING_CONTAINER/<requestId> in the backup account).
 */
const stepsFrom = { from: z.enum(["source", "adfStaging"]).default("source") };

export const stageBlocksInputSchema = z
  .strictObject({ version: sourceVersionSchema, layout: blockLayoutSchema, leaseId: z.guid().optional(), ...stepsFrom, requestId: z.guid().optional() })
  .refine(layoutOfVersion, layoutProblem)
  .refine((input) => input.from === "source" || input.requestId !== undefined, { message: "staged ADF copies need the request id", path: ["requestId"] });
export type StageBlocksInput = z.infer<typeof stageBlocksInputSchema>;
export const stageBlocksResultSchema = z.discriminatedUnion("kind", [
  z.strictObject({
    kind: z.literal("staged"),
    /** Blocks sent by this step. */
    staged: z.number().int().nonnegative(),
    /** Blocks an earlier step or attempt had staged (found in the uncommitted block list, not sent again). */
    alreadyStaged: z.number().int().nonnegative(),
    remaining: z.number().int().nonnegative(),
    leaseLost: reason.optional(),
  }),
  /** The source changed or is gone: a newer request exists, or nothing is left to back up. */
  z.strictObject({ kind: z.literal("skipped"), reason }),
  z.strictObject({ kind: z.literal("failed"), reason }),
]);
export type StageBlocksResult = z.infer<typeof stageBlocksResultSchema>;

export const commitBlocksInputSchema = z.strictObject({ ...copyRequest, layout: blockLayoutSchema, ...stepsFrom }).refine(layoutOfVersion, layoutProblem);
export type CommitBlocksInput = z.infer<typeof commitBlocksInputSchema>;
export const commitBlocksResultSchema = z.union([
  copyResultSchema,
  /** Some staged blocks are gone (a commit of another version discarded them): stage again, then commit. */
  z.strictObject({ kind: z.literal("incomplete"), reason }),
]);
export type CommitBlocksResult = z.infer<typeof commitBlocksResultSchema>;

export const startAdfCopyInputSchema = z.strictObject(copyRequest);
export type StartAdfCopyInput = z.infer<typeof startAdfCopyInputSchema>;
const throttled = z.strictObject({ kind: z.literal("throttled"), retryAfterSeconds: z.number().nonnegative(), reason });
export const startAdfCopyResultSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("started"), runId: z.string(), reused: z.boolean() }),
  /** A live (ETag-pinned) source that changed before the run could start: a newer request exists. */
  z.strictObject({ kind: z.literal("stale"), reason }),
  z.strictObject({ kind: z.literal("failed"), reason }),
  throttled,
]);
export type StartAdfCopyResult = z.infer<typeof startAdfCopyResultSchema>;

/** After a Succeeded run: move the staged blob into the backup blob under the conditional-write protocol. */
export const commitStagedCopyInputSchema = z.strictObject(copyRequest);
export type CommitStagedCopyInput = z.infer<typeof commitStagedCopyInputSchema>;

export const adfRunInputSchema = z.strictObject({ runId: z.string() });
export type AdfRunInput = z.infer<typeof adfRunInputSchema>;
export const adfRunStatusSchema = z.enum(["Queued", "InProgress", "Succeeded", "Failed", "Canceling", "Cancelled"]);
export type AdfRunStatus = z.infer<typeof adfRunStatusSchema>;
export const getAdfRunResultSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("run"), status: adfRunStatusSchema, message: z.string() }),
  z.strictObject({ kind: z.literal("failed"), reason }),
  throttled,
]);
export type GetAdfRunResult = z.infer<typeof getAdfRunResultSchema>;
export const cancelAdfRunResultSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("cancelled") }),
  z.strictObject({ kind: z.literal("failed"), reason }),
]);
export type CancelAdfRunResult = z.infer<typeof cancelAdfRunResultSchema>;

export const verifyBackupInputSchema = z.strictObject({
  version: sourceVersionSchema,
  /** A copy in steps: its blocks, which verification finds committed in order with their sizes. */
  layout: blockLayoutSchema.optional(),
});
export type VerifyBackupInput = z.infer<typeof verifyBackupInputSchema>;
export const verifyBackupResultSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("verified"), bytes: z.number().int().nonnegative(), note: z.string() }),
  /** A newer version replaced ours between copy and verification: our version was copied and then superseded. */
  z.strictObject({ kind: z.literal("superseded"), reason }),
  z.strictObject({ kind: z.literal("mismatch"), reason }),
]);
export type VerifyBackupResult = z.infer<typeof verifyBackupResultSchema>;
