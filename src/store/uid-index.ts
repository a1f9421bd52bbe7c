/**
 * The device-local index: per mailbox a 32-bit UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ, and
 * per entry its UID and MODSEQ. It is derived from the state database's changes feed, so
 * local edits and edits replicated from other devices reach it by the same road, in the
 * same order. It never replicates (UIDs are per device) and is sealed with its own key.
 * If it is lost it is rebuilt from the state database with new UIDVALIDITY values.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { WaxsealError, errorMessage } from '../util/errors.js';
import type { EntryMeta, MailboxMeta } from './kinds.js';
import type { PouchDb, PouchDocument } from './pouch.js';
import type { SealedDoc, Sealer } from './seal.js';
import type { StateRepo } from './state.js';

export interface IndexedEntry {
  id: string;
  logical: string;
  uid: number;
  modseq: number;
  meta: EntryMeta;
}

export interface IndexedMailbox {
  id: string;
  logical: string;
  meta: MailboxMeta;
  uidValidity: number;
  uidNext: number;
  highestModseq: number;
  /** Live entries by UID, ascending. */
  entries: Map<number, IndexedEntry>;
}

export interface IndexChange {
  mailbox: string;
  added: number[];
  changed: number[];
  expunged: number[];
}

interface MailboxCounters {
  uidValidity: number;
  uidNext: number;
  highestModseq: number;
}

interface EntrySlot {
  mailbox: string;
  uid: number;
  modseq: number;
  /** Digest of the entry state last indexed: on replay, an unchanged entry keeps its MODSEQ. */
  h: string;
}

function digest(meta: EntryMeta): string {
  return createHash('sha256').update(JSON.stringify(meta)).digest('base64').slice(0, 16);
}

const BATCH = 500;

let lastValidity = 0;
/** UIDVALIDITY from the clock, never repeating within this process. */
function freshUidValidity(): number {
  lastValidity = Math.max(lastValidity + 1, Math.floor(Date.now() / 1000) % 0xffffffff || 1);
  return lastValidity;
}

export class UidIndex extends EventEmitter {
  readonly #local: PouchDb;
  readonly #sealer: Sealer;
  readonly #state: StateRepo;
  readonly #mailboxes = new Map<string, IndexedMailbox>();
  readonly #counters = new Map<string, MailboxCounters>();
  readonly #slots = new Map<string, EntrySlot>();
  readonly #revs = new Map<string, string>();
  readonly #pending = new Map<string, { id: string; logical: string; meta: EntryMeta }>();
  readonly #maxUid = new Map<string, number>();
  readonly #unsorted = new Set<IndexedMailbox>();
  #lastSeq: number | string = 0;
  #running: Promise<void> = Promise.resolve();
  rebuilt = false;
  /** State documents that failed to open, by id, with the reason. */
  readonly damaged = new Map<string, string>();

  constructor(local: PouchDb, sealer: Sealer, state: StateRepo) {
    super();
    this.#local = local;
    this.#sealer = sealer;
    this.#state = state;
  }

  /** Load the persisted index, then replay the state database from the start. */
  async load(): Promise<void> {
    const res = await this.#local.allDocs({ include_docs: true });
    for (const row of res.rows) {
      if (!row.doc) continue;
      this.#revs.set(row.id, row.doc._rev!);
      const opened = this.#sealer.open<Record<string, unknown>>(row.doc as SealedDoc);
      if (opened.kind === 'mbx') this.#counters.set(opened.logical, opened.meta as unknown as MailboxCounters);
      else if (opened.kind === 'slot') this.#slots.set(opened.logical, opened.meta as unknown as EntrySlot);
    }
    this.rebuilt = this.#counters.size === 0;
    // Mailbox and flag state is read fresh from the state database on every start (it is
    // small); only what cannot be recomputed — UIDs and MODSEQs — comes from the index.
    await this.catchUp();
  }

  mailboxes(): IndexedMailbox[] {
    return [...this.#mailboxes.values()].filter((m) => !m.meta.deleted[0]);
  }

  mailbox(logical: string): IndexedMailbox | undefined {
    const m = this.#mailboxes.get(logical);
    return m && !m.meta.deleted[0] ? m : undefined;
  }

  /** Process every change since the last one seen. Calls are serialised. */
  catchUp(): Promise<void> {
    const run = this.#running.then(() => this.#drain());
    this.#running = run.catch(() => undefined);
    return run;
  }

  async #drain(): Promise<void> {
    for (;;) {
      const res = await this.#state.db.changes({ since: this.#lastSeq, limit: BATCH, include_docs: true, conflicts: true });
      if (res.results.length === 0) return;
      const changes = new Map<string, IndexChange>();
      const dirty = new Set<string>();
      for (const change of res.results) {
        if (!change.doc || change.doc._deleted) continue;
        if (change.doc._conflicts && change.doc._conflicts.length > 0) {
          // The merge writes a new revision, which a later pass of this loop picks up.
          await this.#state.resolve(change.id);
          continue;
        }
        this.#apply(change.doc, changes, dirty);
      }
      this.#lastSeq = res.last_seq;
      this.#sort();
      await this.#persist(dirty);
      for (const c of changes.values()) this.emit('change', c);
    }
  }

  #apply(doc: PouchDocument, changes: Map<string, IndexChange>, dirty: Set<string>): void {
    let opened;
    try {
      opened = this.#state.open(doc);
    } catch (err) {
      // One damaged document must not hide the others: report it, skip it, go on.
      this.damaged.set(doc._id, errorMessage(err));
      this.emit('damaged', { id: doc._id, error: err });
      return;
    }
    this.damaged.delete(doc._id);
    if (opened.kind === 'mailbox') {
      const meta = opened.meta as MailboxMeta;
      let mbx = this.#mailboxes.get(opened.logical);
      if (!mbx) {
        let counters = this.#counters.get(opened.logical);
        if (!counters) {
          counters = { uidValidity: freshUidValidity(), uidNext: 1, highestModseq: 1 };
          this.#counters.set(opened.logical, counters);
          dirty.add(`mbx:${opened.logical}`);
        }
        mbx = { id: opened.id, logical: opened.logical, meta, ...counters, entries: new Map() };
        this.#mailboxes.set(opened.logical, mbx);
      }
      mbx.meta = meta;
      for (const [key, p] of this.#pending) {
        if (p.meta.mailbox !== opened.logical) continue;
        this.#pending.delete(key);
        this.#applyEntry(mbx, p.id, p.logical, p.meta, changes, dirty);
      }
      return;
    }
    const meta = opened.meta as EntryMeta;
    const mbx = this.#mailboxes.get(meta.mailbox);
    if (!mbx) {
      this.#pending.set(opened.logical, { id: opened.id, logical: opened.logical, meta });
      return;
    }
    this.#applyEntry(mbx, opened.id, opened.logical, meta, changes, dirty);
  }

  #applyEntry(mbx: IndexedMailbox, id: string, logical: string, meta: EntryMeta, changes: Map<string, IndexChange>, dirty: Set<string>): void {
    const change = changes.get(mbx.logical) ?? { mailbox: mbx.logical, added: [], changed: [], expunged: [] };
    changes.set(mbx.logical, change);
    let slot = this.#slots.get(logical);
    const expunged = meta.expunged[0];
    const h = digest(meta);
    if (!slot) {
      if (expunged) return;
      slot = { mailbox: mbx.logical, uid: mbx.uidNext++, modseq: ++mbx.highestModseq, h };
      this.#slots.set(logical, slot);
      change.added.push(slot.uid);
    } else {
      const known = mbx.entries.get(slot.uid);
      if (slot.h === h) {
        // Replayed on start, or a write that changed nothing: same UID, same MODSEQ.
        if (!expunged && !known) this.#insert(mbx, { id, logical, uid: slot.uid, modseq: slot.modseq, meta });
        return;
      }
      slot.h = h;
      slot.modseq = ++mbx.highestModseq;
      if (expunged) {
        if (known) change.expunged.push(slot.uid);
      } else if (known) change.changed.push(slot.uid);
      else change.added.push(slot.uid);
    }
    if (expunged) mbx.entries.delete(slot.uid);
    else this.#insert(mbx, { id, logical, uid: slot.uid, modseq: slot.modseq, meta });
    this.#counters.set(mbx.logical, { uidValidity: mbx.uidValidity, uidNext: mbx.uidNext, highestModseq: mbx.highestModseq });
    dirty.add(`mbx:${mbx.logical}`);
    dirty.add(`slot:${logical}`);
  }

  /**
   * Entries iterate in UID order (IMAP sequence numbers are positions in it). New UIDs are
   * always the highest, so only a replay or an un-expunge inserts out of order; then the
   * mailbox's map is rebuilt sorted, once per batch.
   */
  #insert(mbx: IndexedMailbox, entry: IndexedEntry): void {
    const had = mbx.entries.has(entry.uid);
    mbx.entries.set(entry.uid, entry);
    if (!had && entry.uid < (this.#maxUid.get(mbx.logical) ?? 0)) this.#unsorted.add(mbx);
    if (entry.uid > (this.#maxUid.get(mbx.logical) ?? 0)) this.#maxUid.set(mbx.logical, entry.uid);
  }

  #sort(): void {
    for (const mbx of this.#unsorted) {
      const sorted = [...mbx.entries.entries()].sort(([a], [b]) => a - b);
      mbx.entries.clear();
      for (const [uid, e] of sorted) mbx.entries.set(uid, e);
    }
    this.#unsorted.clear();
  }

  async #persist(dirty: Set<string>): Promise<void> {
    if (dirty.size === 0) return;
    const docs: PouchDocument[] = [];
    for (const key of dirty) {
      const [kind, logical] = [key.slice(0, key.indexOf(':')), key.slice(key.indexOf(':') + 1)];
      const meta = kind === 'mbx' ? this.#counters.get(logical) : this.#slots.get(logical);
      const sealed = this.#sealer.seal({ kind, logical, meta: meta! });
      const rev = this.#revs.get(sealed._id);
      docs.push(rev ? { ...sealed, _rev: rev } : sealed);
    }
    const results = await this.#local.bulkDocs(docs);
    results.forEach((r, i) => {
      if (r.error) throw new WaxsealError('ESTORE', `Could not write the local index: ${String(r.message ?? r.error)}`);
      this.#revs.set(docs[i]!._id, r.rev!);
    });
  }
}
