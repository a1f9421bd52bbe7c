/**
 * Folding marks (marks.ts) into the entries they name: each marked entry is written with the
 * marks merged in, then the marks document is deleted. This device's own marks are folded
 * once writing pauses (the index calls run() from its catch-up); another device's only after
 * they have stayed live here for `foreignFoldMs`, since the device that wrote them normally
 * folds them within seconds (schedule() keeps a timer for that). Never inside a command: the
 * entries go through the state repo a batch at a time, so a command waits for one at most.
 */
import { WaxsealError } from '../util/errors.js';
import type { EntryMeta } from './kinds.js';
import { folded, type LiveMarks } from './marks.js';
import type { StateRepo } from './state.js';

/** What the fold needs of the UID index. */
export interface FoldHost {
  marks: LiveMarks;
  state: StateRepo;
  /** An entry's state as the index holds it (the marks merged in), if it holds one. */
  stateOf(logical: string): { id: string; rev: string; meta: EntryMeta } | undefined;
  /** Run `fn` in the index's queue, after what is queued there. */
  queued(fn: () => Promise<void>): Promise<void>;
}

export class MarksFold {
  readonly #host: FoldHost;
  readonly #foreignFoldMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #disposed = false;

  constructor(host: FoldHost, foreignFoldMs: number) {
    this.#host = host;
    this.#foreignFoldMs = foreignFoldMs;
  }

  /** Fold what is due: own marks, others' live for foreignFoldMs (`all`: every one). Serialised. */
  run(all = false): Promise<void> {
    const run = (this.#running ?? Promise.resolve()).then(() => this.#fold(all));
    const done = run.finally(() => {
      if (this.#running === done) this.#running = undefined;
    });
    this.#running = done.catch(() => undefined);
    return done;
  }

  /** Fold other devices' marks once they have stayed live here for a while. */
  schedule(): void {
    const wait = this.#host.marks.nextForeign(this.#foreignFoldMs);
    if (wait === undefined || this.#timer || this.#disposed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.run()
        .catch(() => undefined)
        .finally(() => this.schedule());
    }, wait + 100);
    this.#timer.unref();
  }

  /** No fold starts from now on; one under way is finished. */
  async dispose(): Promise<void> {
    this.#disposed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  async #fold(all: boolean): Promise<void> {
    const { marks, state } = this.#host;
    for (const m of marks.due(all ? 0 : this.#foreignFoldMs)) {
      if (this.#disposed) return;
      const known = new Map<string, { id: string; rev: string; meta: EntryMeta }>();
      const unknown: string[] = [];
      for (const logical of m.regs.keys()) {
        const held = this.#host.stateOf(logical);
        if (held) known.set(logical, held);
        else unknown.push(logical);
      }
      // Not in the index (first seen expunged, a copy made and expunged while live): folded
      // from its document, or made from the marks; missing altogether (not arrived yet),
      // waited for (the device that wrote the marks folds them anyway).
      if (unknown.length > 0) {
        const present = await state.existing(unknown);
        let missing = false;
        for (const logical of unknown) {
          if (present.has(logical)) continue;
          const made = m.created.get(logical);
          if (made) known.set(logical, { id: state.entryId(logical), rev: '', meta: made });
          else missing = true;
        }
        if (missing) {
          marks.postpone(m.id);
          continue;
        }
      }
      // Written even when the index shows the marks already: it shows them, the document may not.
      await state.update<EntryMeta>('entry', [...m.regs.keys()], (meta, _stamp, logical) => folded(meta, m.regs.get(logical)!), undefined, known);
      const [deleted] = await state.db.bulkDocs([{ _id: m.id, _rev: m.rev, _deleted: true }]);
      if (deleted?.error && deleted.status !== 409) throw new WaxsealError('ESTORE', `Could not delete folded marks: ${String(deleted.message ?? deleted.error)}`);
      await this.#host.queued(async () => marks.gone(m.id));
    }
  }
}
