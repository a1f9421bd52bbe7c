/**
 * States the sync door has just opened and written, handed to the UID index so that it does
 * not read and open them again when the changes feed shows them (reading them back took the
 * index ~1 s per 10,000 documents pulled, a third of what sealing added to a first sync).
 *
 * Keyed by id and revision: the index takes a state only when the feed shows exactly that
 * revision as the document's one leaf, and reads the document otherwise (a conflict, a newer
 * revision). Bounded: what the index has not taken by then it reads, as before.
 */
import type { OpenedState } from './state.js';

const LIMIT = 4096;

export class HandOver {
  readonly #states = new Map<string, OpenedState>();

  put(states: OpenedState[]): void {
    for (const s of states) {
      this.#states.delete(s.id);
      this.#states.set(s.id, s);
    }
    for (const id of this.#states.keys()) {
      if (this.#states.size <= LIMIT) break;
      this.#states.delete(id);
    }
  }

  /** The state handed over for `id` at `rev`, once; undefined when there is none. */
  take(id: string, rev: string): OpenedState | undefined {
    const s = this.#states.get(id);
    if (!s) return undefined;
    this.#states.delete(id);
    return s.rev === rev ? s : undefined;
  }

  get size(): number {
    return this.#states.size;
  }
}
