import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { pageKey, PagePrefetch } from "../../src/storage/page-prefetch";

describe("PagePrefetch (the next window's first pages, asked for ahead)", () => {
  it("hands a page asked for to one take, which lists nothing itself", async () => {
    const prefetch = new PagePrefetch<string>(4, 1000, () => 0);
    let listed = 0;
    prefetch.ask("p2", () => {
      listed += 1;
      return Promise.resolve("page 2");
    });
    assert.equal(listed, 1, "asked for at once");
    const taken = await prefetch.take("p2", () => Promise.resolve("listed again"));
    assert.deepEqual(taken, { value: "page 2", prefetched: true });
    assert.deepEqual(await prefetch.take("p2", () => Promise.resolve("listed again")), { value: "listed again", prefetched: false }, "taken once only");
    assert.equal(prefetch.size, 0);
  });

  it("lists again a page asked for too long ago, one that failed, and one never asked for", async () => {
    let now = 0;
    const prefetch = new PagePrefetch<string>(4, 1000, () => now);
    prefetch.ask("old", () => Promise.resolve("stale page"));
    prefetch.ask("failed", () => Promise.reject(new Error("503 Server Busy")));
    now = 1001;
    assert.deepEqual(await prefetch.take("old", () => Promise.resolve("fresh page")), { value: "fresh page", prefetched: false });
    assert.deepEqual(await prefetch.take("failed", () => Promise.resolve("fresh page")), { value: "fresh page", prefetched: false });
    assert.deepEqual(await prefetch.take("other", () => Promise.resolve("fresh page")), { value: "fresh page", prefetched: false });
  });

  it("holds at most its few pages, dropping the oldest", async () => {
    const prefetch = new PagePrefetch<number>(2, 1000, () => 0);
    for (const n of [1, 2, 3]) prefetch.ask(`p${n}`, () => Promise.resolve(n));
    assert.equal(prefetch.size, 2);
    assert.equal((await prefetch.take("p1", () => Promise.resolve(-1))).prefetched, false, "the oldest was dropped");
    assert.equal((await prefetch.take("p3", () => Promise.resolve(-1))).value, 3);
  });

  it("keys a page by its container without any SAS, its listing's shape and where it starts", () => {
    const a = pageKey("https://lake.blob.core.windows.net/raw?sv=2024&sig=secret", { side: "source", prefix: "d/", token: "t1" });
    assert.equal(a, pageKey("https://lake.blob.core.windows.net/raw", { token: "t1", prefix: "d/", side: "source" }), "order of the shape's fields does not matter");
    assert.ok(!a.includes("secret"));
    assert.notEqual(a, pageKey("https://lake.blob.core.windows.net/raw", { side: "source", prefix: "d/", token: "t2" }));
    assert.notEqual(a, pageKey("https://lake.blob.core.windows.net/raw", { side: "source", prefix: "d/", level: true, token: "t1" }));
    assert.notEqual(a, pageKey("https://lake.blob.core.windows.net/other", { side: "source", prefix: "d/", token: "t1" }));
  });
});
