/** The block layout of a copy in steps, and the metadata budget of a backup blob: pure rules at the service limits. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { backupMetadata, backupMetadataProblem, MAX_METADATA_BYTES, metadataBytes, type SourceVersionWithMetadata } from "../../src/domain/blob-backup";
import { blockIds, blockLayout, blockRange, layoutFits, MAX_BLOCK_BLOB_BYTES, MAX_BLOCK_BYTES, MAX_BLOCKS } from "../../src/domain/block-layout";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;
const version = { account: "datalake1", container: "raw", blob: "big/x.bin", etag: '"0x8DC1"', snapshot: "2026-01-05T07:59:00.1234567Z" };

describe("blockLayout", { timeout: 30_000 }, () => {
  it("uses the smallest block while the blob fits 50,000 of them", () => {
    assert.deepEqual(blockLayout(2 * GiB, 64 * MiB), { blockBytes: 64 * MiB, count: 32 });
    assert.deepEqual(blockLayout(300 * MiB, 64 * MiB), { blockBytes: 64 * MiB, count: 5 });
  });
  it("raises the block to a whole MiB so that a larger blob fits 50,000 blocks", () => {
    const layout = blockLayout(5 * TiB, 64 * MiB);
    assert.deepEqual(layout, { blockBytes: 105 * MiB, count: Math.ceil((5 * TiB) / (105 * MiB)) });
    assert.ok((layout?.count ?? Infinity) <= MAX_BLOCKS);
  });
  it("fits the largest block blob (50,000 × 4,000 MiB ≈ 190.7 TiB) and refuses a larger one", () => {
    assert.equal(MAX_BLOCK_BYTES, 4000 * MiB);
    assert.deepEqual(blockLayout(MAX_BLOCK_BLOB_BYTES, 64 * MiB), { blockBytes: MAX_BLOCK_BYTES, count: MAX_BLOCKS });
    assert.ok(Math.abs(MAX_BLOCK_BLOB_BYTES / TiB - 190.73) < 0.01);
    assert.equal(blockLayout(MAX_BLOCK_BLOB_BYTES + 1, 64 * MiB), undefined);
  });
  it("covers every byte once: full blocks, then a shorter last one", () => {
    const size = 10 * MiB + 5;
    const layout = blockLayout(size, MiB);
    assert.ok(layout !== undefined && layoutFits(layout, size));
    const ranges = Array.from({ length: layout.count }, (_, i) => blockRange(layout, size, i));
    assert.deepEqual(ranges.at(-1), { offset: 10 * MiB, count: 5 });
    assert.equal(ranges.reduce((sum, r) => sum + r.count, 0), size);
    assert.equal(layoutFits({ blockBytes: MiB, count: 12 }, size), false, "a layout with an empty block does not fit");
  });
});

describe("blockIds", { timeout: 30_000 }, () => {
  const layout = { blockBytes: MiB, count: 12 };
  it("are the same for every attempt and of one length (the service requires it), unique within the blob", () => {
    const ids = blockIds(version, layout);
    assert.deepEqual(ids, blockIds({ ...version }, layout));
    assert.equal(new Set(ids).size, ids.length);
    assert.equal(new Set(ids.map((id) => id.length)).size, 1);
    assert.ok(Buffer.from(ids[0] ?? "", "base64").length <= 64);
  });
  it("differ for another version or another block size, so copies never commit each other's blocks", () => {
    const ids = new Set(blockIds(version, layout));
    for (const other of [blockIds({ ...version, etag: '"0x8DC2"' }, layout), blockIds({ ...version, snapshot: undefined }, layout), blockIds(version, { blockBytes: 2 * MiB, count: 6 })]) {
      assert.ok(other.every((id) => !ids.has(id)));
    }
  });
});

describe("backupMetadataProblem", { timeout: 30_000 }, () => {
  const source = (metadata: Record<string, string>): SourceVersionWithMetadata => ({ ...version, lastModified: "2026-01-05T07:58:59.000Z", contentLength: 1, contentMd5: "1B2M2Y8AsgTpgAmY7PhCfg==", metadata });
  it("counts names and values as UTF-8 bytes", () => assert.equal(metadataBytes({ ab: "é" }), 4));
  it("accepts source metadata that fits beside the record, to the byte, and refuses one byte more with a clear reason", () => {
    const record = metadataBytes(backupMetadata(source({}), "server", new Date(0).toISOString(), "00000000-0000-0000-0000-000000000000"));
    const room = MAX_METADATA_BYTES - record - "owner".length;
    assert.equal(backupMetadataProblem(source({ owner: "x".repeat(room) }), "server"), undefined);
    const problem = backupMetadataProblem(source({ owner: "x".repeat(room + 1) }), "server");
    assert.match(problem ?? "", /does not fit beside the backup's own record: 8193 bytes in all, the service allows 8192/);
  });
});
