/**
 * A large copy in resumable steps: Put Block From URL for the source ranges of a deterministic block layout
 * (src/domain/block-layout.ts), several blocks per call, then one Put Block List. Where a step starts is read from the
 * service, not remembered: Get Block List (uncommitted) shows which of this version's blocks are already staged, with
 * their sizes, so a step after a failure, a timeout or a host restart sends only the ranges still missing.
 */
import type { BlockBlobClient } from "@azure/storage-blob";

import { type BlockLayout, blockRange } from "../domain/block-layout";
import { errorCodeOf, isNotFound } from "../storage/rest-errors";

export interface StageProgress {
  /** Blocks sent by this call. */
  readonly staged: number;
  /** Blocks found staged already (by an earlier step or attempt), not sent again. */
  readonly alreadyStaged: number;
  /** Blocks still missing when this call stopped. */
  readonly remaining: number;
}

/** The uncommitted blocks of the blob, id → size (none when the blob does not exist yet). */
async function uncommittedBlocks(target: BlockBlobClient): Promise<Map<string, number>> {
  try {
    const list = await target.getBlockList("uncommitted");
    return new Map((list.uncommittedBlocks ?? []).map((b) => [b.name, b.size]));
  } catch (err) {
    if (isNotFound(err)) return new Map();
    throw err;
  }
}

/**
 * Stages the blocks of `ids` that are not staged yet, `parallelism` at a time, starting no block after `stopAt`
 * (epoch ms): a call ends within its activity's time limit, and the next call resumes where it stopped.
 */
export async function stageMissingBlocks(
  target: BlockBlobClient,
  sourceUrl: string,
  size: number,
  layout: BlockLayout,
  ids: readonly string[],
  options: { readonly parallelism: number; readonly stopAt: number },
): Promise<StageProgress> {
  const have = await uncommittedBlocks(target);
  const missing = ids.flatMap((id, i) => (have.get(id) === blockRange(layout, size, i).count ? [] : [i]));
  let next = 0;
  let staged = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < missing.length && Date.now() < options.stopAt) {
      const i = missing[next++] ?? 0;
      const { offset, count } = blockRange(layout, size, i);
      try {
        await target.stageBlockFromURL(ids[i] ?? "", sourceUrl, offset, count);
      } catch (err) {
        // The other workers start no further block: the call fails as a whole once those in flight are answered, so
        // nothing of it keeps running after the activity failed (its retry would otherwise race it).
        failed = true;
        throw err;
      }
      staged++;
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: Math.min(options.parallelism, missing.length) }, worker));
  const rejected = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (rejected !== undefined) throw rejected.reason;
  return { staged, alreadyStaged: ids.length - missing.length, remaining: missing.length - staged };
}

/** Put Block List found a block missing: another copy's commit discarded this one's uncommitted blocks. */
export class BlocksMissing extends Error {
  constructor() {
    super("some staged blocks are gone (another commit discarded them)");
    this.name = "BlocksMissing";
  }
}

/**
 * Commits the blocks in order with the backup's metadata, content type and the write conditions of the
 * conditional-write protocol. No Content-MD5 from the source's record: nothing hashed these bytes (see verification).
 * Returns the version id of the committed blob (undefined without blob versioning).
 */
export async function commitBlocks(
  target: BlockBlobClient,
  ids: readonly string[],
  metadata: Record<string, string>,
  conditions: { ifMatch?: string; ifNoneMatch?: string },
  contentType: string | undefined,
): Promise<string | undefined> {
  try {
    const committed = await target.commitBlockList([...ids], {
      metadata,
      conditions,
      ...(contentType !== undefined && { blobHTTPHeaders: { blobContentType: contentType } }),
    });
    return committed.versionId;
  } catch (err) {
    if (errorCodeOf(err) === "InvalidBlockList") throw new BlocksMissing();
    throw err;
  }
}
