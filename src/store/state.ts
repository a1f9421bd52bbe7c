/**
 * Mutable state: mailbox and entry documents. These are the only documents that change, so
 * the only ones that can conflict when two devices edit while apart. Conflicts are resolved
 * by merging every leaf revision field by field (kinds.ts) and writing the merge as the
 * winner while deleting the losers; every device computes the same merge.
 * Flag changes to many entries at once go as immutable marks documents (marks.ts), which the
 * index merges in the same way, as a lasting layer over the entries.
 */
import { randomUUID } from 'node:crypto';
import { WaxsealError } from '../util/errors.js';
import type { Hlc } from '../util/hlc.js';
import { type EntryMeta, type MailboxMeta, mergeEntry, mergeMailbox } from './kinds.js';
import { MARKS_PER_DOC, type MarkChange, type Marked, type MarksMeta, consolidated, marksMeta } from './marks.js';
import type { PouchDb, PouchDocument, PouchWriteResult } from './pouch.js';
import type { OpenDoc, SealedDoc, Sealer } from './seal.js';

export interface NewEntry {
  mailbox: string;
  message: string;
  size: number;
  date: number;
  flags?: string[];
  /** Deterministic logical id (e.g. from the provider's UID), so two devices make one entry. */
  key?: string;
}

export type StateKind = 'mailbox' | 'entry' | 'marks';
export const STATE_KINDS: readonly StateKind[] = ['mailbox', 'entry', 'marks'];

export interface OpenedState {
  id: string;
  rev: string;
  kind: StateKind;
  logical: string;
  meta: MailboxMeta | EntryMeta | MarksMeta;
}

/** A state document already opened (by the repo, or by the sync door) as the index takes it. */
export function openedState(id: string, rev: string, opened: OpenDoc): OpenedState {
  if (!(STATE_KINDS as readonly string[]).includes(opened.kind)) {
    throw new WaxsealError('ETAMPERED', `Document ${id} has kind ${opened.kind}, which does not belong in the state database`);
  }
  return { id, rev, kind: opened.kind as StateKind, logical: opened.logical, meta: opened.meta as unknown as OpenedState['meta'] };
}

const UPDATE_TRIES = 5;
const WRITE_BATCH = 250;

/** A state document ready to write, with the plaintext it was sealed from. */
export interface PreparedState {
  logical: string;
  doc: SealedDoc;
  kind: StateKind;
  meta: OpenedState['meta'];
}

export class StateRepo {
  readonly #db: PouchDb;
  readonly #sealer: Sealer;
  readonly #hlc: Hlc;
  /** Told of every revision this repo writes (the index uses it to skip re-reading them). */
  onWritten: (written: Array<{ rev: string; opened: OpenedState }>, origin?: unknown) => Promise<void> = async () => undefined;
  /**
   * An entry as read from its document, with what live marks set on it (the index knows
   * them): an update decides from what a client is shown, not from the document alone.
   */
  shown: (logical: string, meta: EntryMeta) => EntryMeta = (_logical, meta) => meta;

  constructor(db: PouchDb, sealer: Sealer, hlc: Hlc) {
    this.#db = db;
    this.#sealer = sealer;
    this.#hlc = hlc;
  }

  get db(): PouchDb {
    return this.#db;
  }

  /** This device's id, the last part of every stamp it makes. */
  get device(): string {
    return this.#hlc.device;
  }

  open(doc: PouchDocument): OpenedState {
    return openedState(doc._id, doc._rev!, this.#sealer.open(doc as SealedDoc));
  }

  entryId(logical: string): string {
    return this.#sealer.docId('entry', logical);
  }

  mailboxId(logical: string): string {
    return this.#sealer.docId('mailbox', logical);
  }

  newMailbox(name: string, specialUse: string | null = null): PreparedState {
    const logical = randomUUID();
    const t = this.#hlc.now();
    const meta: MailboxMeta = { name: [name, t], specialUse, subscribed: [true, t], deleted: [false, t] };
    return { logical, kind: 'mailbox', meta, doc: this.#sealer.seal({ kind: 'mailbox', logical, meta }) };
  }

  newEntries(entries: NewEntry[]): PreparedState[] {
    return entries.map((e) => {
      const t = this.#hlc.now();
      const logical = e.key ?? randomUUID();
      const flags: EntryMeta['flags'] = {};
      for (const f of [...new Set(e.flags ?? [])].sort()) flags[f] = [true, t];
      const meta: EntryMeta = { mailbox: e.mailbox, message: e.message, size: e.size, date: e.date, flags, expunged: [false, t] };
      return { logical, kind: 'entry' as const, meta, doc: this.#sealer.seal({ kind: 'entry', logical, meta }) };
    });
  }

  /**
   * Changes to many entries (logical id → change) as marks documents (marks.ts),
   * MARKS_PER_DOC entries each, every register of a document under one stamp.
   */
  async mark(changes: Map<string, MarkChange>, origin?: unknown): Promise<void> {
    const all = [...changes];
    const metas: MarksMeta[] = [];
    for (let i = 0; i < all.length; i += MARKS_PER_DOC) metas.push(marksMeta(all.slice(i, i + MARKS_PER_DOC), this.#hlc.now()));
    await this.#writeMarks(metas, origin);
  }

  /** What live marks set (per entry, merged) and make, as new marks documents (marks-consolidation.ts). */
  async consolidateMarks(marked: Map<string, Marked>, made: Map<string, EntryMeta>): Promise<void> {
    await this.#writeMarks(consolidated(marked, made, () => this.#hlc.now()));
  }

  async #writeMarks(metas: MarksMeta[], origin?: unknown): Promise<void> {
    const prepared = metas.map((meta): PreparedState => {
      const logical = randomUUID();
      return { logical, kind: 'marks', meta, doc: this.#sealer.seal({ kind: 'marks', logical, meta }) };
    });
    await this.create(prepared, origin);
  }

  /** Which of these entries have a document here (deleted ones do not). */
  async existing(logicals: string[]): Promise<Set<string>> {
    const res = await this.#db.allDocs({ keys: logicals.map((l) => this.entryId(l)) });
    return new Set(logicals.filter((_, i) => {
      const row = res.rows[i] as { value?: { deleted?: boolean } } | undefined;
      return row?.value !== undefined && !row.value.deleted;
    }));
  }

  /** Write new documents; an existing id is left alone (a deterministic key seen twice). */
  async create(prepared: PreparedState[], origin?: unknown): Promise<Set<string>> {
    const results = await this.#db.bulkDocs(prepared.map((p) => p.doc));
    const existing = new Set<string>();
    const written: Array<{ rev: string; opened: OpenedState }> = [];
    results.forEach((r, i) => {
      const p = prepared[i]!;
      if (r.status === 409) existing.add(p.doc._id);
      else if (r.error) throw new WaxsealError('ESTORE', `Could not write state: ${String(r.message ?? r.error)}`);
      else written.push({ rev: r.rev!, opened: { id: p.doc._id, rev: r.rev!, kind: p.kind, logical: p.logical, meta: p.meta } });
    });
    await this.onWritten(written, origin);
    return existing;
  }

  /**
   * Change documents by logical id; `mutate` gets a stamp to put on the registers it sets and
   * returns the new meta, or undefined to leave that document alone. Retries on conflict.
   *
   * Large updates go WRITE_BATCH documents at a time, sealed, written and indexed batch by
   * batch, and the index takes each batch while the next is being written: sealing all
   * 10,000 documents of a STORE 1:* first and indexing them all at the end held every sealed
   * document and a 10,000-row journal in memory at once and left the CPU idle during writes.
   */
  async update<M extends MailboxMeta | EntryMeta>(
    kind: 'mailbox' | 'entry',
    logicals: string[],
    mutate: (meta: M, stamp: string, logical: string) => M | undefined,
    origin?: unknown,
    known?: ReadonlyMap<string, { id?: string; rev: string; meta: M }>,
  ): Promise<number> {
    const all = [...new Set(logicals)];
    const indexed: Array<Promise<void>> = [];
    let changed = 0;
    try {
      for (let i = 0; i < all.length; i += WRITE_BATCH) {
        const index = (written: Array<{ rev: string; opened: OpenedState }>) => {
          const done = this.onWritten(written, origin);
          done.catch(() => undefined); // reported below, once every batch has been indexed
          indexed.push(done);
        };
        changed += await this.#updateBatch(kind, all.slice(i, i + WRITE_BATCH), mutate, index, known);
      }
    } finally {
      // Whatever was written is indexed (and announced) before this returns or throws.
      const results = await Promise.allSettled(indexed);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    }
    return changed;
  }

  async #updateBatch<M extends MailboxMeta | EntryMeta>(
    kind: 'mailbox' | 'entry',
    logicals: string[],
    mutate: (meta: M, stamp: string, logical: string) => M | undefined,
    index: (written: Array<{ rev: string; opened: OpenedState }>) => void,
    known?: ReadonlyMap<string, { id?: string; rev: string; meta: M }>,
  ): Promise<number> {
    let pending = logicals;
    let changed = 0;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt === UPDATE_TRIES) throw new WaxsealError('ESTORE', `Could not update ${pending.length} ${kind}(s): they kept changing`);
      // First try from the revisions the caller already holds (no read at all); anything
      // that conflicts is read fresh on the next round.
      const current: Array<{ logical: string; id?: string; rev: string; meta: M }> = [];
      const toRead = attempt === 0 && known ? pending.filter((l) => !known.has(l)) : pending;
      if (attempt === 0 && known) for (const l of pending) if (known.has(l)) current.push({ logical: l, ...known.get(l)! });
      if (toRead.length > 0) {
        const ids = toRead.map((l) => this.#sealer.docId(kind, l));
        const res = await this.#db.allDocs({ keys: ids, include_docs: true });
        res.rows.forEach((row, i) => {
          if (!row.doc) throw new WaxsealError('EMISSING', `No such ${kind} ${ids[i]}`);
          const opened = this.#sealer.open<M>(row.doc as SealedDoc, kind);
          const meta = kind === 'entry' ? (this.shown(opened.logical, opened.meta as EntryMeta) as M) : opened.meta;
          current.push({ logical: opened.logical, id: ids[i]!, rev: row.doc._rev!, meta });
        });
      }
      const writes: PouchDocument[] = [];
      const byId = new Map<string, string>();
      const metas = new Map<string, M>();
      for (const cur of current) {
        const next = mutate(cur.meta, this.#hlc.now(), cur.logical);
        if (next === undefined) continue;
        const sealed = this.#sealer.seal({ kind, logical: cur.logical, meta: next }, cur.id);
        // No revision: an entry a marks document made, whose own document is written now.
        writes.push(cur.rev ? { ...sealed, _rev: cur.rev } : sealed);
        byId.set(sealed._id, cur.logical);
        metas.set(sealed._id, next);
      }
      if (writes.length === 0) break;
      const results: PouchWriteResult[] = await this.#db.bulkDocs(writes);
      pending = [];
      const written: Array<{ rev: string; opened: OpenedState }> = [];
      results.forEach((r, i) => {
        const id = writes[i]!._id;
        if (r.status === 409) pending.push(byId.get(id)!);
        else if (r.error) throw new WaxsealError('ESTORE', `Could not update a ${kind}: ${String(r.message ?? r.error)}`);
        else {
          changed++;
          written.push({ rev: r.rev!, opened: { id, rev: r.rev!, kind, logical: byId.get(id)!, meta: metas.get(id)! } });
        }
      });
      index(written);
    }
    return changed;
  }

  /**
   * Merge the conflicting revisions of one document into its winning revision and delete the
   * losers. Returns false when there was nothing to merge. Damaged revisions are dropped from
   * the merge (and reported by the caller through the thrown error of the next open).
   */
  async resolve(id: string): Promise<boolean> {
    const doc = await this.#db.get(id, { conflicts: true });
    const losers = doc._conflicts ?? [];
    if (losers.length === 0) return false;
    const winner = this.open(doc);
    if (winner.kind === 'marks') {
      // Immutable: two revisions are two deletions of it, or a server's doing. Keep the winner.
      await this.#db.bulkDocs(losers.map((rev) => ({ _id: id, _rev: rev, _deleted: true })));
      return true;
    }
    let merged = winner.meta as MailboxMeta | EntryMeta;
    for (const rev of losers) {
      const other = await this.#db.get(id, { rev });
      const opened = this.open(other);
      merged = winner.kind === 'entry' ? mergeEntry(merged as EntryMeta, opened.meta as EntryMeta) : mergeMailbox(merged as MailboxMeta, opened.meta as MailboxMeta);
      this.#observe(opened.meta as MailboxMeta | EntryMeta);
    }
    const writes: PouchDocument[] = losers.map((rev) => ({ _id: id, _rev: rev, _deleted: true }));
    if (JSON.stringify(merged) !== JSON.stringify(winner.meta)) {
      writes.push({ ...this.#sealer.seal({ kind: winner.kind, logical: winner.logical, meta: merged }), _rev: winner.rev });
    }
    await this.#db.bulkDocs(writes);
    // A MOVE's original merged with a flag change made elsewhere: the index carries the
    // change to the copy when it applies this merge (carries.ts).
    return true;
  }

  /** Keep our clock ahead of stamps made elsewhere, so our next edit wins over theirs. */
  #observe(meta: MailboxMeta | EntryMeta): void {
    if ('flags' in meta) {
      for (const reg of Object.values(meta.flags)) this.#hlc.observe(reg[1]);
      this.#hlc.observe(meta.expunged[1]);
    } else {
      this.#hlc.observe(meta.name[1]);
    }
  }
}
