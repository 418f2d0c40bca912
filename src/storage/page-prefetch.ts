/**
 * Listing pages asked for ahead of the activity that will use them. A reconciliation window that joined all its names
 * asks for the next window's first source page and first backup page before it finishes its own work, so that the
 * store lists them while this window classifies its names, returns, and the orchestrator schedules the next one —
 * time in which both listings would otherwise stand still (on Azure an activity's dispatch through the task hub's
 * queues takes longer still than in the local host).
 *
 * The next window takes a page only if it runs in this process and soon (`ttlMs` from the ask): a page older than
 * that is listed again, so no window joins a listing staler than that. Otherwise — another instance took the
 * activity, a retry starts from an earlier cursor, the page failed — it lists the page itself, and the request asked
 * ahead was spent for nothing: at most one per listing per window. At most `max` pages are held; each is let go when
 * taken, and the oldest is dropped past `max`.
 */
export interface Taken<T> {
  readonly value: T;
  /** The page came from an ask (whose request the asking window counted). */
  readonly prefetched: boolean;
}

export class PagePrefetch<T> {
  readonly #pages = new Map<string, { readonly page: Promise<T>; readonly at: number }>();
  readonly #max: number;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(max: number, ttlMs: number, now: () => number = Date.now) {
    this.#max = max;
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  /** Starts `list` now; its page waits under `key` for one `take`. */
  ask(key: string, list: () => Promise<T>): void {
    const page = list();
    // A failure is not the asker's: the taker lists again, and a page never taken is forgotten.
    page.catch(() => undefined);
    this.#pages.delete(key);
    this.#pages.set(key, { page, at: this.#now() });
    for (const oldest of this.#pages.keys()) {
      if (this.#pages.size <= this.#max) break;
      this.#pages.delete(oldest);
    }
  }

  /** The page asked for under `key`, once, if recent and not failed; otherwise `list`'s. */
  async take(key: string, list: () => Promise<T>): Promise<Taken<T>> {
    const held = this.#pages.get(key);
    this.#pages.delete(key);
    if (held !== undefined && this.#now() - held.at <= this.#ttlMs) {
      try {
        return { value: await held.page, prefetched: true };
      } catch {
        // Listed again below, as if never asked for.
      }
    }
    return { value: await list(), prefetched: false };
  }

  /** Pages held (for tests and diagnostics). */
  get size(): number {
    return this.#pages.size;
  }
}

/** A page's identity: the container (without any SAS query), the listing's shape, and where the page starts. */
export function pageKey(containerUrl: string, shape: Readonly<Record<string, string | number | boolean | undefined>>): string {
  return JSON.stringify([containerUrl.split("?")[0], Object.entries(shape).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))]);
}
