/**
 * The device-local index: per mailbox a 32-bit UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ, and
 * per entry its UID and MODSEQ. It is derived from the state database's changes feed, so
 * local edits and edits replicated from other devices reach it by the same road, in the
 * same order. It never replicates (UIDs are per device) and is sealed with its own key.
 * If it is lost it is rebuilt from the state database with new UIDVALIDITY values.
 */
import { hash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { errorMessage } from '../util/errors.js';
import type { EntryMeta, MailboxMeta } from './kinds.js';
import type { PouchDb, PouchDocument } from './pouch.js';
import type { Sealer } from './seal.js';
import type { OpenedState, StateRepo } from './state.js';
import { Carries } from './carries.js';
import { HandOver } from './handover.js';
import { IndexJournal, type EntrySlot, type MailboxCounters } from './index-journal.js';
import { LiveMarks, type MarksMeta, createdEntries, withMarks } from './marks.js';
import { MarksConsolidation } from './marks-consolidation.js';
import { Replays } from './replays.js';
import { WaitingEntries, type IndexContent, type Waiting } from './waiting.js';

export type { IndexContent } from './waiting.js';

export interface IndexedEntry {
  id: string;
  /** The revision this state was read from, so an update can be written without a read. */
  rev: string;
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
  /** Whatever the writer passed along (an IMAP session marks its own STOREs with it). */
  origin?: unknown;
}

function digest(meta: EntryMeta): string {
  return hash('sha256', JSON.stringify(meta), 'base64').slice(0, 16);
}

const BATCH = 500;
let lastValidity = 0;
/** UIDVALIDITY from the clock, never repeating within this process. */
function freshUidValidity(): number {
  lastValidity = Math.max(lastValidity + 1, Math.floor(Date.now() / 1000) % 0xffffffff || 1);
  return lastValidity;
}

export class UidIndex extends EventEmitter {
  readonly #journal: IndexJournal;
  readonly #state: StateRepo;
  readonly #mailboxes = new Map<string, IndexedMailbox>();
  readonly #counters = new Map<string, MailboxCounters>();
  readonly #slots = new Map<string, EntrySlot>();
  /** Revisions this process wrote and applied, by id, until the changes feed passes them. */
  readonly #applied = new Map<string, string>();
  readonly #pending = new Map<string, { id: string; rev: string; logical: string; meta: EntryMeta }>();
  readonly #maxUid = new Map<string, number>();
  readonly #unsorted = new Set<IndexedMailbox>();
  #lastSeq: number | string = 0;
  #catchUpTimer: NodeJS.Timeout | undefined;
  #documentsRead = 0;
  #running: Promise<void> = Promise.resolve();
  rebuilt = false;
  /** How the last load went: from the journal (quick) or by replaying the state database. */
  readonly loadStats = { fromJournal: false, documentsRead: 0 };
  /** State documents that failed to open, by id, with the reason. */
  readonly damaged = new Map<string, string>();
  readonly #waiting = new WaitingEntries();
  readonly #handedOver = new HandOver();
  readonly #replays = new Replays();
  readonly #marks = new LiveMarks();
  readonly #carries = new Carries();
  readonly #consolidation: MarksConsolidation;
  readonly #content: IndexContent;

  /**
   * `content` says which messages are in the content database: replication brings content
   * and state separately, so an entry can arrive before its message, and must not be shown
   * (a FETCH would fail) until the message is there too.
   */
  constructor(local: PouchDb, sealer: Sealer, state: StateRepo, content?: IndexContent) {
    super();
    this.#journal = new IndexJournal(local, sealer, { slots: this.#slots, queued: (fn) => this.#queued(fn) });
    this.#state = state;
    this.#content = content ?? { has: async (m) => new Set(m), docId: (m) => m };
    this.#consolidation = new MarksConsolidation({ marks: this.#marks, state, queued: (fn) => this.#queued(fn) });
  }

  /** State documents read through the changes feed since this index opened. */
  get documentsRead(): number {
    return this.#documentsRead;
  }

  /** Marks documents the index shows over the entries (marks.ts). */
  get liveMarks(): number {
    return this.#marks.size;
  }

  /** How many replicated entries wait for their message to arrive. */
  get waitingForContent(): number {
    return this.#waiting.size;
  }

  /**
   * Load the persisted index. It holds each mailbox's and entry's last known state and the
   * changes-feed position it reflects, so a start reads only what changed since (10,000
   * messages: the whole state database took seconds to replay). Without that position (a
   * new or rebuilt index) the state database is replayed from the start.
   */
  async load(): Promise<void> {
    const { byMarks, cursor } = await this.#journal.load(this.#counters, this.#slots);
    this.rebuilt = this.#counters.size === 0;
    const complete = [...this.#counters.values()].every((c) => c.state) && [...this.#slots.values()].every((s) => s.state);
    if (cursor !== undefined && complete) {
      await this.#loadMarks(cursor.marks);
      for (const logical of byMarks) {
        const slot = this.#slots.get(logical)!;
        slot.state = { ...slot.state!, meta: this.shown(logical, slot.state!.meta) };
      }
      for (const [logical, c] of this.#counters) {
        const state = c.state!;
        this.#mailboxes.set(logical, { id: state.id, logical, meta: state.meta, uidValidity: c.uidValidity, uidNext: c.uidNext, highestModseq: c.highestModseq, entries: new Map() });
      }
      for (const [logical, slot] of this.#slots) {
        const state = slot.state!;
        const mbx = this.#mailboxes.get(slot.mailbox);
        if (!mbx || state.meta.expunged[0]) continue;
        this.#insert(mbx, { id: state.id, rev: state.rev, logical, uid: slot.uid, modseq: slot.modseq, meta: state.meta });
      }
      this.#sort();
      this.#lastSeq = cursor.lastSeq;
      this.loadStats.fromJournal = true;
    }
    const before = this.#documentsRead;
    await this.catchUp();
    this.loadStats.documentsRead = this.#documentsRead - before;
  }

  /**
   * The marks live at the persisted feed position, read again: the entries' held states have
   * them merged in already, but entry revisions arriving later (written without them) and
   * fresh reads for an update need them. One deleted since is seen going in the feed, or is
   * gone already here.
   */
  async #loadMarks(live: Array<[string, string]>): Promise<void> {
    if (live.length === 0) return;
    const got = await this.#state.db.allDocs({ keys: live.map(([id]) => id), include_docs: true });
    for (const row of got.rows) {
      if (!row.doc || row.doc._deleted) continue;
      try {
        const opened = this.#state.open(row.doc);
        if (opened.kind === 'marks') this.#marks.add(opened.id, opened.rev, opened.meta as MarksMeta);
      } catch (err) {
        this.damaged.set(row.id, errorMessage(err));
        this.emit('damaged', { id: row.id, error: err });
      }
    }
  }

  /**
   * Once local writes pause, move the persisted feed position past them in the background.
   * Only after a pause: the catch-up shares the index's queue, and running it every few
   * seconds during an import slowed the import by half.
   */
  #scheduleCatchUp(): void {
    clearTimeout(this.#catchUpTimer);
    this.#catchUpTimer = setTimeout(() => {
      this.#catchUpTimer = undefined;
      this.catchUp()
        .then(() => this.#consolidation.run())
        .catch(() => undefined)
        .then(() => this.#journal.compact())
        .catch(() => undefined);
    }, 5000);
    this.#catchUpTimer.unref();
  }

  /**
   * Replace the live marks by a few holding the same (marks-consolidation.ts): when
   * CONSOLIDATE_AT are live, or (`force`) when that would write fewer than are live. Runs by
   * itself once writing pauses.
   */
  consolidateMarks(force = false): Promise<void> {
    return this.#consolidation.run(force);
  }

  /** Stop background work, recording the feed position reached, so the next start is quick. */
  async dispose(): Promise<void> {
    clearTimeout(this.#catchUpTimer);
    this.#catchUpTimer = undefined;
    await this.#consolidation.dispose();
    await this.#drainQueued().catch(() => undefined);
    // So the next start reads one snapshot, not the thousands of journals an import leaves.
    await this.#journal.compact().catch(() => undefined);
  }

  getSetting<T>(name: string): Promise<T | undefined> {
    return this.#journal.getSetting<T>(name);
  }

  putSetting(name: string, value: unknown): Promise<void> {
    return this.#journal.putSetting(name, value);
  }

  /** Live mailboxes, INBOX first, then by name: the same order however the index was loaded. */
  mailboxes(): IndexedMailbox[] {
    const rank = (m: IndexedMailbox) => (m.meta.name[0] === 'INBOX' ? '' : `\u0001${m.meta.name[0]}`);
    return [...this.#mailboxes.values()].filter((m) => !m.meta.deleted[0]).sort((a, b) => (rank(a) < rank(b) ? -1 : rank(a) > rank(b) ? 1 : 0));
  }

  /** An entry by its logical id, through its slot (mailbox and UID): no scan. */
  entry(logical: string): IndexedEntry | undefined {
    const slot = this.#slots.get(logical);
    return slot ? this.#mailboxes.get(slot.mailbox)?.entries.get(slot.uid) : undefined;
  }

  mailbox(logical: string): IndexedMailbox | undefined {
    const m = this.#mailboxes.get(logical);
    return m && !m.meta.deleted[0] ? m : undefined;
  }

  /** Process every change since the last one seen. Calls are serialised. */
  catchUp(): Promise<void> {
    // Outside the queue: the repair's and the carries' writes are applied through it (applyWritten).
    return this.#drainQueued()
      .then(() => this.#replays.repair(this.#state).catch(() => undefined))
      .then(() => this.#carries.carry(this.#state, (logical) => this.#slots.get(logical)?.state).catch(() => undefined));
  }

  #drainQueued(): Promise<void> {
    const run = this.#running.then(() => this.#drain());
    this.#running = run.catch(() => undefined);
    return run;
  }

  /**
   * Apply entries and mailboxes this process has just written, straight from the writer:
   * reading them back through the changes feed costs ~100 µs a document here, more than
   * writing them. The changes feed still passes by later (on open, or when replication
   * brings news); a document it shows at exactly the revision applied here is skipped
   * without being read, and anything else (a replicated edit, a conflict) is read then.
   */
  applyWritten(written: Array<{ rev: string; opened: OpenedState }>, origin?: unknown): Promise<void> {
    const run = this.#running.then(async () => {
      const changes = new Map<string, IndexChange>();
      const dirty = new Set<string>();
      for (const w of written) {
        this.#applied.set(w.opened.id, w.rev);
        const created = this.#created(w.opened);
        this.#apply(w.opened, changes, dirty);
        for (const c of created) this.#apply(c, changes, dirty);
      }
      this.#sort();
      await this.#persist(dirty);
      for (const c of changes.values()) this.emit('change', origin === undefined ? c : { ...c, origin });
      this.#scheduleCatchUp();
    });
    this.#running = run.catch(() => undefined);
    return run;
  }

  /**
   * States the sync door opened and wrote (handover.ts): the feed that shows them next is
   * answered from these instead of reading and opening the documents again.
   */
  handOver(states: OpenedState[]): void {
    this.#handedOver.put(states);
  }

  async #drain(): Promise<void> {
    for (;;) {
      const res = await this.#state.db.changes({ since: this.#lastSeq, limit: BATCH, style: 'all_docs' });
      if (res.results.length === 0) return;
      const fetch: string[] = [];
      const handed = new Map<string, OpenedState>();
      // Marks deleted (consolidated) go once the batch is applied: the consolidation that
      // replaces them comes before them in the feed, maybe in this batch.
      const gone: string[] = [];
      for (const change of res.results) {
        if (change.deleted && this.#marks.has(change.id)) gone.push(change.id);
        const applied = this.#applied.get(change.id);
        this.#applied.delete(change.id);
        // Written and applied by this process, and nothing else has arrived for it since.
        const only = change.changes.length === 1 ? change.changes[0]!.rev : undefined;
        if (only !== undefined && only === applied) continue;
        if (change.deleted) continue;
        const state = only !== undefined ? this.#handedOver.take(change.id, only) : undefined;
        if (state) handed.set(change.id, state);
        else fetch.push(change.id);
      }
      const docs = new Map<string, PouchDocument>();
      if (fetch.length > 0) {
        const got = await this.#state.db.allDocs({ keys: fetch, include_docs: true, conflicts: true });
        this.#documentsRead += got.rows.length;
        for (const row of got.rows) if (row.doc) docs.set(row.id, row.doc);
      }
      const arrived: Waiting[] = [];
      for (const change of res.results) {
        let opened = handed.get(change.id);
        const doc = docs.get(change.id);
        if (!opened) {
          if (!doc || doc._deleted) continue;
          if (doc._conflicts && doc._conflicts.length > 0) {
            // The merge writes a new revision, which a later pass of this loop picks up.
            await this.#state.resolve(change.id);
            continue;
          }
          try {
            opened = this.#state.open(doc);
          } catch (err) {
            // One damaged document must not hide the others: report it, skip it, go on.
            this.damaged.set(doc._id, errorMessage(err));
            this.emit('damaged', { id: doc._id, error: err });
            continue;
          }
        }
        this.damaged.delete(change.id);
        this.#waiting.release(change.id);
        arrived.push({ opened: this.#guard(opened), seq: change.seq });
      }
      this.#lastSeq = res.last_seq;
      // The entries they named are journaled whole: a marks-only row (JournalRow) is rebuilt
      // on open from the marks live then, and the consolidation replacing these may not have
      // arrived yet (a replicator can deliver a deletion before it).
      const whole = gone.flatMap((id) => this.#marks.named(id)).filter((logical) => this.#slots.get(logical)?.state).map((logical) => `slot:${logical}`);
      await this.#applyReady(arrived, whole);
      for (const id of gone) this.#marks.gone(id);
    }
  }

  /** An incoming state merged with the one last indexed, so a replay turns nothing back (replays.ts). */
  #guard(opened: OpenedState): OpenedState {
    if (opened.kind === 'marks') return opened;
    // Live marks first: an entry written without them (elsewhere, or before them) is no replay.
    if (opened.kind === 'entry') opened = this.#marked(opened);
    const known = opened.kind === 'entry' ? this.#slots.get(opened.logical)?.state : this.#counters.get(opened.logical)?.state;
    const merged = this.#replays.merge(opened, known);
    if (merged !== opened) this.emit('replayed', { id: opened.id, kind: opened.kind });
    return merged;
  }

  /**
   * Apply what has arrived. A new entry whose message is not in the store yet waits for it;
   * an entry whose mailbox has not arrived (its document changed later, so it comes later in
   * the feed) waits for the mailbox. Both are released as what they wait for is applied.
   */
  async #applyReady(arrived: Waiting[], dirtyToo: string[] = []): Promise<void> {
    const changes = new Map<string, IndexChange>();
    const dirty = new Set<string>(dirtyToo);
    const isNew = (a: Waiting) => a.opened.kind === 'entry' && !this.#slots.has(a.opened.logical) && !(a.opened.meta as EntryMeta).expunged[0];
    // Entries a marks document makes come right after it, as if their documents had arrived.
    arrived = arrived.flatMap((a) => (a.opened.kind === 'marks' ? [a, ...this.#created(a.opened).map((opened) => ({ opened, seq: a.seq }))] : [a]));
    for (let batch = arrived; batch.length > 0; ) {
      const unknown = batch.filter(isNew);
      const present = unknown.length > 0 ? await this.#content.has([...new Set(unknown.map((a) => (a.opened.meta as EntryMeta).message))]) : new Set<string>();
      const next: Waiting[] = [];
      for (const a of batch) {
        // A copy the marks make, whose own document came first in this batch (the replicator
        // does not keep the order of a batch): shown, the marks' registers were merged into it
        // already (#applyMarks); waiting for its message, it takes them when shown (#marked).
        // Either way the marks' first revision of it must not replace it.
        if (a.opened.rev === '' && (this.#slots.has(a.opened.logical) || (this.#waiting.rev(a.opened.id) ?? '') !== '')) continue;
        const meta = a.opened.meta as EntryMeta;
        if (a.opened.kind === 'entry' && !this.#mailboxes.has(meta.mailbox)) {
          this.#waiting.hold(a, `mailbox:${meta.mailbox}`);
          continue;
        }
        if (isNew(a) && !present.has(meta.message)) {
          this.#waiting.hold(a, this.#content.docId(meta.message));
          continue;
        }
        this.#waiting.release(a.opened.id);
        this.#apply(a.opened, changes, dirty);
        if (a.opened.kind === 'mailbox') next.push(...this.#waiting.for([`mailbox:${a.opened.logical}`]));
      }
      batch = next;
    }
    this.#sort();
    await this.#persist(dirty, this.#waiting.cursor(this.#lastSeq));
    for (const c of changes.values()) this.emit('change', c);
  }

  /**
   * Message documents have arrived (their ids, as written): show the entries that were
   * waiting for them. Without ids, every waiting entry is checked again.
   */
  contentArrived(docIds?: string[]): Promise<void> {
    if (this.#waiting.size === 0) return Promise.resolve();
    const run = this.#running.then(() => {
      const ready = this.#waiting.for(docIds);
      return ready.length > 0 ? this.#applyReady(ready) : undefined;
    });
    this.#running = run.catch(() => undefined);
    return run;
  }

  /** An entry's meta with what the live marks naming it set merged in. */
  shown(logical: string, meta: EntryMeta): EntryMeta {
    return withMarks(meta, this.#marks.regs(logical));
  }

  /**
   * The entries a marks document makes that the index does not hold yet, as states at no
   * revision (a document is written at an entry's first update of its own). One it holds (its
   * document came first, or the marks are read again) takes their registers like any marked entry.
   */
  #created(opened: OpenedState): OpenedState[] {
    if (opened.kind !== 'marks') return [];
    return createdEntries(opened.meta as MarksMeta)
      .map((c) => ({ id: this.#state.entryId(c.logical), rev: '', kind: 'entry' as const, logical: c.logical, meta: c.meta }))
      // Known already: shown, waiting for its mailbox, or waiting for its message (a
      // consolidation says again what earlier marks made; its own revision may wait too).
      .filter((c) => !this.#slots.has(c.logical) && !this.#pending.has(c.logical) && !this.#waiting.has(c.id));
  }

  #marked(opened: OpenedState): OpenedState {
    const meta = this.shown(opened.logical, opened.meta as EntryMeta);
    return meta === opened.meta ? opened : { ...opened, meta };
  }

  #apply(opened: OpenedState, changes: Map<string, IndexChange>, dirty: Set<string>): void {
    if (opened.kind === 'marks') {
      this.#applyMarks(opened, changes, dirty);
      return;
    }
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
        mbx = { id: opened.id, logical: opened.logical, meta, uidValidity: counters.uidValidity, uidNext: counters.uidNext, highestModseq: counters.highestModseq, entries: new Map() };
        this.#mailboxes.set(opened.logical, mbx);
      }
      mbx.meta = meta;
      const counters = this.#counters.get(opened.logical)!;
      if (counters.state?.rev !== opened.rev) {
        counters.state = { id: opened.id, rev: opened.rev, meta };
        dirty.add(`mbx:${opened.logical}`);
      }
      for (const [key, p] of this.#pending) {
        if (p.meta.mailbox !== opened.logical) continue;
        this.#pending.delete(key);
        this.#applyEntry(mbx, p.id, p.rev, p.logical, p.meta, changes, dirty);
      }
      return;
    }
    const meta = this.#marked(opened).meta as EntryMeta;
    const mbx = this.#mailboxes.get(meta.mailbox);
    if (!mbx) {
      this.#pending.set(opened.logical, { id: opened.id, rev: opened.rev, logical: opened.logical, meta });
      return;
    }
    this.#applyEntry(mbx, opened.id, opened.rev, opened.logical, meta, changes, dirty);
  }

  /**
   * Marks change the entries they name as the entries' own revisions would, at the entry
   * revisions already indexed. An entry not indexed yet takes them when it arrives (#marked).
   */
  #applyMarks(opened: OpenedState, changes: Map<string, IndexChange>, dirty: Set<string>): void {
    const regs = this.#marks.add(opened.id, opened.rev, opened.meta as MarksMeta);
    // The live list goes with the feed position: a restart reads them again (#loadMarks).
    dirty.add('marks');
    for (const [logical, r] of regs) {
      const slot = this.#slots.get(logical);
      const state = slot?.state;
      const mbx = slot && this.#mailboxes.get(slot.mailbox);
      if (!state || !mbx) continue;
      const marked = withMarks(state.meta, r);
      if (marked !== state.meta) this.#applyEntry(mbx, state.id, state.rev, logical, marked, changes, dirty, true);
    }
    // Piling up (replicated ones too, with no write here to start the timer): consolidated once quiet.
    if (this.#consolidation.due) this.#scheduleCatchUp();
  }

  /** `byMarks`: the change is live marks merged into the state held (journaled as such, JournalRow). */
  #applyEntry(mbx: IndexedMailbox, id: string, rev: string, logical: string, meta: EntryMeta, changes: Map<string, IndexChange>, dirty: Set<string>, byMarks = false): void {
    const change = changes.get(mbx.logical) ?? { mailbox: mbx.logical, added: [], changed: [], expunged: [] };
    changes.set(mbx.logical, change);
    let slot = this.#slots.get(logical);
    const expunged = meta.expunged[0];
    if (expunged && meta.moved !== undefined) this.#carries.note(meta, this.#slots.get(meta.moved)?.state?.meta);
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
        if (!expunged && !known) this.#insert(mbx, { id, rev, logical, uid: slot.uid, modseq: slot.modseq, meta });
        else if (known) known.rev = rev;
        if (slot.state?.rev !== rev) {
          slot.state = { id, rev, meta };
          dirty.add(`slot:${logical}`);
        }
        return;
      }
      slot.h = h;
      slot.modseq = ++mbx.highestModseq;
      if (expunged) {
        if (known) change.expunged.push(slot.uid);
      } else if (known) change.changed.push(slot.uid);
      else change.added.push(slot.uid);
    }
    slot.state = { id, rev, meta };
    if (expunged) mbx.entries.delete(slot.uid);
    else this.#insert(mbx, { id, rev, logical, uid: slot.uid, modseq: slot.modseq, meta });
    const counters = this.#counters.get(mbx.logical);
    this.#counters.set(mbx.logical, { ...counters, uidValidity: mbx.uidValidity, uidNext: mbx.uidNext, highestModseq: mbx.highestModseq });
    dirty.add(`mbx:${mbx.logical}`);
    dirty.add(`${byMarks ? 'marked' : 'slot'}:${logical}`);
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

  /**
   * Journal what `dirty` names (index-journal.ts): `mbx:` counters, `slot:` whole slots,
   * `marked:` slots changed only by live marks; with the feed position when given.
   */
  async #persist(dirty: Set<string>, cursor?: number | string): Promise<void> {
    // The live marks changed: their list is written with the feed position, which may lag them.
    if (dirty.delete('marks')) cursor ??= this.#waiting.cursor(this.#lastSeq);
    if (dirty.size === 0 && cursor === undefined) return;
    const counters: Array<[string, MailboxCounters]> = [];
    const slots: Array<[string, EntrySlot, boolean]> = [];
    for (const key of dirty) {
      const sep = key.indexOf(':');
      const [kind, logical] = [key.slice(0, sep), key.slice(sep + 1)];
      if (kind === 'mbx') counters.push([logical, this.#counters.get(logical)!]);
      else if (kind === 'slot') slots.push([logical, this.#slots.get(logical)!, false]);
      else if (!dirty.has(`slot:${logical}`)) slots.push([logical, this.#slots.get(logical)!, true]);
    }
    await this.#journal.write(counters, slots, cursor === undefined ? undefined : { lastSeq: cursor, marks: this.#marks.list() });
  }

  /** Run `fn` after everything queued on the index so far (applies, catch-ups, compaction). */
  #queued<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#running.then(fn);
    this.#running = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }
}
