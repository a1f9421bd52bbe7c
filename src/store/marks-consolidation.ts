/**
 * Consolidating marks (marks.ts): once CONSOLIDATE_AT documents are live, a few documents
 * holding the newest register per entry and flag replace them all. Marks stay a layer over the
 * entries rather than being folded into them, so without this every STORE on many messages
 * would add documents that every start reads and every marked entry's lookup merges.
 *
 * What the index shows does not change: the new documents are written (and applied) first,
 * then the old ones are deleted, so at no moment does a register go missing, here or on a
 * device replicating in that order. Never inside a command: the index runs it once writing
 * pauses (its catch-up timer), serialised.
 */
import { WaxsealError } from '../util/errors.js';
import type { LiveMarks } from './marks.js';
import type { StateRepo } from './state.js';

/** Live marks documents from which they are consolidated. */
export const CONSOLIDATE_AT = 16;

/** What consolidation needs of the UID index. */
export interface ConsolidationHost {
  marks: LiveMarks;
  state: StateRepo;
  /** Run `fn` in the index's queue, after what is queued there. */
  queued(fn: () => Promise<void>): Promise<void>;
}

export class MarksConsolidation {
  readonly #host: ConsolidationHost;
  #running: Promise<void> | undefined;
  #disposed = false;

  constructor(host: ConsolidationHost) {
    this.#host = host;
  }

  /**
   * Whether enough marks are live to consolidate: CONSOLIDATE_AT, and at least twice what a
   * consolidation would write (a STORE on 40,000 messages is 20 documents on its own).
   */
  get due(): boolean {
    const { marks } = this.#host;
    return marks.consolidable >= Math.max(CONSOLIDATE_AT, 2 * marks.consolidatedSize);
  }

  /** Consolidate when due (`force`: whenever more than one document is live). Serialised. */
  run(force = false): Promise<void> {
    const run = (this.#running ?? Promise.resolve()).then(() => this.#consolidate(force));
    const done = run.finally(() => {
      if (this.#running === done) this.#running = undefined;
    });
    this.#running = done.catch(() => undefined);
    return done;
  }

  /** No consolidation starts from now on; one under way is finished. */
  async dispose(): Promise<void> {
    this.#disposed = true;
    await this.#running;
  }

  async #consolidate(force: boolean): Promise<void> {
    const { marks, state } = this.#host;
    if (this.#disposed || !(force ? marks.consolidable > marks.consolidatedSize : this.due)) return;
    // One consistent view: documents arriving meanwhile stay live beside the new ones.
    const { docs, marked, made } = marks.snapshot();
    await state.consolidateMarks(marked, made);
    const results = await state.db.bulkDocs(docs.map(([id, rev]) => ({ _id: id, _rev: rev, _deleted: true })));
    const gone: string[] = [];
    results.forEach((r, i) => {
      // 409: deleted meanwhile (by another device's consolidation, replicated here).
      if (r.error && r.status !== 409) throw new WaxsealError('ESTORE', `Could not delete consolidated marks: ${String(r.message ?? r.error)}`);
      if (!r.error) gone.push(docs[i]![0]);
    });
    await this.#host.queued(async () => marks.replaced(gone));
  }
}
