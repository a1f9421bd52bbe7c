/**
 * Replicated entries that arrived before their message or their mailbox: held out of the UID
 * index (a FETCH would fail) until the message document (or the mailbox) is written, found
 * again by that document's id (or `mailbox:` and the mailbox's logical id).
 * Held in memory only; the index never persists a feed position past the oldest of them,
 * so a restart reads them again.
 */
import type { OpenedState } from './state.js';

/** What the index needs to know of the content database. */
export interface IndexContent {
  has(messages: string[]): Promise<Set<string>>;
  docId(message: string): string;
}

export interface Waiting {
  opened: OpenedState;
  seq: number | string;
}

export class WaitingEntries {
  readonly #byId = new Map<string, Waiting & { doc: string }>();
  readonly #byDoc = new Map<string, Set<string>>();

  get size(): number {
    return this.#byId.size;
  }

  /** Whether the state document `id` is held. */
  has(id: string): boolean {
    return this.#byId.has(id);
  }

  /** The revision of `id` held, if one is. */
  rev(id: string): string | undefined {
    return this.#byId.get(id)?.opened.rev;
  }

  /** Hold `w` until message document `doc` arrives. */
  hold(w: Waiting, doc: string): void {
    this.release(w.opened.id);
    this.#byId.set(w.opened.id, { ...w, doc });
    this.#byDoc.set(doc, (this.#byDoc.get(doc) ?? new Set()).add(w.opened.id));
  }

  release(id: string): void {
    const w = this.#byId.get(id);
    if (!w) return;
    this.#byId.delete(id);
    const ids = this.#byDoc.get(w.doc)!;
    ids.delete(id);
    if (ids.size === 0) this.#byDoc.delete(w.doc);
  }

  /** The entries waiting for these message documents, or all of them. */
  for(docs?: string[]): Waiting[] {
    if (!docs) return [...this.#byId.values()];
    return docs.flatMap((d) => [...(this.#byDoc.get(d) ?? [])]).map((id) => this.#byId.get(id)!);
  }

  /** The feed position just before the oldest waiting entry, or `last` when none waits. */
  cursor(last: number | string): number | string {
    let min = Infinity;
    for (const w of this.#byId.values()) if (typeof w.seq === 'number') min = Math.min(min, w.seq);
    return min === Infinity ? last : min - 1;
  }
}
