/**
 * The IMAP backend port served from the sealed store: mailboxes are store mailboxes, UIDs and
 * MODSEQs come from the device-local index, message bytes and cached ENVELOPE/BODYSTRUCTURE
 * from the content repository. Every change, whoever made it (another session, sync, the
 * upstream fetcher), reaches open mailboxes through the index's change events.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import type { ImapAccount, ImapBackend, MailboxChange, MailboxInfo, MailboxSnapshot, MailboxStatus, MessageRecord, OpenMailbox } from '../imap/backend.js';
import { ImapError, type SearchKey, type Section, type StoreMode } from '../imap/types.js';
import { filterHeader, fromStored, sectionRange } from '../mime/section.js';
import { encodeBodyStructure, encodeEnvelope } from '../imap/wire/structures.js';
import type { Envelope } from '../model/message.js';
import { liveFlags, type MessageMeta } from '../store/kinds.js';
import type { Store } from '../store/store.js';
import type { IndexChange, IndexedEntry, IndexedMailbox } from '../store/uid-index.js';
import { searchMessages } from './search.js';
import { sortMessages, type SortableMessage, type SortCriterion } from './sort.js';
import { parseReferences, threadMessages, type ThreadableMessage } from './thread.js';
import type { RecentSubmissions } from './recent-sent.js';
import type { ThreadTree } from '../imap/wire/encode.js';

const SYSTEM_FLAGS = ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft'];

const SUMMARY_ENVELOPE = 0;
const SUMMARY_BODYSTRUCTURE = 1;

/**
 * A message's summary for the store to keep (StoreOptions.summarize): its ENVELOPE and
 * BODYSTRUCTURE already in wire form, so FETCH of them neither opens the message document
 * nor encodes anything. BODY (rarely asked for) is left to the message document.
 */
export function summarizeForImap(meta: MessageMeta): string[] {
  return [encodeEnvelope(meta.envelope!), encodeBodyStructure(meta.body!, true)];
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

export class StoreBackend implements ImapBackend {
  readonly #store: Store;
  readonly #user: string;
  readonly #password: () => string;

  readonly #recent: RecentSubmissions | undefined;

  /** `recent`: messages submitted lately, so a client's APPEND of one to Sent is not a second copy. */
  constructor(opts: { store: Store; user: string; password: () => string; recent?: RecentSubmissions }) {
    this.#store = opts.store;
    this.#user = opts.user.toLowerCase();
    this.#password = opts.password;
    this.#recent = opts.recent;
  }

  async login(user: string, password: string): Promise<ImapAccount | null> {
    // Compare digests so the comparison takes the same time whatever the lengths.
    const okUser = timingSafeEqual(digest(user.toLowerCase()), digest(this.#user));
    const okPass = timingSafeEqual(digest(password), digest(this.#password()));
    return okUser && okPass ? new StoreAccount(this.#store, this.#user, this.#recent) : null;
  }
}

/** IMAP names use "/" between levels; INBOX is case-insensitive. */
function normalise(name: string): string {
  return /^inbox$/i.test(name) ? 'INBOX' : name;
}

function validName(name: string): void {
  if (name === '' || name.startsWith('/') || name.endsWith('/') || name.includes('//') || /[\0\r\n*%]/.test(name)) {
    throw new ImapError('NO', `"${name}" is not a valid mailbox name`, 'CANNOT');
  }
}

class StoreAccount implements ImapAccount {
  readonly user: string;
  readonly #store: Store;
  readonly #recent: RecentSubmissions | undefined;

  constructor(store: Store, user: string, recent?: RecentSubmissions) {
    this.#store = store;
    this.user = user;
    this.#recent = recent;
  }

  #find(name: string): IndexedMailbox {
    const m = this.#store.mailboxByName(normalise(name));
    if (!m) throw new ImapError('NO', `Mailbox ${name} does not exist`, 'NONEXISTENT');
    return m;
  }

  /** INBOX first, then by name: the index's own order. */
  async list(): Promise<MailboxInfo[]> {
    return this.#store.mailboxes().map((m) => ({ name: m.meta.name[0], specialUse: m.meta.specialUse, subscribed: m.meta.subscribed[0] }));
  }

  async create(name: string, specialUse: string | null = null): Promise<void> {
    name = normalise(name);
    validName(name);
    if (this.#store.mailboxByName(name)) throw new ImapError('NO', `Mailbox ${name} already exists`, 'ALREADYEXISTS');
    // RFC 3501 CREATE: superior names are created as needed.
    const levels = name.split('/');
    for (let i = 1; i < levels.length; i++) {
      const parent = levels.slice(0, i).join('/');
      if (!this.#store.mailboxByName(parent)) await this.#store.createMailbox(parent);
    }
    await this.#store.createMailbox(name, specialUse);
  }

  async delete(name: string): Promise<void> {
    if (normalise(name) === 'INBOX') throw new ImapError('NO', 'INBOX cannot be deleted', 'CANNOT');
    const m = this.#find(name);
    await this.#store.expunge([...m.entries.values()].map((e) => e.logical));
    await this.#store.deleteMailbox(m.logical);
  }

  async rename(from: string, to: string): Promise<void> {
    to = normalise(to);
    validName(to);
    const source = this.#find(from);
    if (this.#store.mailboxByName(to)) throw new ImapError('NO', `Mailbox ${to} already exists`, 'ALREADYEXISTS');
    if (source.meta.name[0] === 'INBOX') {
      // RFC 3501: renaming INBOX moves its messages to the new name and leaves INBOX empty.
      await this.create(to);
      const entries = [...source.entries.values()];
      await this.#store.copyEntries(entries, this.#find(to).logical);
      await this.#store.expunge(entries.map((e) => e.logical));
      return;
    }
    const prefix = `${source.meta.name[0]}/`;
    const children = this.#store.mailboxes().filter((m) => m.meta.name[0].startsWith(prefix));
    await this.#store.renameMailbox(source.logical, to);
    for (const child of children) await this.#store.renameMailbox(child.logical, `${to}/${child.meta.name[0].slice(prefix.length)}`);
  }

  async subscribe(name: string, subscribed: boolean): Promise<void> {
    const m = this.#store.mailboxByName(normalise(name));
    if (!m) {
      if (subscribed) throw new ImapError('NO', `Mailbox ${name} does not exist`, 'NONEXISTENT');
      return;
    }
    await this.#store.setSubscribed(m.logical, subscribed);
  }

  async status(name: string): Promise<MailboxStatus> {
    const m = this.#find(name);
    let unseen = 0;
    let size = 0;
    for (const e of m.entries.values()) {
      if (!e.meta.flags['\\Seen']?.[0]) unseen++;
      size += e.meta.size;
    }
    return { messages: m.entries.size, recent: 0, uidNext: m.uidNext, uidValidity: m.uidValidity, unseen, highestModseq: m.highestModseq, size };
  }

  async open(name: string, opts: { readOnly: boolean }): Promise<OpenMailbox> {
    return new StoreMailbox(this.#store, this.#find(name), opts.readOnly);
  }

  async append(name: string, raw: Buffer, opts: { flags: string[]; date?: Date }): Promise<{ uidValidity: number; uid: number }> {
    const m = this.#find(name);
    // A client's own copy of a message it just sent through us: stored under the key of the
    // copy Waxseal keeps, so Sent holds it once (the first of the two to arrive stays).
    const key = m.meta.specialUse === '\\Sent' ? this.#recent?.entryKeyFor(raw) : undefined;
    const [imported] = await this.#store.import(m.logical, [{ raw, flags: opts.flags, ...(opts.date ? { date: opts.date } : {}), ...(key ? { key } : {}) }]);
    return { uidValidity: m.uidValidity, uid: imported!.uid! };
  }

  async close(): Promise<void> {}
}

function record(e: IndexedEntry): MessageRecord {
  return { uid: e.uid, flags: liveFlags(e.meta), modseq: e.modseq, internalDate: new Date(e.meta.date), size: e.meta.size };
}

class StoreMailbox implements OpenMailbox {
  readonly name: string;
  readonly readOnly: boolean;
  readonly #store: Store;
  readonly #mbx: IndexedMailbox;
  readonly #listeners = new Set<(c: MailboxChange) => void>();
  readonly #onIndex: (c: IndexChange) => void;

  constructor(store: Store, mbx: IndexedMailbox, readOnly: boolean) {
    this.#store = store;
    this.#mbx = mbx;
    this.name = mbx.meta.name[0];
    this.readOnly = readOnly;
    this.#onIndex = (c) => {
      if (c.mailbox !== mbx.logical || this.#listeners.size === 0) return;
      const pick = (uids: number[]) => uids.map((u) => mbx.entries.get(u)).filter((e): e is IndexedEntry => !!e).map(record);
      const change: MailboxChange = {
        added: pick(c.added),
        updated: pick(c.changed),
        expunged: c.expunged,
        uidNext: mbx.uidNext,
        highestModseq: mbx.highestModseq,
        ...(c.origin !== undefined ? { origin: c.origin } : {}),
      };
      for (const l of this.#listeners) l(change);
    };
    store.index.on('change', this.#onIndex);
  }

  snapshot(): MailboxSnapshot {
    const messages = [...this.#mbx.entries.values()].map(record);
    const flags = new Set(SYSTEM_FLAGS);
    for (const m of messages) for (const f of m.flags) flags.add(f);
    return { uidValidity: this.#mbx.uidValidity, uidNext: this.#mbx.uidNext, highestModseq: this.#mbx.highestModseq, messages, flags: [...flags] };
  }

  onChange(listener: (change: MailboxChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #entry(uid: number): IndexedEntry {
    const e = this.#mbx.entries.get(uid);
    if (!e) throw new ImapError('NO', `Message UID ${uid} has been expunged`, 'EXPUNGEISSUED');
    return e;
  }

  async prefetch(uids: number[], what: 'structure' | 'content' | 'whole'): Promise<void> {
    const keys = uids.map((u) => this.#mbx.entries.get(u)?.meta.message).filter((k): k is string => !!k);
    if (what === 'structure') await this.#store.summarise(keys);
    else await this.#store.content.prefetch(keys, { whole: what === 'whole' });
  }

  async structure(uid: number, item: 'ENVELOPE' | 'BODYSTRUCTURE' | 'BODY'): Promise<string> {
    const key = this.#entry(uid).meta.message;
    if (item !== 'BODY') {
      const summary = this.#store.summaries.get(key) ?? (await this.#store.summarise([key]))[0];
      if (summary) return summary[item === 'ENVELOPE' ? SUMMARY_ENVELOPE : SUMMARY_BODYSTRUCTURE]!;
    }
    const { meta } = await this.#store.content.message(key);
    return item === 'ENVELOPE' ? encodeEnvelope(meta.envelope!) : encodeBodyStructure(meta.body!, item === 'BODYSTRUCTURE');
  }

  async envelope(uid: number): Promise<Envelope> {
    const { meta } = await this.#store.content.message(this.#entry(uid).meta.message);
    return meta.envelope!;
  }

  async section(uid: number, section: Section, partial?: { start: number; length: number }): Promise<Buffer> {
    const key = this.#entry(uid).meta.message;
    if (section.path.length === 0 && !section.text) {
      // The whole message: no need for its MIME tree (nor to open its message document).
      return partial ? this.#store.content.read(key, partial.start, partial.start + partial.length) : this.#store.content.read(key);
    }
    const { meta } = await this.#store.content.message(key);
    const range = sectionRange(fromStored(meta.tree), { path: section.path, ...(section.text ? { text: section.text } : {}) });
    if (!range) return Buffer.alloc(0);
    if (section.text === 'HEADER.FIELDS' || section.text === 'HEADER.FIELDS.NOT') {
      const header = await this.#store.content.read(key, range.start, range.end);
      const filtered = filterHeader(header, section.fields ?? [], section.text === 'HEADER.FIELDS.NOT');
      return partial ? filtered.subarray(partial.start, partial.start + partial.length) : filtered;
    }
    if (!partial) return this.#store.content.read(key, range.start, range.end);
    const start = Math.min(range.start + partial.start, range.end);
    return this.#store.content.read(key, start, Math.min(start + partial.length, range.end));
  }

  async search(key: SearchKey, uids: number[]): Promise<number[]> {
    const messages = uids
      .map((uid) => this.#mbx.entries.get(uid))
      .filter((e): e is IndexedEntry => !!e)
      .map((e) => ({ ...record(e), raw: () => this.#store.read(e) }));
    // `*` in a UID set means the mailbox's highest UID, not the highest among the candidates.
    const maxUid = [...this.#mbx.entries.keys()].at(-1) ?? 0;
    return searchMessages(key, messages, { maxUid });
  }

  async sort(criteria: Array<{ key: string; reverse: boolean }>, uids: number[]): Promise<number[]> {
    await this.prefetch(uids, 'content');
    const messages: SortableMessage[] = [];
    for (const uid of uids) {
      const e = this.#mbx.entries.get(uid);
      if (e) messages.push({ uid, internalDate: new Date(e.meta.date), size: e.meta.size, envelope: await this.envelope(uid) });
    }
    return sortMessages(criteria as SortCriterion[], messages);
  }

  async thread(algorithm: 'REFERENCES' | 'ORDEREDSUBJECT', uids: number[]): Promise<ThreadTree[]> {
    await this.prefetch(uids, 'content');
    const messages: ThreadableMessage[] = [];
    for (const uid of uids) {
      const e = this.#mbx.entries.get(uid);
      if (!e) continue;
      const header = await this.section(uid, { path: [], text: 'HEADER' });
      messages.push({ uid, internalDate: new Date(e.meta.date), envelope: await this.envelope(uid), references: algorithm === 'REFERENCES' ? parseReferences(header) : [] });
    }
    return threadMessages(algorithm, messages);
  }

  async store(uids: number[], mode: StoreMode, flags: string[], opts: { unchangedSince?: number; origin?: unknown }): Promise<{ failed: number[] }> {
    const failed: number[] = [];
    const targets: string[] = [];
    for (const uid of uids) {
      const e = this.#mbx.entries.get(uid);
      if (!e) continue;
      if (opts.unchangedSince !== undefined && e.modseq > opts.unchangedSince) failed.push(uid);
      else targets.push(e.logical);
    }
    const change = mode === 'set' ? { set: flags } : mode === 'add' ? { add: flags } : { remove: flags };
    if (targets.length > 0) await this.#store.setFlags(targets, change, opts.origin);
    return { failed };
  }

  async expunge(uids?: number[]): Promise<number[]> {
    const only = uids ? new Set(uids) : undefined;
    const doomed = [...this.#mbx.entries.values()].filter((e) => e.meta.flags['\\Deleted']?.[0] && (!only || only.has(e.uid)));
    await this.#store.expunge(doomed.map((e) => e.logical));
    return doomed.map((e) => e.uid);
  }

  async copy(uids: number[], dest: string): Promise<{ uidValidity: number; mapping: Array<[number, number]> }> {
    const target = this.#store.mailboxByName(normalise(dest));
    if (!target) throw new ImapError('NO', `Mailbox ${dest} does not exist`, 'TRYCREATE');
    const entries = uids.map((u) => this.#mbx.entries.get(u)).filter((e): e is IndexedEntry => !!e);
    const copied = await this.#store.copyEntries(entries, target.logical);
    return { uidValidity: target.uidValidity, mapping: copied.map((c, i) => [entries[i]!.uid, c.uid!]) };
  }

  /**
   * Copy, then expunge the originals: a crash in between duplicates, never loses. Each
   * original remembers its copy, so flags another device changes meanwhile follow it.
   */
  async move(uids: number[], dest: string): Promise<{ uidValidity: number; mapping: Array<[number, number]> }> {
    const target = this.#store.mailboxByName(normalise(dest));
    if (!target) throw new ImapError('NO', `Mailbox ${dest} does not exist`, 'TRYCREATE');
    const entries = uids.map((u) => this.#mbx.entries.get(u)).filter((e): e is IndexedEntry => !!e);
    const copied = await this.#store.copyEntries(entries, target.logical);
    await this.#store.expunge(entries.map((e) => e.logical), { movedTo: copied.map((c) => c.entry) });
    return { uidValidity: target.uidValidity, mapping: copied.map((c, i) => [entries[i]!.uid, c.uid!]) };
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    this.#store.index.off('change', this.#onIndex);
  }
}
