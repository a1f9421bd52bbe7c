/**
 * Where the UID index (uid-index.ts) keeps what it knows, in its device-local database: one
 * small document per mailbox's counters, journals of entry slots, the cursor (the changes-feed
 * position they reflect, and the live marks then), and settings. Everything is sealed with the
 * index key. A start reads it all back (load) instead of replaying the state database.
 *
 * Slot changes go into one journal document per write (a per-entry document would double the
 * writes of every import), SNAPSHOT_CHUNK rows a journal. Past JOURNAL_COMPACT journals, a
 * snapshot of every slot replaces them, later (compact).
 */
import { WaxsealError } from '../util/errors.js';
import type { EntryMeta, MailboxMeta } from './kinds.js';
import type { PouchDb, PouchDocument } from './pouch.js';
import type { SealedDoc, Sealer } from './seal.js';

/** What the state database said last, kept so a restart needs only the changes since. */
export interface Known<M> {
  id: string;
  rev: string;
  meta: M;
}

export interface MailboxCounters {
  uidValidity: number;
  uidNext: number;
  highestModseq: number;
  state?: Known<MailboxMeta>;
}

export interface EntrySlot {
  mailbox: string;
  uid: number;
  modseq: number;
  /** Digest of the entry state last indexed: on replay, an unchanged entry keeps its MODSEQ. */
  h: string;
  state?: Known<EntryMeta>;
}

/** The feed position the journals reflect, and the marks documents live at it [id, rev]. */
export interface Cursor {
  lastSeq: number | string;
  marks: Array<[string, string]>;
}

const JOURNAL_COMPACT = 256;
/** Journals past which compaction runs without waiting for writes to pause. */
const JOURNAL_CAP = 4096;
/** Slots per journal (of a snapshot, and of one write). */
const SNAPSHOT_CHUNK = 1000;
/** Old journals deleted per write once a snapshot has replaced them. */
const DELETE_BATCH = 256;

/**
 * A slot as the journal stores it: [entry logical id, mailbox, uid, modseq, digest, state].
 * State null: the state of the slot's row before, with the live marks merged in (a slot
 * changed only by marks; a STORE on 10,000 entries journaled every entry's state again, a
 * third of its time).
 */
type JournalRow = [string, string, number, number, string, (Known<EntryMeta> | null)?];

const row = (logical: string, s: EntrySlot, byMarks = false): JournalRow =>
  [logical, s.mailbox, s.uid, s.modseq, s.h, ...(byMarks ? [null] : s.state ? [s.state] : [])] as JournalRow;

/** What the index hands the journal. */
export interface JournalHost {
  /** Every slot, for a snapshot. */
  slots: ReadonlyMap<string, EntrySlot>;
  /** Run `fn` in the index's queue, after what is queued there. */
  queued(fn: () => Promise<void>): Promise<void>;
}

export class IndexJournal {
  readonly #local: PouchDb;
  readonly #sealer: Sealer;
  readonly #host: JournalHost;
  readonly #revs = new Map<string, string>();
  /** Ids of journal documents on disk, oldest first, for compaction. */
  #journals: string[] = [];
  #journalSeq = 0;
  #rowsSinceSnapshot = 0;

  constructor(local: PouchDb, sealer: Sealer, host: JournalHost) {
    this.#local = local;
    this.#sealer = sealer;
    this.#host = host;
  }

  /**
   * Read everything back into `counters` and `slots`. Journals replay in order (a snapshot
   * makes older ones moot); returns the slots whose last row was marks-only, whose state is
   * the row before's until the caller merges the live marks in, and the cursor, if any.
   */
  async load(counters: Map<string, MailboxCounters>, slots: Map<string, EntrySlot>): Promise<{ byMarks: Set<string>; cursor?: Cursor }> {
    const res = await this.#local.allDocs({ include_docs: true });
    const journals: Array<{ seq: number; id: string; slots: JournalRow[] }> = [];
    let cursor: Cursor | undefined;
    for (const r of res.rows) {
      if (!r.doc) continue;
      this.#revs.set(r.id, r.doc._rev!);
      const opened = this.#sealer.open<Record<string, unknown>>(r.doc as SealedDoc);
      if (opened.kind === 'mbx') counters.set(opened.logical, opened.meta as unknown as MailboxCounters);
      else if (opened.kind === 'journal') journals.push({ seq: Number(opened.logical), id: r.id, slots: opened.meta.slots as JournalRow[] });
      else if (opened.kind === 'cursor') cursor = { lastSeq: opened.meta.lastSeq as number | string, marks: (opened.meta.marks as Cursor['marks'] | undefined) ?? [] };
    }
    journals.sort((a, b) => a.seq - b.seq);
    const byMarks = new Set<string>();
    for (const j of journals) {
      for (const [logical, mailbox, uid, modseq, h, state] of j.slots) {
        const held = state === null ? slots.get(logical)?.state : state;
        if (state === null) byMarks.add(logical);
        else byMarks.delete(logical);
        slots.set(logical, { mailbox, uid, modseq, h, ...(held ? { state: held } : {}) });
      }
    }
    this.#journals = journals.map((j) => j.id);
    this.#journalSeq = journals.at(-1)?.seq ?? 0;
    return { byMarks, ...(cursor ? { cursor } : {}) };
  }

  /**
   * Write changed counters and slots ([logical, slot, changed only by marks]) in one write,
   * with the cursor when given: a restart trusts the journal and the cursor together.
   */
  async write(counters: Array<[string, MailboxCounters]>, slots: Array<[string, EntrySlot, boolean]>, cursor?: Cursor): Promise<void> {
    const docs: PouchDocument[] = counters.map(([logical, c]) => this.#versioned(this.#sealer.seal({ kind: 'mbx', logical, meta: c })));
    this.#rowsSinceSnapshot += slots.length;
    // A STORE on 10,000 entries changes 10,000 slots at once: SNAPSHOT_CHUNK rows a journal, as
    // a snapshot is written, not one multi-megabyte document.
    const journals: PouchDocument[] = [];
    for (let i = 0; i < slots.length; i += SNAPSHOT_CHUNK) {
      journals.push(this.#journal(slots.slice(i, i + SNAPSHOT_CHUNK).map(([logical, s, byMarks]) => row(logical, s, byMarks))));
    }
    if (cursor) docs.push(this.#versioned(this.#sealer.seal({ kind: 'cursor', logical: 'cursor', meta: { lastSeq: cursor.lastSeq, marks: cursor.marks } })));
    docs.push(...journals);
    await this.#write(docs);
    for (const j of journals) this.#journals.push(j._id);
    // Writes that never pause would never compact: past this many, compact behind them.
    if (this.#journals.length >= JOURNAL_CAP) void this.compact().catch(() => undefined);
  }

  /**
   * Replace the journals with a snapshot of every slot. A snapshot rewrites every slot, so
   * it waits until a quarter as many rows have been journaled since the last one: amortised
   * O(1) a write (a snapshot every 256 journals made a stream of single APPENDs quadratic
   * once slots carried their state), while a start still reads at most a quarter of the
   * slots' worth of small journals. It runs once writing pauses and on close, never inside a
   * command: writing a 10,000-slot snapshot and deleting the ~2,000 one-row journals that
   * 10,000 APPENDs leave took ~0.5 s, landing on whichever STORE crossed the threshold. The
   * deletions go in small writes so that a command arriving meanwhile waits for one only.
   * The snapshot is written SNAPSHOT_CHUNK slots a journal: as one journal, a 10,000-slot
   * snapshot was a ~5 MB document whose JSON, sealed copies and LevelDB buffers all lived at
   * once (+40 MB RSS on close). Chunks are journals like any other, replayed in order.
   */
  async compact(): Promise<void> {
    let old: string[] = [];
    await this.#host.queued(async () => {
      const { slots } = this.#host;
      if (this.#journals.length < JOURNAL_COMPACT || this.#rowsSinceSnapshot * 4 < slots.size) return;
      this.#rowsSinceSnapshot = 0;
      const all = [...slots];
      const chunks: string[] = [];
      for (let i = 0; i < all.length; i += SNAPSHOT_CHUNK) {
        const chunk = this.#journal(all.slice(i, i + SNAPSHOT_CHUNK).map(([logical, s]) => row(logical, s)));
        await this.#write([chunk]);
        chunks.push(chunk._id);
      }
      // Only after the snapshot is safely written do the journals it replaces go.
      old = this.#journals;
      this.#journals = chunks;
    });
    for (let i = 0; i < old.length; i += DELETE_BATCH) {
      const ids = old.slice(i, i + DELETE_BATCH);
      await this.#host.queued(async () => {
        await this.#write(ids.map((id) => ({ _id: id, _rev: this.#revs.get(id)!, _deleted: true })));
        for (const id of ids) this.#revs.delete(id);
      });
    }
  }

  async getSetting<T>(name: string): Promise<T | undefined> {
    const id = this.#sealer.docId('setting', name);
    try {
      const doc = await this.#local.get(id);
      return this.#sealer.open<{ value: T }>(doc as unknown as SealedDoc, 'setting').meta.value;
    } catch (err) {
      if ((err as { status?: number }).status === 404) return undefined;
      throw err;
    }
  }

  async putSetting(name: string, value: unknown): Promise<void> {
    const sealed = this.#sealer.seal({ kind: 'setting', logical: name, meta: { value } });
    const rev = this.#revs.get(sealed._id) ?? (await this.#local.get(sealed._id).then((d) => d._rev, () => undefined));
    await this.#write([rev ? { ...sealed, _rev: rev } : sealed]);
  }

  #journal(slots: JournalRow[]): SealedDoc {
    return this.#sealer.seal({ kind: 'journal', logical: String(++this.#journalSeq).padStart(12, '0'), meta: { slots } });
  }

  /** A sealed document at the revision last written, so it replaces that one. */
  #versioned(sealed: SealedDoc): PouchDocument {
    const rev = this.#revs.get(sealed._id);
    return rev ? { ...sealed, _rev: rev } : sealed;
  }

  async #write(docs: PouchDocument[]): Promise<void> {
    if (docs.length === 0) return;
    const results = await this.#local.bulkDocs(docs);
    results.forEach((r, i) => {
      if (r.error) throw new WaxsealError('ESTORE', `Could not write the local index: ${String(r.message ?? r.error)}`);
      this.#revs.set(docs[i]!._id, r.rev!);
    });
  }
}
