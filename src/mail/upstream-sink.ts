/**
 * The upstream fetcher's port over the store and the keyring: provider folders become our
 * mailboxes (special-use folders map to ours whatever the provider calls them), messages go
 * through the one ingest path, and checkpoints live in the device-local store.
 *
 * Each stored message's entry key is derived from our mailbox and the digest of the bytes
 * the provider delivered, so fetching a message again — after a crash between store and
 * checkpoint, or after the provider changed UIDVALIDITY — finds the entry already there.
 * (Two byte-identical messages in one folder are thus one message here.)
 */
import { createHash } from 'node:crypto';
import type { Store } from '../store/store.js';
import type { Checkpoint, Downloaded, Opened, RemoteFolder, UpstreamCounters, UpstreamSink } from '../upstream/port.js';
import { openItems, storeOpened } from './ingest.js';
import type { Keyring } from './keyring.js';

export interface UpstreamSinkOptions {
  store: Store;
  keyring: Keyring;
  /** Names the provider account in checkpoint keys: another account starts afresh. */
  account: string;
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

export class StoreUpstreamSink implements UpstreamSink {
  readonly #store: Store;
  readonly #keyring: Keyring;
  readonly #prefix: string;

  constructor(opts: UpstreamSinkOptions) {
    this.#store = opts.store;
    this.#keyring = opts.keyring;
    this.#prefix = `upstream/${sha256(opts.account).slice(0, 16)}`;
  }

  async mailboxFor(folder: RemoteFolder): Promise<string | null> {
    if (folder.path.toUpperCase() === 'INBOX') return 'INBOX';
    if (folder.specialUse) {
      const ours = this.#store.mailboxes().find((m) => m.meta.specialUse === folder.specialUse);
      if (ours) return ours.meta.name[0];
    }
    const parts = folder.path.split(folder.delimiter || '/').filter((p) => p !== '');
    const name = parts.join('/');
    if (name === '') return null;
    // Superiors first, as IMAP CREATE does.
    for (let i = 1; i <= parts.length; i++) {
      const n = parts.slice(0, i).join('/');
      if (!this.#store.mailboxByName(n)) await this.#store.createMailbox(n, i === parts.length ? folder.specialUse : null);
    }
    return name;
  }

  async open(items: Downloaded[]): Promise<Opened[]> {
    const results = await openItems(this.#keyring, items);
    return items.map((item, i) => ({
      uid: item.uid,
      raw: results[i]!.raw,
      digest: sha256(item.raw),
      flags: item.flags,
      date: item.date,
      encryption: results[i]!.encryption,
    }));
  }

  async store(mailbox: string, items: Opened[]): Promise<void> {
    if (items.length === 0) return;
    const logical = this.#store.mailboxByName(mailbox)?.logical ?? mailbox;
    const ingestItems = items.map((o) => ({
      raw: o.raw,
      flags: o.flags,
      ...(o.date ? { date: o.date } : {}),
      key: `upstream:${sha256(`${logical}\0${o.digest}`)}`,
    }));
    await storeOpened({ store: this.#store, keyring: this.#keyring, mailbox }, ingestItems);
  }

  getCheckpoint(folder: string): Promise<Checkpoint | undefined> {
    return this.#store.getLocal<Checkpoint>(`${this.#prefix}/folder/${folder}`);
  }

  putCheckpoint(folder: string, checkpoint: Checkpoint | null): Promise<void> {
    return this.#store.putLocal(`${this.#prefix}/folder/${folder}`, checkpoint ?? undefined);
  }

  async getCounters(): Promise<UpstreamCounters> {
    return (await this.#store.getLocal<UpstreamCounters>(`${this.#prefix}/counters`)) ?? { fetched: 0, undecryptable: 0 };
  }

  putCounters(counters: UpstreamCounters): Promise<void> {
    return this.#store.putLocal(`${this.#prefix}/counters`, counters);
  }
}
