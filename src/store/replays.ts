/**
 * Replays of old state: a server serving an older revision of a mailbox or entry as the
 * newest one. Such a revision must not turn edits back: every incoming state is merged with
 * the last one indexed, which a genuine newer revision always dominates (a concurrent one
 * arrives as a conflict and is merged before it gets here). When the merge differs from what
 * arrived, it was a replay: the index keeps the merge, and the merge is written back as a new
 * revision on top of the replay, since the server and this device's state database both hold
 * the replay as the newest revision and other devices would otherwise keep pulling it.
 */
import { type EntryMeta, type MailboxMeta, mergeKnown } from './kinds.js';
import type { OpenedState, StateRepo } from './state.js';

export class Replays {
  /** Replays seen, by logical id, with what was known of them: written back by repair(). */
  readonly #seen = new Map<string, { kind: 'mailbox' | 'entry'; known: MailboxMeta | EntryMeta }>();

  /** `opened` merged with what was known of it: `opened` itself unless it is a replay. */
  merge(opened: OpenedState, known: { rev: string; meta: MailboxMeta | EntryMeta } | undefined): OpenedState {
    // Marks are immutable: a replay of one sets registers the entries already hold newer.
    if (!known || known.rev === opened.rev || opened.kind === 'marks') return opened;
    const merged = mergeKnown(opened.meta as MailboxMeta | EntryMeta, known.meta);
    if (merged === opened.meta) return opened;
    this.#seen.set(opened.logical, { kind: opened.kind, known: known.meta });
    return { ...opened, meta: merged };
  }

  /**
   * Write the merge of every replay seen back. A genuine newer revision that arrived
   * meanwhile already holds everything known: then nothing is written.
   */
  async repair(state: StateRepo): Promise<void> {
    if (this.#seen.size === 0) return;
    const seen = new Map(this.#seen);
    this.#seen.clear();
    for (const kind of ['mailbox', 'entry'] as const) {
      const logicals = [...seen].filter(([, r]) => r.kind === kind).map(([logical]) => logical);
      if (logicals.length === 0) continue;
      await state.update<MailboxMeta | EntryMeta>(kind, logicals, (current, _stamp, logical) => {
        const merged = mergeKnown(current, seen.get(logical)!.known);
        return merged === current ? undefined : merged;
      });
    }
  }
}
