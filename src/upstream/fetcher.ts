/**
 * The upstream fetcher: keeps the user's store in step with the provider.
 *
 * Two connections per session. The "sync" connection lists the folders, fetches their
 * history (UIDs below the UIDNEXT seen when a folder was first met, oldest first) and polls
 * the other folders every `pollSeconds`. The "push" connection sits in IDLE on INBOX and
 * fetches new mail as soon as EXISTS arrives — also during the first sync, so new mail is
 * there first and the history fills in behind it. A lost connection ends the session; the
 * next one starts after a backoff (doubling up to a limit) and resumes from the checkpoints.
 * Going offline closes both connections; going online starts a session again.
 */
import type { ImapFlow } from 'imapflow';
import { WaxsealError, errorMessage } from '../util/errors.js';
import { withDefaults } from '../util/options.js';
import { connectImap } from './connection.js';
import { listFolders } from './folders.js';
import { DEFAULT_BATCH, listRange, prune, runFolder, type BatchDone, type BatchLimits, type Sized } from './pipeline.js';
import type { AccountSettings, Checkpoint, RemoteFolder, UpstreamCounters, UpstreamSink, UpstreamState, UpstreamStatus } from './port.js';
import { Progress } from './progress.js';

export interface FetcherOptions {
  account: AccountSettings;
  password: string;
  sink: UpstreamSink;
  offline: boolean;
  /** First retry after a failure, doubled on each failure up to maxBackoffMs. */
  backoffMs: number;
  maxBackoffMs: number;
  limits: BatchLimits;
  onStatus: (status: UpstreamStatus) => void;
  log: (event: string, fields: Record<string, unknown>) => void;
}

const DEFAULTS: FetcherOptions = {
  account: undefined as unknown as AccountSettings,
  password: '',
  sink: undefined as unknown as UpstreamSink,
  offline: false,
  backoffMs: 1000,
  maxBackoffMs: 5 * 60_000,
  limits: DEFAULT_BATCH,
  onStatus: () => undefined,
  log: () => undefined,
};

interface Folder {
  remote: RemoteFolder;
  mailbox: string;
  cp: Checkpoint | undefined;
  /** History still to fetch, listed when the session started. */
  pending: Sized[];
  done: number;
  total: number;
  /** Checkpoint writes in order, one at a time. */
  writing: Promise<void>;
}

/** A sleep that stop/offline/"sync now" can cut short. */
class Waker {
  #wake: (() => void) | undefined;
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(t);
        if (self.#wake === done) self.#wake = undefined;
        resolve();
      }
      this.#wake = done;
    });
  }
  wake(): void {
    this.#wake?.();
  }
}

const isInbox = (f: RemoteFolder) => f.path.toUpperCase() === 'INBOX';

export class Fetcher {
  readonly #o: FetcherOptions;
  #state: UpstreamState = 'stopped';
  #offline: boolean;
  #stopping = false;
  #loop: Promise<void> | undefined;
  #clients: ImapFlow[] = [];
  readonly #waker = new Waker();
  #progress = new Progress();
  #counters: UpstreamCounters = { fetched: 0, undecryptable: 0 };
  #folders = new Map<string, Folder>();
  #firstSync = true;
  #lastError: string | null = null;
  #retryAt: Date | null = null;

  constructor(opts: Partial<FetcherOptions> & Pick<FetcherOptions, 'account' | 'password' | 'sink'>) {
    this.#o = withDefaults('Fetcher', DEFAULTS, opts);
    this.#offline = this.#o.offline;
  }

  start(): void {
    if (this.#loop) return;
    this.#stopping = false;
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#waker.wake();
    await this.#closeClients();
    await this.#loop;
    this.#loop = undefined;
    this.#setState('stopped');
  }

  /** Offline: no connection to the provider at all until set back online. */
  async setOffline(offline: boolean): Promise<void> {
    if (this.#offline === offline) return;
    this.#offline = offline;
    this.#o.log('upstream.offline', { offline });
    if (offline) await this.#closeClients();
    this.#waker.wake();
  }

  /** Check every folder now instead of at the next poll. */
  syncNow(): void {
    this.#waker.wake();
  }

  status(): UpstreamStatus {
    return {
      state: this.#state,
      firstSync: this.#firstSync,
      progress: this.#progress.snapshot(),
      counters: { ...this.#counters },
      folders: [...this.#folders.values()].map((f) => ({ path: f.remote.path, mailbox: f.mailbox, done: f.done, total: f.total })),
      lastError: this.#lastError,
      retryAt: this.#retryAt?.toISOString() ?? null,
    };
  }

  #setState(state: UpstreamState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#o.onStatus(this.status());
  }

  async #run(): Promise<void> {
    this.#counters = await this.#o.sink.getCounters();
    let delay = this.#o.backoffMs;
    while (!this.#stopping) {
      if (this.#offline) {
        this.#setState('offline');
        await this.#waker.wait(60_000);
        continue;
      }
      try {
        this.#setState('connecting');
        await this.#session(() => (delay = this.#o.backoffMs));
      } catch (err) {
        if (this.#stopping || this.#offline) continue;
        this.#lastError = errorMessage(err);
        this.#retryAt = new Date(Date.now() + delay);
        this.#o.log('upstream.retry', { reason: this.#lastError, inMs: delay });
        this.#setState('backoff');
        await this.#waker.wait(delay);
        this.#retryAt = null;
        delay = Math.min(delay * 2, this.#o.maxBackoffMs);
      }
    }
  }

  async #connect(): Promise<ImapFlow> {
    const client = await connectImap({ server: this.#o.account.imap, user: this.#o.account.user, password: this.#o.password });
    this.#clients.push(client);
    if (this.#stopping || this.#offline) {
      await this.#closeClients();
      throw new WaxsealError('ESTOPPED', 'stopped');
    }
    return client;
  }

  async #closeClients(): Promise<void> {
    const clients = this.#clients.splice(0);
    await Promise.all(
      clients.map(async (c) => {
        const timer = setTimeout(() => c.close(), 1000);
        await c.logout().catch(() => undefined);
        clearTimeout(timer);
        c.close();
      }),
    );
  }

  /** One connected session; returns when stopping or going offline, throws when a connection is lost. */
  async #session(connected: () => void): Promise<void> {
    const sync = await this.#connect();
    const push = await this.#connect();
    let lost!: (err: Error) => void;
    const closed = new Promise<never>((_, reject) => (lost = reject));
    closed.catch(() => undefined);
    for (const c of [sync, push]) {
      c.on('close', () => lost(new WaxsealError('ECLOSED', 'The connection to the provider was closed')));
      c.on('error', (err: Error) => lost(err));
    }
    connected();
    this.#lastError = null;
    const alive = () => !this.#stopping && !this.#offline && sync.usable && push.usable;
    try {
      this.#setState('syncing');
      await Promise.race([closed, this.#prepare(sync, true)]);
      await Promise.race([closed, Promise.all([this.#pushLoop(push, alive), this.#syncLoop(sync, alive)])]);
    } finally {
      await this.#closeClients();
    }
  }

  /**
   * Stage "list": folders, our mailboxes for them, their checkpoints and the history left.
   * At a session's start every folder whose history is unfinished is listed; on later polls
   * only folders that appeared meanwhile.
   */
  async #prepare(client: ImapFlow, initial: boolean): Promise<void> {
    const exclude = this.#o.account.afterIngest.action === 'move' ? [this.#o.account.afterIngest.folder] : [];
    const remote = await listFolders(client, { exclude });
    if (initial) this.#progress = new Progress();
    for (const r of remote) {
      let f = this.#folders.get(r.path);
      if (f && !initial) continue;
      if (!f) {
        const mailbox = await this.#o.sink.mailboxFor(r);
        if (mailbox === null) continue;
        f = { remote: r, mailbox, cp: await this.#o.sink.getCheckpoint(r.path), pending: [], done: 0, total: 0, writing: Promise.resolve() };
        this.#folders.set(r.path, f);
      }
      f.pending = [];
      if (!f.cp || f.cp.historyNext < f.cp.boundary) {
        try {
          await this.#select(client, f);
          f.pending = await listRange(client, f.cp!.historyNext, f.cp!.boundary);
        } catch (err) {
          if (!client.usable) throw err;
          this.#o.log('upstream.folder.skipped', { reason: errorMessage(err) });
        }
      }
      f.done = 0;
      f.total = f.pending.length;
      this.#progress.addTotal(f.pending.length);
    }
    this.#firstSync = [...this.#folders.values()].some((x) => x.pending.length > 0);
    this.#o.onStatus(this.status());
  }

  /** SELECT the folder; a new UIDVALIDITY starts it over (the store's keys drop what we have). */
  async #select(client: ImapFlow, f: Folder): Promise<void> {
    const box = await client.mailboxOpen(f.remote.path);
    const uidValidity = Number(box.uidValidity);
    if (f.cp && f.cp.uidValidity === uidValidity) return;
    if (f.cp) this.#o.log('upstream.uidvalidity', { folder: f.remote.path, was: f.cp.uidValidity, now: uidValidity });
    const fresh = !f.cp;
    // First contact: everything there now is history. After a UIDVALIDITY change every UID is
    // new, and all of it is fetched again as new mail; nothing is stored twice.
    f.cp = fresh
      ? { uidValidity, boundary: box.uidNext, historyNext: 1, liveNext: box.uidNext }
      : { uidValidity, boundary: 1, historyNext: 1, liveNext: 1 };
    await this.#saveCheckpoint(f);
  }

  #saveCheckpoint(f: Folder): Promise<void> {
    const cp = { ...f.cp! };
    f.writing = f.writing.then(() => this.#o.sink.putCheckpoint(f.remote.path, cp));
    return f.writing;
  }

  async #batchDone(f: Folder, done: BatchDone, cursor: 'historyNext' | 'liveNext', uidValidity: number): Promise<void> {
    const failed = done.opened.filter((o) => o.encryption === 'failed').length;
    if (f.cp && f.cp.uidValidity === uidValidity) {
      f.cp[cursor] = Math.max(f.cp[cursor], done.uids[done.uids.length - 1]! + 1);
      await this.#saveCheckpoint(f);
    }
    this.#counters = { fetched: this.#counters.fetched + done.opened.length, undecryptable: this.#counters.undecryptable + failed };
    await this.#o.sink.putCounters(this.#counters);
    this.#progress.add(done.uids.length, done.bytes);
    this.#o.onStatus(this.status());
  }

  async #fetch(client: ImapFlow, f: Folder, items: Sized[], cursor: 'historyNext' | 'liveNext', alive: () => boolean): Promise<void> {
    const uidValidity = f.cp!.uidValidity;
    await runFolder({
      client,
      mailbox: f.mailbox,
      sink: this.#o.sink,
      // The user's after-ingest choice is about new mail, which arrives in INBOX; the other
      // folders (Sent, Drafts, the user's own) are left as the provider has them.
      policy: isInbox(f.remote) ? this.#o.account.afterIngest : { action: 'leave' },
      items,
      limits: this.#o.limits,
      stopped: () => !alive(),
      onBatch: async (done) => {
        if (cursor === 'historyNext') f.done += done.uids.length;
        await this.#batchDone(f, done, cursor, uidValidity);
      },
    });
  }

  /** New mail in a selected folder: everything from the live cursor on. */
  async #fetchNew(client: ImapFlow, f: Folder, alive: () => boolean): Promise<void> {
    const cp = f.cp!;
    const items = await listRange(client, Math.max(cp.liveNext, cp.boundary));
    if (items.length === 0) return;
    this.#progress.addTotal(items.length);
    await this.#fetch(client, f, items, 'liveNext', alive);
  }

  /** INBOX in IDLE: fetch what is new, idle until EXISTS, again. */
  async #pushLoop(client: ImapFlow, alive: () => boolean): Promise<void> {
    const inbox = [...this.#folders.values()].find((f) => isInbox(f.remote));
    if (!inbox) return;
    // EXISTS can arrive during a FETCH too; counting them means none is missed.
    let seen = 0;
    let onExists: (() => void) | undefined;
    client.on('exists', () => {
      seen++;
      onExists?.();
    });
    await this.#select(client, inbox);
    while (alive()) {
      const before = seen;
      await this.#fetchNew(client, inbox, alive);
      if (!alive()) return;
      if (seen !== before) continue;
      const exists = new Promise<void>((resolve) => (onExists = resolve));
      // idle() resolves only when IDLE ends; the FETCH that follows EXISTS is what ends it.
      const idling = client.idle().catch(() => undefined);
      await Promise.race([exists, idling]);
      onExists = undefined;
    }
  }

  /** History of every folder, then polling of the folders IDLE does not watch. */
  async #syncLoop(client: ImapFlow, alive: () => boolean): Promise<void> {
    for (;;) {
      let anyHistory = false;
      for (const f of this.#folders.values()) {
        if (!alive()) return;
        try {
          if (f.pending.length > 0) {
            anyHistory = true;
            await this.#select(client, f);
            await this.#fetch(client, f, f.pending, 'historyNext', alive);
            f.pending = [];
            if (alive() && f.cp) {
              f.cp.historyNext = Math.max(f.cp.historyNext, f.cp.boundary);
              await this.#saveCheckpoint(f);
            }
          }
          if (!isInbox(f.remote) && (await this.#changed(client, f))) {
            await this.#select(client, f);
            await this.#fetchNew(client, f, alive);
          }
          const policy = this.#o.account.afterIngest;
          if (policy.action === 'delete' && f.cp && isInbox(f.remote)) {
            await this.#select(client, f);
            const cp = f.cp;
            const n = await prune(client, policy.days, (uid) => uid < cp.historyNext || (uid >= cp.boundary && uid < cp.liveNext));
            if (n > 0) this.#o.log('upstream.pruned', { folder: f.remote.path, messages: n });
          }
        } catch (err) {
          if (!client.usable || !alive()) throw err;
          this.#o.log('upstream.folder.failed', { folder: f.remote.path, reason: errorMessage(err) });
        }
      }
      if (!alive()) return;
      if (anyHistory || this.#firstSync) {
        this.#firstSync = false;
        this.#o.log('upstream.synced', { messages: this.#progress.done });
      }
      this.#setState('idle');
      this.#o.onStatus(this.status());
      await this.#waker.wait(this.#o.account.pollSeconds * 1000);
      if (!alive()) return;
      await this.#prepare(client, false);
    }
  }

  /** STATUS before SELECT: most polls find nothing new and cost one round trip per folder. */
  async #changed(client: ImapFlow, f: Folder): Promise<boolean> {
    const s = await client.status(f.remote.path, { uidNext: true, uidValidity: true });
    if (!s || !f.cp) return true;
    return Number(s.uidValidity) !== f.cp.uidValidity || (s.uidNext ?? 0) > Math.max(f.cp.liveNext, f.cp.boundary);
  }
}
