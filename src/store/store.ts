/**
 * The sealed message store: six databases under one directory.
 *
 *   content/  immutable message and part documents            (replicates)
 *   state/    mutable mailbox and entry documents             (replicates)
 *   keys/     own OpenPGP keys and what we know of others' keys   (replicates)
 *   local/    the device-local UID index, sealed with its own key (never replicates)
 *   outbox/   messages accepted for sending, sealed with the index key (never replicates)
 *   cache/    device-local message summaries, sealed like the index (never replicates;
 *             derived from content, so losing it costs only time)
 *   bodies    a file of whole raw messages sealed like the index, the fast road for
 *             reading a message whole (never replicates; a cache of content, see bodies.ts)
 *
 * Content and state are separate databases so the index follows a feed of small documents
 * only, and so immutable content keeps no revision history.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { WaxsealError } from '../util/errors.js';
import { Hlc } from '../util/hlc.js';
import { withDefaults } from '../util/options.js';
import type { DerivedKeys } from '../secrets/root.js';
import { Bodies } from './bodies.js';
import { ContentRepo, DEFAULT_CONTENT_OPTIONS, type ContentOptions, type SplitMessage } from './content.js';
import { liveFlags, type EntryMeta, type MailboxMeta, type MessageMeta } from './kinds.js';
import { MARKS_MIN, type MarkChange } from './marks.js';
import { openPouch, type PouchDb } from './pouch.js';
import { Sealer, type SealedDoc } from './seal.js';
import { RecordRepo } from './records.js';
import { StateRepo } from './state.js';
import { Summaries, type Summary } from './summaries.js';
import { UidIndex, type IndexedEntry, type IndexedMailbox } from './uid-index.js';

/** State writes between background compactions, and the quiet time before one starts. */
const COMPACT_AFTER = 20_000;
const COMPACT_DELAY_MS = 10_000;

export interface StoreOptions {
  dir: string;
  keys: DerivedKeys;
  /** Device id for edit stamps; random per open when not given. */
  device?: string;
  content?: Partial<ContentOptions>;
  /** State writes between background compactions (default 20,000). */
  compactAfter?: number;
  /** Quiet time after the last write before compacting (default 10 s). */
  compactDelayMs?: number;
  /** Called when a background compaction has finished (for tests and status). */
  onCompacted?: () => void;
  /**
   * Derive a message's summary (the IMAP server's encoded ENVELOPE and BODYSTRUCTURE),
   * kept device-locally so listing a mailbox opens no message document. Injected so the
   * store need not know IMAP; without it no summaries are made at import.
   */
  summarize?: (meta: MessageMeta) => Summary;
  /**
   * Keep whole messages up to this size in the bodies file (default 1 MiB); 0 keeps none
   * (every read then goes to the content documents, as tests of that road want).
   */
  bodiesMaxBytes?: number;
}

const MiB = 1024 * 1024;
const BODIES_MAX_BYTES = MiB;
/** LevelDB memory for the databases that are small or read once at start (see pouch.ts). */
const SMALL_DB = { cacheBytes: MiB, writeBufferBytes: MiB };

export interface ImportItem {
  raw: Buffer;
  flags?: string[];
  /** INTERNALDATE; now when not given. */
  date?: Date;
  /** Deterministic entry key (see NewEntry.key). */
  key?: string;
}

export interface Imported {
  entry: string;
  message: string;
  uid: number | undefined;
}

export interface FlagChange {
  add?: string[];
  remove?: string[];
  /** Replace the whole flag set (IMAP STORE FLAGS). */
  set?: string[];
}

/** The flags `change` turns on or off in `meta`: [flag, new value] for each that changes. */
function flagChanges(meta: EntryMeta, change: FlagChange): Array<[string, boolean]> {
  const current = new Set(liveFlags(meta));
  const target = new Set(change.set ?? current);
  for (const f of change.add ?? []) target.add(f);
  for (const f of change.remove ?? []) target.delete(f);
  const out: Array<[string, boolean]> = [];
  for (const f of new Set([...current, ...target])) if (current.has(f) !== target.has(f)) out.push([f, target.has(f)]);
  return out;
}

/**
 * A store opened with the wrong secret would report every document as tampered with. Ids are
 * keyed too, so no fixed document can be looked up; instead a few existing local documents
 * are opened first: if none opens, the secret is wrong (one damaged document would not fail
 * them all), and that is one clear error before anything is read or written.
 */
async function checkKey(local: PouchDb, sealer: Sealer, dir: string): Promise<void> {
  const res = await local.allDocs({ include_docs: true, limit: 3 });
  if (res.rows.length === 0) return;
  const opens = res.rows.some((row) => {
    try {
      sealer.open(row.doc as unknown as SealedDoc);
      return true;
    } catch {
      return false;
    }
  });
  if (!opens) {
    throw new WaxsealError('EWRONGKEY', `The store at ${dir} was sealed with a different secret; nothing was read or changed`);
  }
}

export class Store {
  readonly content: ContentRepo;
  readonly state: StateRepo;
  readonly index: UidIndex;
  readonly records: RecordRepo;
  /** Device-local: a message is sent from the device that accepted it. */
  readonly outbox: RecordRepo;
  readonly summaries: Summaries;
  readonly #bodies: Bodies | undefined;
  readonly dir: string;
  readonly #dbs: PouchDb[];
  readonly #opts: StoreOptions;

  private constructor(dir: string, dbs: { content: PouchDb; state: PouchDb; local: PouchDb; keys: PouchDb; outbox: PouchDb; cache: PouchDb }, keys: DerivedKeys, opts: StoreOptions) {
    this.dir = dir;
    this.#opts = opts;
    this.#dbs = [dbs.content, dbs.state, dbs.local, dbs.keys, dbs.outbox, dbs.cache];
    const sealer = new Sealer({ sealKey: keys.seal, idKey: keys.id });
    const hlc = new Hlc(opts.device ?? randomBytes(6).toString('hex'));
    const bodiesMax = opts.bodiesMaxBytes ?? BODIES_MAX_BYTES;
    this.#bodies = bodiesMax > 0 ? new Bodies({ path: join(dir, 'bodies'), key: keys.index, maxBytes: bodiesMax }) : undefined;
    this.content = new ContentRepo(dbs.content, sealer, withDefaults('store content', DEFAULT_CONTENT_OPTIONS, opts.content), this.#bodies);
    this.state = new StateRepo(dbs.state, sealer, hlc);
    this.records = new RecordRepo(dbs.keys, sealer, { kinds: ['ownkey', 'peer'], name: 'key' });
    const indexSealer = new Sealer({ sealKey: keys.index, idKey: keys.index, label: 'index entry' });
    this.index = new UidIndex(
      dbs.local,
      indexSealer,
      this.state,
      { has: (keys) => this.content.has(keys), docId: (key) => this.content.messageDocId(key) },
    );
    this.outbox = new RecordRepo(dbs.outbox, indexSealer, { kinds: ['outbox'], name: 'outbox' });
    this.summaries = new Summaries(dbs.cache, new Sealer({ sealKey: keys.index, idKey: keys.index, label: 'summary page' }));
    this.state.shown = (logical, meta) => this.index.shown(logical, meta);
    this.state.onWritten = async (written, origin) => {
      await this.index.applyWritten(written, origin);
      this.#countWrites(written.length);
    };
  }

  static async open(opts: StoreOptions): Promise<Store> {
    const dir = opts.dir;
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const dbs = {
        // No auto-compaction: it rewrites every updated document's history on each write and
        // made a 10,000-message STORE 9x slower; state is compacted in the background instead
        // (content is immutable, one revision per document, nothing to compact).
        // Whole messages are read from the bodies file, so content's block cache can be small.
        content: openPouch(join(dir, 'content'), { revsLimit: 1, autoCompaction: false, cacheBytes: 2 * MiB }),
        state: openPouch(join(dir, 'state'), { revsLimit: 100, autoCompaction: false }),
        local: openPouch(join(dir, 'local'), { revsLimit: 1, autoCompaction: true, ...SMALL_DB }),
        // Few, rarely changed documents: compacting on every write costs nothing here.
        keys: openPouch(join(dir, 'keys'), { revsLimit: 100, autoCompaction: true, ...SMALL_DB }),
        outbox: openPouch(join(dir, 'outbox'), { revsLimit: 1, autoCompaction: true, ...SMALL_DB }),
        cache: openPouch(join(dir, 'cache'), { revsLimit: 1, autoCompaction: true, ...SMALL_DB }),
      };
      await checkKey(dbs.local, new Sealer({ sealKey: opts.keys.index, idKey: opts.keys.index }), dir);
      const store = new Store(dir, dbs, opts.keys, opts);
      await Promise.all([store.index.load(), store.summaries.load(), store.#bodies?.ready()]);
      return store;
    } catch (err) {
      if (err instanceof WaxsealError) throw err;
      const locked = /lock/i.test(String((err as Error)?.message));
      throw new WaxsealError(
        locked ? 'ELOCKED' : 'ESTORE',
        locked ? `The store at ${dir} is in use by another Waxseal process` : `Could not open the store at ${dir}`,
        { cause: err },
      );
    }
  }

  #writesSinceCompaction = 0;
  #compacting: Promise<void> | undefined;
  #compactTimer: NodeJS.Timeout | undefined;

  /**
   * Old revisions of state documents (superseded flag sets) are dropped by a background
   * compaction once COMPACT_AFTER writes have piled up and writing has then paused for a
   * while: PouchDB's compaction misses revisions superseded while it runs, and a burst is
   * the wrong moment anyway. It never blocks a command.
   */
  #countWrites(n: number): void {
    this.#writesSinceCompaction += n;
    if (this.#writesSinceCompaction < (this.#opts.compactAfter ?? COMPACT_AFTER)) return;
    clearTimeout(this.#compactTimer);
    this.#compactTimer = setTimeout(() => this.#compact(), this.#opts.compactDelayMs ?? COMPACT_DELAY_MS);
    this.#compactTimer.unref();
  }

  #compact(): void {
    if (this.#compacting) return;
    this.#writesSinceCompaction = 0;
    this.#compacting = this.#dbs[1]!
      .compact()
      .then(() => this.#opts.onCompacted?.(), () => undefined)
      .finally(() => (this.#compacting = undefined));
  }

  /** The two replicated databases, for the sync layer. The local index is not among them. */
  replicated(): { content: PouchDb; state: PouchDb; keys: PouchDb } {
    return { content: this.#dbs[0]!, state: this.#dbs[1]!, keys: this.#dbs[3]! };
  }

  async close(): Promise<void> {
    clearTimeout(this.#compactTimer);
    await this.index.dispose();
    await this.summaries.close();
    await this.#bodies?.close();
    await this.#compacting;
    await Promise.all(this.#dbs.map((db) => db.close()));
  }

  mailboxes(): IndexedMailbox[] {
    return this.index.mailboxes();
  }

  mailboxByName(name: string): IndexedMailbox | undefined {
    return this.mailboxes().find((m) => m.meta.name[0] === name);
  }

  async createMailbox(name: string, specialUse: string | null = null): Promise<IndexedMailbox> {
    if (this.mailboxByName(name)) throw new WaxsealError('EEXISTS', `Mailbox "${name}" already exists`);
    const prepared = this.state.newMailbox(name, specialUse);
    const logical = prepared.logical;
    await this.state.create([prepared]);
    return this.index.mailbox(logical)!;
  }

  async renameMailbox(logical: string, name: string): Promise<void> {
    await this.state.update<MailboxMeta>('mailbox', [logical], (m, t) => ({ ...m, name: [name, t] }));
  }

  async deleteMailbox(logical: string): Promise<void> {
    await this.state.update<MailboxMeta>('mailbox', [logical], (m, t) => ({ ...m, deleted: [true, t] }));
  }

  /**
   * Store messages in a mailbox: content first, then the entries that point at it, so a
   * crash between the two leaves only unreferenced (invisible) content, never a dangling
   * entry. One bulk write for each, however many messages.
   */
  async import(mailbox: string, items: ImportItem[]): Promise<Imported[]> {
    if (!this.index.mailbox(mailbox)) throw new WaxsealError('ENOMAILBOX', 'No such mailbox');
    const split: SplitMessage[] = items.map((item) => this.content.split(item.raw));
    const contentWritten = this.content.write(this.content.seal(split));
    // Sealing the entries overlaps the content write; writing them waits for it.
    const entries = this.state.newEntries(
      items.map((item, i) => ({
        mailbox,
        message: split[i]!.key,
        size: item.raw.length,
        date: (item.date ?? new Date()).getTime(),
        flags: item.flags ?? [],
        ...(item.key !== undefined ? { key: item.key } : {}),
      })),
    );
    await contentWritten;
    // The bodies file is a cache: filled in the background, never waited for.
    void this.#bodies?.add(split.map((m, i) => [m.key, items[i]!.raw]));
    // Summaries are derived data: remembered now, written in the background with others.
    const summarize = this.#opts.summarize;
    if (summarize) this.summaries.add(split.map((m) => [m.key, summarize(m.meta)]));
    await this.state.create(entries);
    return entries.map((e, i) => ({ entry: e.logical, message: split[i]!.key, uid: this.index.entry(e.logical)?.uid }));
  }

  async setSubscribed(logical: string, subscribed: boolean): Promise<void> {
    await this.state.update<MailboxMeta>('mailbox', [logical], (m, t) => (m.subscribed[0] === subscribed ? undefined : { ...m, subscribed: [subscribed, t] }));
  }

  /**
   * New entries in `mailbox` for the messages of `entries` (IMAP COPY): the content is
   * shared, not rewritten; flags and INTERNALDATE come along. Returns the new entries' ids.
   */
  /** Copy entries into a mailbox as new entries; many at once are made by marks (marks.ts). */
  async copyEntries(entries: IndexedEntry[], mailbox: string): Promise<Imported[]> {
    if (!this.index.mailbox(mailbox)) throw new WaxsealError('ENOMAILBOX', 'No such mailbox');
    const items = entries.map((e) => ({ mailbox, message: e.meta.message, size: e.meta.size, date: e.meta.date, flags: liveFlags(e.meta) }));
    let logicals: string[];
    if (items.length >= MARKS_MIN) {
      logicals = items.map(() => randomUUID());
      await this.state.mark(new Map(logicals.map((l, i) => [l, { create: items[i]! }])));
    } else {
      const prepared = this.state.newEntries(items);
      await this.state.create(prepared);
      logicals = prepared.map((p) => p.logical);
    }
    return logicals.map((l, i) => ({ entry: l, message: entries[i]!.meta.message, uid: this.index.entry(l)?.uid }));
  }

  /** A device-local setting, sealed with the index key (never replicated). */
  async getLocal<T>(name: string): Promise<T | undefined> {
    return this.index.getSetting<T>(name);
  }

  async putLocal(name: string, value: unknown): Promise<void> {
    await this.index.putSetting(name, value);
  }

  /** What the index holds for these entries: their metas and revisions, to write without reading. */
  #known(entries: string[]): Map<string, { id: string; rev: string; meta: EntryMeta }> {
    const out = new Map<string, { id: string; rev: string; meta: EntryMeta }>();
    for (const logical of entries) {
      const e = this.index.entry(logical);
      if (e) out.set(logical, { id: e.id, rev: e.rev, meta: e.meta });
    }
    return out;
  }

  /**
   * Change flags. Many entries at once (STORE 1:* +FLAGS) go as marks (#change), against the
   * flags the index shows.
   */
  setFlags(entries: string[], change: FlagChange, origin?: unknown): Promise<number> {
    return this.#change(
      entries,
      (meta) => {
        const sets = flagChanges(meta, change);
        return sets.length > 0 ? { flags: sets } : undefined;
      },
      (each, known) =>
        this.state.update<EntryMeta>(
          'entry',
          each,
          (m, t) => {
            const sets = flagChanges(m, change);
            if (sets.length === 0) return undefined;
            const flags = { ...m.flags };
            for (const [f, value] of sets) flags[f] = [value, t];
            return { ...m, flags: Object.fromEntries(Object.entries(flags).sort(([a], [b]) => (a < b ? -1 : 1))) };
          },
          origin,
          known,
        ),
      origin,
    );
  }

  /**
   * Expunge entries; `movedTo` (parallel to `entries`) names the entries a MOVE copied them
   * to, so a flag change made meanwhile on another device follows the message (state.ts).
   * Many at once go as marks (#change).
   */
  expunge(entries: string[], opts: { movedTo?: string[] } = {}): Promise<number> {
    const to = new Map(opts.movedTo?.map((m, i) => [entries[i]!, m]));
    const moved = (logical: string) => (to.has(logical) ? { moved: to.get(logical)! } : {});
    return this.#change(
      entries,
      (meta, logical) => (meta.expunged[0] ? undefined : { expunge: moved(logical) }),
      (each, known) =>
        this.state.update<EntryMeta>('entry', each, (m, t, logical) => (m.expunged[0] ? undefined : { ...m, expunged: [true, t], ...moved(logical) }), undefined, known),
    );
  }

  /**
   * A change to many entries at once goes as marks documents (marks.ts), computed against
   * what the index shows: a few documents instead of a revision of every entry. Fewer, and
   * entries the index does not hold, go as entry revisions (`each`).
   */
  async #change(
    entries: string[],
    markOf: (meta: EntryMeta, logical: string) => MarkChange | undefined,
    each: (entries: string[], known: Map<string, { id: string; rev: string; meta: EntryMeta }>) => Promise<number>,
    origin?: unknown,
  ): Promise<number> {
    const known = this.#known(entries);
    if (known.size >= MARKS_MIN) {
      const marks = new Map<string, MarkChange>();
      for (const [logical, k] of known) {
        const change = markOf(k.meta, logical);
        if (change) marks.set(logical, change);
      }
      if (marks.size >= MARKS_MIN) {
        await this.state.mark(marks, origin);
        const rest = entries.filter((l) => !known.has(l));
        return marks.size + (rest.length > 0 ? await each(rest, known) : 0);
      }
    }
    return each(entries, known);
  }

  /**
   * The summary of each message, deriving (and remembering) those not summarised yet from
   * their message documents; undefined for all when no summarizer was given.
   */
  async summarise(keys: string[]): Promise<Array<Summary | undefined>> {
    const summarize = this.#opts.summarize;
    if (!summarize) return keys.map(() => undefined);
    const missing = keys.filter((k) => !this.summaries.get(k));
    if (missing.length > 0) {
      await this.content.prefetch(missing);
      const made: Array<[string, Summary]> = [];
      for (const key of new Set(missing)) made.push([key, summarize((await this.content.message(key)).meta)]);
      this.summaries.add(made);
    }
    return keys.map((k) => this.summaries.get(k));
  }

  /** The raw message of an entry, or a byte range of it. */
  read(entry: IndexedEntry, start?: number, end?: number): Promise<Buffer> {
    return this.content.read(entry.meta.message, start, end);
  }
}
