/**
 * How a large blob is cut into blocks for a copy in resumable steps (Put Block From URL per block, Put Block List at
 * the end). Pure: the layout and the block ids depend only on the version and its size, so any attempt of any
 * activity, before or after a crash or a host restart, computes the same blocks and recognises those already staged.
 *
 * Service limits (Azure Storage, "Scalability targets for Blob storage", block blobs, REST version 2019-12-12 and
 * later): at most 50,000 committed blocks, each at most 4,000 MiB, so a block blob is at most 50,000 × 4,000 MiB
 * (about 190.7 TiB); at most 100,000 uncommitted blocks; block ids at most 64 bytes before base64 and of one length
 * within a blob.
 */
import { createHash } from "node:crypto";

import { z } from "zod";

import type { SourceVersion } from "./blob-backup";

const MiB = 1024 * 1024;
export const MAX_BLOCKS = 50_000;
export const MAX_BLOCK_BYTES = 4000 * MiB;
export const MAX_BLOCK_BLOB_BYTES = MAX_BLOCKS * MAX_BLOCK_BYTES;

export const blockLayoutSchema = z.strictObject({
  blockBytes: z.number().int().positive().max(MAX_BLOCK_BYTES),
  count: z.number().int().positive().max(MAX_BLOCKS),
});
export type BlockLayout = z.infer<typeof blockLayoutSchema>;

/**
 * The blocks of a blob of `size` bytes: `minBlockBytes` (smaller blocks copy in parallel and waste less on a failed
 * attempt), raised to a whole MiB when the blob would otherwise need more than 50,000 blocks. Undefined when the blob
 * is larger than a block blob can be.
 */
export function blockLayout(size: number, minBlockBytes: number): BlockLayout | undefined {
  if (size > MAX_BLOCK_BLOB_BYTES) return undefined;
  const needed = Math.ceil(Math.ceil(size / MAX_BLOCKS) / MiB) * MiB;
  const blockBytes = Math.min(MAX_BLOCK_BYTES, Math.max(minBlockBytes, needed));
  return { blockBytes, count: Math.max(1, Math.ceil(size / blockBytes)) };
}

/** True when the layout covers exactly `size` bytes: every block but the last full, the last not empty. */
export function layoutFits(layout: BlockLayout, size: number): boolean {
  return layout.count === Math.max(1, Math.ceil(size / layout.blockBytes));
}

/** The source range of block `index`. */
export function blockRange(layout: BlockLayout, size: number, index: number): { readonly offset: number; readonly count: number } {
  const offset = index * layout.blockBytes;
  return { offset, count: Math.min(layout.blockBytes, size - offset) };
}

/**
 * Block ids of this version in this layout: the same for every attempt (a retry recognises its own blocks), different
 * for another version or block size (two copies of two versions never commit each other's blocks). Fixed length
 * (16 hex digits, a dash, 6 digits → 32 base64 characters), as the service requires of all blocks of a blob.
 */
export function blockIds(version: Pick<SourceVersion, "account" | "container" | "blob" | "etag" | "snapshot">, layout: BlockLayout): string[] {
  const prefix = createHash("sha256")
    .update([version.account, version.container, version.blob, version.etag, version.snapshot ?? "", String(layout.blockBytes)].join("\n"))
    .digest("hex")
    .slice(0, 16);
  return Array.from({ length: layout.count }, (_, i) => Buffer.from(`${prefix}-${String(i).padStart(6, "0")}`).toString("base64"));
}
