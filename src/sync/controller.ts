/**
 * Continuous two-way replication of the three sealed databases with one CouchDB server.
 *
 * Six PouchDB replications (push and pull for content, state and keys), each retrying with
 * exponential backoff when the server goes away, and resuming from its checkpoint when it
 * comes back. Pulled documents pass through the door (door.ts); what they change reaches
 * the UID index, and through it the IMAP sessions, as soon as a batch is written. The
 * device-local database never replicates.
 */
import { EventEmitter } from 'node:events';
import type { DerivedKeys } from '../secrets/root.js';
import { PouchDB, type PouchDb } from '../store/pouch.js';
import type { RecordKind } from '../store/records.js';
import { Sealer } from '../store/seal.js';
import { openedState } from '../store/state.js';
import type { Store } from '../store/store.js';
import { errorMessage } from '../util/errors.js';
import { guardedTarget, type Accepted, type Refusal } from './door.js';
import { REPLICATED, remoteDbName, type ReplicatedDb } from './names.js';
import { checkServer, ensureDb, remoteDb, type RemoteServer } from './remote.js';

export type SyncState = 'starting' | 'in-sync' | 'pending' | 'offline' | 'error';

export interface SyncStatus {
  state: SyncState;
  server: string;
  /** Changes not yet replicated, both ways (an estimate from feed positions). */
  pending: number;
  /** Entries that arrived before their message, not shown until it does. */
  waitingForContent: number;
  /** While the first replication runs: documents pulled, of how many on the server. */
  firstReplication?: { done: number; total: number };
  error?: string;
  lastSyncAt?: string;
  /** Documents refused because they were damaged, moved or replayed (newest last, at most 50). */
  refused: Refusal[];
  refusedTotal: number;
}

export interface SyncControllerOptions {
  store: Store;
  keys: DerivedKeys;
  server: RemoteServer;
  /** Merge two versions of a key record (OpenPGP's packet merge lives above the sync layer). */
  mergeRecord: (a: unknown, b: unknown, kind: RecordKind) => unknown | Promise<unknown>;
  log?: (event: string, fields: Record<string, unknown>) => void;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  batchSize?: number;
}

type Direction = 'push' | 'pull';
interface Rep {
  db: ReplicatedDb;
  dir: Direction;
  handle?: ReturnType<typeof PouchDB.replicate>;
  phase: 'starting' | 'active' | 'idle' | 'error';
  written: number;
  checkpoint?: number;
  error?: string;
}

const MAX_REFUSALS = 50;
const REFRESH_MS = 1000;
const FIRST_DONE = 'sync-first-done';

function seqNumber(seq: unknown): number {
  const n = Number.parseInt(String(seq), 10);
  return Number.isFinite(n) ? n : 0;
}

export class SyncController extends EventEmitter {
  readonly #opts: SyncControllerOptions;
  readonly #sealer: Sealer;
  readonly #reps: Rep[];
  readonly #remotes = new Map<ReplicatedDb, PouchDb>();
  readonly #refused: Refusal[] = [];
  #refusedTotal = 0;
  #stopped = false;
  #connectError: string | undefined;
  #connectTimer: NodeJS.Timeout | undefined;
  #firstDone = false;
  #firstTotal = 0;
  #sourceSeq = new Map<string, number>();
  #lastSyncAt: string | undefined;
  #refreshTimer: NodeJS.Timeout | undefined;
  readonly #onDamaged = (d: { id: string; error: unknown }) => this.#refuse({ db: 'state', id: d.id, rev: '', reason: errorMessage(d.error), at: new Date().toISOString() });
  readonly #onReplayed = (d: { id: string }) => this.#refuse({ db: 'state', id: d.id, rev: '', reason: 'an older state was served as the current one', at: new Date().toISOString() });

  constructor(opts: SyncControllerOptions) {
    super();
    this.#opts = opts;
    this.#sealer = new Sealer({ sealKey: opts.keys.seal, idKey: opts.keys.id });
    this.#reps = REPLICATED.flatMap((db) => (['push', 'pull'] as const).map((dir) => ({ db, dir, phase: 'starting' as const, written: 0 })));
    opts.store.index.on('damaged', this.#onDamaged);
    opts.store.index.on('replayed', this.#onReplayed);
  }

  /** Start replicating; never throws: an unreachable server is retried with backoff. */
  async start(): Promise<void> {
    this.#firstDone = Boolean(await this.#opts.store.getLocal<string>(FIRST_DONE));
    void this.#connect(this.#opts.backoffMinMs ?? 1000);
  }

  async #connect(delay: number): Promise<void> {
    if (this.#stopped) return;
    const { server } = this.#opts;
    try {
      await checkServer(server);
      for (const db of REPLICATED) await ensureDb(server, remoteDbName(this.#opts.keys.id, db));
    } catch (err) {
      this.#connectError = errorMessage(err);
      this.#log('sync.error', { message: this.#connectError, retryInMs: delay });
      this.#connectTimer = setTimeout(() => void this.#connect(Math.min(delay * 2, this.#opts.backoffMaxMs ?? 60_000)), delay);
      this.#connectTimer.unref();
      this.emit('status');
      return;
    }
    if (this.#stopped) return;
    this.#connectError = undefined;
    for (const db of REPLICATED) this.#remotes.set(db, remoteDb(server, remoteDbName(this.#opts.keys.id, db)));
    if (!this.#firstDone) {
      const infos = await Promise.all([...this.#remotes.values()].map((r) => r.info().catch(() => ({ doc_count: 0 }))));
      this.#firstTotal = infos.reduce((n, i) => n + i.doc_count, 0);
    }
    for (const rep of this.#reps) this.#startRep(rep);
    this.#log('sync.started', { server: server.url });
  }

  #startRep(rep: Rep): void {
    const local = this.#opts.store.replicated()[rep.db];
    const remote = this.#remotes.get(rep.db)!;
    const min = this.#opts.backoffMinMs ?? 1000;
    const max = this.#opts.backoffMaxMs ?? 60_000;
    const options = {
      live: true,
      retry: true,
      batch_size: this.#opts.batchSize ?? 200,
      batches_limit: 4,
      heartbeat: 10_000,
      back_off_function: (prev: number) => (prev ? Math.min(prev * 2, max) : min),
    };
    const target =
      rep.dir === 'pull' ? guardedTarget({ db: local, name: rep.db, sealer: this.#sealer, onRefused: (r) => this.#refuse(r), onAccepted: (docs) => this.#accepted(rep.db, docs) }) : remote;
    const handle = PouchDB.replicate(rep.dir === 'pull' ? quietInfo(remote) : local, target, options);
    rep.handle = handle;
    handle.on('change', (info) => void this.#changed(rep, info as { docs_written: number; docs?: Array<{ _id: string }> }));
    handle.on('active', () => this.#phase(rep, 'active'));
    handle.on('paused', (err) => this.#phase(rep, err ? 'error' : 'idle', err));
    handle.on('checkpoint', (c) => {
      const seq = (c as { checkpoint?: unknown }).checkpoint;
      if (seq !== undefined) rep.checkpoint = seqNumber(seq);
    });
    handle.on('denied', (err) => this.#phase(rep, 'error', err));
    handle.on('error', (err) => this.#phase(rep, 'error', err));
  }

  /** What the door opened, passed on so that the store does not read and open it again. */
  #accepted(db: ReplicatedDb, docs: Accepted[]): void {
    const { index, content } = this.#opts.store;
    if (db === 'state') {
      index.handOver(docs.map((d) => openedState(d.id, d.rev, d.opened)));
    } else if (db === 'content') {
      content.arrived(docs.filter((d) => d.opened.kind === 'message').map((d) => d.opened.logical));
    }
  }

  async #changed(rep: Rep, info: { docs_written: number; docs?: Array<{ _id: string }> }): Promise<void> {
    rep.written = info.docs_written;
    if (rep.dir === 'pull') {
      const { index, records } = this.#opts.store;
      try {
        if (rep.db === 'state') await index.catchUp();
        else if (rep.db === 'content') await index.contentArrived((info.docs ?? []).map((d) => d._id));
        else {
          for (const doc of info.docs ?? []) await records.resolve(doc._id, this.#opts.mergeRecord);
          this.emit('records');
        }
      } catch (err) {
        this.#log('sync.apply.failed', { db: rep.db, message: errorMessage(err) });
      }
    }
    this.#refresh();
    this.emit('status');
  }

  #phase(rep: Rep, phase: Rep['phase'], err?: unknown): void {
    rep.phase = phase;
    if (phase === 'error') {
      rep.error = describe(err);
      this.#log('sync.error', { db: rep.db, direction: rep.dir, message: rep.error });
    } else rep.error = undefined;
    if (phase === 'idle') {
      this.#lastSyncAt = new Date().toISOString();
      // Caught up: whatever the source holds now is what the next pending count starts from.
      const source = rep.dir === 'push' ? this.#opts.store.replicated()[rep.db] : this.#remotes.get(rep.db);
      void source?.info().then((i) => (rep.checkpoint = seqNumber(i.update_seq)), () => undefined);
      // A safety net under the per-batch hand-over: caught up, nothing should still wait.
      if (rep.dir === 'pull' && this.#opts.store.index.waitingForContent > 0) void this.#opts.store.index.contentArrived().catch(() => undefined);
      if (!this.#firstDone && this.#reps.every((r) => r.dir === 'push' || r.phase === 'idle')) {
        this.#firstDone = true;
        void this.#opts.store.putLocal(FIRST_DONE, this.#opts.server.url).catch(() => undefined);
      }
    }
    this.#refresh();
    this.emit('status');
  }

  /**
   * Feed positions of the sources, for the pending count: at most once a second, as asking
   * after every batch took a tenth of a first replication's time.
   */
  #refresh(): void {
    if (this.#refreshTimer || this.#stopped) return;
    this.#refreshTimer = setTimeout(() => {
      void Promise.all(
        this.#reps.map(async (rep) => {
          const source = rep.dir === 'push' ? this.#opts.store.replicated()[rep.db] : this.#remotes.get(rep.db);
          const info = await source?.info().catch(() => undefined);
          if (info) this.#sourceSeq.set(`${rep.db}:${rep.dir}`, seqNumber(info.update_seq));
        }),
      ).finally(() => {
        this.#refreshTimer = undefined;
        this.emit('status');
      });
    }, REFRESH_MS);
    this.#refreshTimer.unref();
  }

  #refuse(r: Refusal): void {
    this.#refusedTotal++;
    this.#refused.push(r);
    if (this.#refused.length > MAX_REFUSALS) this.#refused.shift();
    this.#log('sync.refused', { db: r.db, id: r.id, reason: r.reason });
    this.emit('refused', r);
  }

  #log(event: string, fields: Record<string, unknown>): void {
    this.#opts.log?.(event, fields);
  }

  status(): SyncStatus {
    let pending = 0;
    for (const rep of this.#reps) {
      if (rep.phase === 'idle' || rep.phase === 'starting') continue;
      pending += Math.max(0, (this.#sourceSeq.get(`${rep.db}:${rep.dir}`) ?? 0) - (rep.checkpoint ?? 0));
    }
    const waitingForContent = this.#opts.store.index.waitingForContent;
    const failing = this.#reps.find((r) => r.phase === 'error');
    const error = this.#connectError ?? failing?.error;
    const busy = this.#reps.some((r) => r.phase !== 'idle') || waitingForContent > 0;
    const state: SyncState = this.#stopped ? 'offline' : error ? 'error' : this.#reps.every((r) => r.phase === 'starting') ? 'starting' : busy ? 'pending' : 'in-sync';
    const pulled = this.#reps.filter((r) => r.dir === 'pull').reduce((n, r) => n + r.written, 0);
    return {
      state,
      server: this.#opts.server.url,
      pending,
      waitingForContent,
      ...(!this.#firstDone && this.#firstTotal > 0 ? { firstReplication: { done: Math.min(pulled, this.#firstTotal), total: this.#firstTotal } } : {}),
      ...(error ? { error } : {}),
      ...(this.#lastSyncAt ? { lastSyncAt: this.#lastSyncAt } : {}),
      refused: [...this.#refused],
      refusedTotal: this.#refusedTotal,
    };
  }

  /** Resolves once every replication is idle (caught up) or `timeoutMs` passes; for tests and join. */
  async idle(timeoutMs = 60_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const s = this.status();
      if (s.state === 'in-sync') return true;
      await new Promise((resolve) => {
        const t = setTimeout(resolve, 200);
        this.once('status', () => {
          clearTimeout(t);
          resolve(undefined);
        });
      });
    }
    return false;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#refreshTimer);
    this.#opts.store.index.off('damaged', this.#onDamaged);
    this.#opts.store.index.off('replayed', this.#onReplayed);
    const handles = this.#reps.map((r) => r.handle).filter((h) => h !== undefined);
    for (const h of handles) h.cancel();
    await Promise.all(handles.map((h) => Promise.resolve(h).catch(() => undefined)));
    await Promise.all([...this.#remotes.values()].map((r) => r.close().catch(() => undefined)));
  }
}

/**
 * The remote as a replication source, with an info() that cannot reject: PouchDB's replicator
 * calls the source's info() after each batch without handling a failure, so a server going
 * away at that moment became an unhandled rejection, which ends a Node process.
 */
function quietInfo(db: PouchDb): PouchDb {
  const info = () => db.info().catch(() => ({ doc_count: 0, update_seq: 0 }));
  return new Proxy(db, {
    get(target, prop) {
      if (prop === 'info') return info;
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** A replication error in words; PouchDB's errors are objects of several shapes. */
function describe(err: unknown): string {
  const e = err as { status?: number; message?: string; reason?: string; name?: string; code?: string };
  if (e?.status === 401 || e?.status === 403) return 'the server refused the credentials';
  if (e?.code === 'ECONNREFUSED' || /ECONNREFUSED|fetch failed|ECONNRESET|socket hang up/i.test(String(e?.message))) return 'the server cannot be reached; retrying';
  return e?.reason ?? e?.message ?? e?.name ?? String(err);
}
