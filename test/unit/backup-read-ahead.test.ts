import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { type BackupPageReader,BackupReadAhead } from "../../src/storage/join-backup-window";

/** A backup listing of `names`, `size` names a page, answered at once; records the tokens it was asked for. */
function listing(names: readonly string[], size: number): { read: BackupPageReader; asked: (string | undefined)[] } {
  const asked: (string | undefined)[] = [];
  const read: BackupPageReader = (token) => {
    asked.push(token);
    const start = token === undefined ? 0 : Number(token);
    const items = names.slice(start, start + size).map((name) => ({ name, etag: '"0x1"' }));
    return Promise.resolve({ items, ...(start + size < names.length && { token: String(start + size) }) });
  };
  return { read, asked };
}

/** Lets every settled page's follow-up run (the listing above answers without I/O). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

const names = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}/${String(i).padStart(2, "0")}`);

describe("BackupReadAhead (the backup pages a window lists while its source pages are listed)", () => {
  it("asks for the first page at once and, over a long run of orphans before the window's names, runs at most one page ahead of the source", async () => {
    const backup = listing(names("a", 60), 5);
    const ahead = new BackupReadAhead(backup.read, {}, 20);
    await settle();
    assert.deepEqual(backup.asked, [undefined], "the first page, before any source page is listed");
    ahead.sourceListed("b/04", true);
    await settle();
    assert.deepEqual(backup.asked, [undefined, "5"], "one page ahead of one source page");
    ahead.sourceListed("b/09", true);
    await settle();
    assert.deepEqual(backup.asked, [undefined, "5", "10"]);
    // The join takes the pages read ahead, in order, and reads on by itself.
    for (const token of [undefined, "5", "10", "15"]) await ahead.read(token);
    assert.deepEqual(backup.asked, [undefined, "5", "10", "15"], "the fourth page is the join's own request");
    assert.equal(ahead.unused, 0);
  });

  it("in sync, reads the next backup page once the source has listed beyond the last one read", async () => {
    const both = names("d", 12);
    const backup = listing(both, 4);
    const ahead = new BackupReadAhead(backup.read, {}, 20);
    ahead.sourceListed("d/03", false);
    await settle();
    assert.deepEqual(backup.asked, [undefined], "the backup's first page ends where the window does: it may be the window's last");
    ahead.sourceListed("d/07", false);
    await settle();
    assert.deepEqual(backup.asked, [undefined, "4"]);
    ahead.sourceListed("d/11", false);
    await settle();
    assert.deepEqual(backup.asked, [undefined, "4", "8"]);
  });

  it("in sync, reads the next backup page as soon as the source page ending with the same name is listed, when the window lists more", async () => {
    const both = names("d", 12);
    const backup = listing(both, 4);
    const ahead = new BackupReadAhead(backup.read, {}, 20);
    ahead.sourceListed("d/03", true);
    await settle();
    assert.deepEqual(backup.asked, [undefined, "4"], "the window goes on past d/03, so the join reads the page after it");
    ahead.sourceListed("d/07", true);
    await settle();
    assert.deepEqual(backup.asked, [undefined, "4", "8"]);
    ahead.sourceListed("d/11", false);
    await settle();
    assert.deepEqual(backup.asked, [undefined, "4", "8"], "the listing has no page after d/11");
    // A page ending beyond the source's last name is not read past, more source pages or not.
    const beyond = listing(names("d", 12), 4);
    const ahead2 = new BackupReadAhead(beyond.read, {}, 20);
    ahead2.sourceListed("d/02", true);
    await settle();
    assert.deepEqual(beyond.asked, [undefined]);
  });

  it("reads nothing of a listing that ended, counts a first page the window never used, and never more than a join's pages", async () => {
    const ended = listing(names("a", 10), 5);
    new BackupReadAhead(ended.read, { ended: true }, 20).sourceListed("z", true);
    await settle();
    assert.deepEqual(ended.asked, []);

    const unusedFirst = new BackupReadAhead(listing(names("a", 10), 5).read, {}, 20);
    await settle();
    assert.equal(unusedFirst.unused, 1);

    const capped = listing(names("a", 60), 5);
    const ahead = new BackupReadAhead(capped.read, {}, 2);
    for (const last of ["b/1", "b/2", "b/3"]) ahead.sourceListed(last, true);
    await settle();
    assert.equal(capped.asked.length, 2, "at most maxPages, as the join itself");
  });

  it("hands a failed page's error to the join that asks for it, and loses no rejection when none does", async () => {
    const failing: BackupPageReader = () => Promise.reject(new Error("503 Server Busy"));
    await assert.rejects(new BackupReadAhead(failing, {}, 20).read(undefined), /503 Server Busy/);
    // Not asked for: the rejection is handled by the read-ahead (an unhandled one would fail this test run).
    new BackupReadAhead(failing, {}, 20);
    await settle();
  });
});
