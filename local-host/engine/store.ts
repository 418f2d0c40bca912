/**
 * Persists instances to a directory, one JSON file each, written atomically (temp file + rename) so a host stopped at
 * any moment leaves either the previous or the new state. Writes are coalesced per tick: an instance saved many times
 * in one burst is written once.
 */
import fs from "node:fs";
import path from "node:path";

import type { Instance } from "./types";

export class InstanceStore {
  readonly #dirty = new Map<string, Instance>();
  #scheduled = false;
  #closed = false;

  constructor(private readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
  }

  save(inst: Instance): void {
    if (this.#closed) return;
    this.#dirty.set(inst.instanceId, inst);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.flush());
  }

  delete(instanceId: string): void {
    this.#dirty.delete(instanceId);
    fs.rmSync(this.#file(instanceId), { force: true });
  }

  /** Writes what is pending and ignores later saves (a stopped host must not overwrite its successor's files). */
  close(): void {
    this.flush();
    this.#closed = true;
  }

  flush(): void {
    this.#scheduled = false;
    for (const inst of this.#dirty.values()) {
      const file = this.#file(inst.instanceId);
      const tmp = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(inst));
      fs.renameSync(tmp, file);
    }
    this.#dirty.clear();
  }

  loadAll(): Instance[] {
    return fs
      .readdirSync(this.dir)
      .filter((f) => f.endsWith(".json"))
      .map((f) => JSON.parse(fs.readFileSync(path.join(this.dir, f), "utf8")) as Instance);
  }

  #file(instanceId: string): string {
    return path.join(this.dir, `${encodeURIComponent(instanceId)}.json`);
  }
}
