/**
 * The composition root: one unlocked profile, its store, and the servers built on it. Later
 * issues add the IMAP and SMTP servers, the upstream fetcher, the outbox and sync here; the
 * status this reports is what `waxseal status` and the tray app show.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Endpoint } from '../config/profile.js';
import { startImapServer, type ImapServer } from '../imap/server.js';
import { StoreBackend } from '../mail/imap-backend.js';
import { Store } from '../store/store.js';
import { WaxsealError } from '../util/errors.js';
import { ensureCertificate, type ProfileCertificate } from './certificate.js';
import { readJson, startControl, type ControlServer } from './control.js';
import { checkKeysRequest, keysAction } from './keys.js';
import { openKeyring } from './keyring.js';
import { Keyring } from '../mail/keyring.js';
import type { UnlockedProfile } from './profile.js';
import { SyncController, type SyncStatus } from '../sync/controller.js';
import { withdrawPairing } from '../sync/pairing.js';
import { checkSyncRequest, configuredServer, pairDevice, setServer, type SyncRequest, type SyncResponse } from './sync.js';

export interface DaemonOptions {
  unlocked: UnlockedProfile;
  imap?: Endpoint;
  imaps?: Endpoint;
  smtp?: Endpoint;
  offline?: boolean;
  /** Replication tuning (tests shorten the backoff so a restarted server is found quickly). */
  sync?: { backoffMinMs?: number; backoffMaxMs?: number; batchSize?: number };
}

export interface DaemonStatus {
  version: string;
  pid: number;
  email: string;
  dataDir: string;
  secretStore: string;
  offline: boolean;
  startedAt: string;
  mailboxes: Array<{ name: string; specialUse: string | null; messages: number; unseen: number }>;
  services: Record<string, { state: 'running' | 'not-built' | 'stopped'; host?: string; port?: number }>;
  /** Device sync: off (no server set), offline (paused by offline mode), or the controller's view. */
  sync: SyncStatus | { state: 'off' } | { state: 'offline'; server: string };
}

export const VERSION = '0.1.0';

export interface Credentials {
  user: string;
  password: string;
  imap: Endpoint;
  smtp: Endpoint;
  /** Implicit-TLS IMAP, and the certificate both IMAP ports present (STARTTLS too). */
  imaps?: Endpoint;
  certificate?: { file: string; sha256: string };
}

/** The local login password: random per profile and device, kept sealed in the local store. */
export async function localPassword(store: Store): Promise<string> {
  const existing = await store.getLocal<string>('imap-password');
  if (existing) return existing;
  const password = randomBytes(18).toString('base64url');
  await store.putLocal('imap-password', password);
  return password;
}

async function listenOrExplain<T>(what: string, at: Endpoint, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      throw new WaxsealError('EADDRINUSE', `${what} port ${at.host}:${at.port} is already in use (another Waxseal, or another program); choose another with --${what.toLowerCase()} HOST:PORT (port 0 picks a free one)`);
    }
    if (code === 'EADDRNOTAVAIL' || code === 'EACCES') {
      throw new WaxsealError(code, `${what} cannot listen on ${at.host}:${at.port} (${code})`);
    }
    throw err;
  }
}

export class Daemon extends EventEmitter {
  readonly store: Store;
  readonly keyring: Keyring;
  readonly #opts: DaemonOptions;
  readonly #startedAt = new Date();
  #control: ControlServer | undefined;
  #imap: ImapServer | undefined;
  #password = '';
  #certificate: ProfileCertificate | undefined;
  #sync: SyncController | undefined;
  readonly #pairTimers = new Set<NodeJS.Timeout>();

  private constructor(store: Store, opts: DaemonOptions) {
    super();
    this.store = store;
    this.keyring = openKeyring(store, opts.unlocked.profile);
    this.#opts = opts;
  }

  static async start(opts: DaemonOptions): Promise<Daemon> {
    const { paths, keys, profile } = opts.unlocked;
    const store = await Store.open({ dir: paths.store, keys, device: profile.device });
    const daemon = new Daemon(store, opts);
    try {
      daemon.#password = await localPassword(store);
      daemon.#certificate = await ensureCertificate(store, paths.dir);
      await daemon.#ensureOwnKey();
      const imapAt = opts.imap ?? profile.imap;
      const imapsAt = opts.imaps ?? profile.imaps;
      if (imapsAt.host !== imapAt.host) throw new WaxsealError('EUSAGE', 'IMAP and implicit-TLS IMAP must listen on the same host');
      daemon.#imap = await listenOrExplain('IMAP', imapAt, () =>
        startImapServer({
          backend: new StoreBackend({ store, user: profile.email, password: () => daemon.#password }),
          host: imapAt.host,
          port: imapAt.port,
          tlsPort: imapsAt.port,
          tls: { key: daemon.#certificate!.key, cert: daemon.#certificate!.cert },
          maxMessageBytes: 64 * 1024 * 1024,
          preAuthTimeoutMs: 60_000,
          idleTimeoutMs: 30 * 60_000,
          log: (event, fields) => daemon.emit('log', event, fields),
        }),
      );
      daemon.#control = await startControl(paths, {
        'GET /v1/status': async () => daemon.status(),
        'GET /v1/credentials': async () => daemon.credentials(),
        'POST /v1/keys': async (req) => keysAction(daemon.keyring, checkKeysRequest(await readJson(req))),
        'POST /v1/sync': async (req) => daemon.syncAction(checkSyncRequest(await readJson(req))),
      });
      await daemon.#startSync();
    } catch (err) {
      await daemon.#sync?.stop();
      await daemon.#imap?.close();
      await store.close();
      throw err;
    }
    return daemon;
  }

  get #offline(): boolean {
    return this.#opts.offline ?? this.#opts.unlocked.profile.offline;
  }

  /** (Re)start replication with the configured server; offline mode leaves it paused. */
  async #startSync(): Promise<void> {
    await this.#sync?.stop();
    this.#sync = undefined;
    const server = await configuredServer({ unlocked: this.#opts.unlocked, store: this.store });
    if (!server || this.#offline) return;
    this.#sync = new SyncController({
      store: this.store,
      keys: this.#opts.unlocked.keys,
      server,
      mergeRecord: (a, b, kind) => (kind === 'ownkey' ? Keyring.mergeOwn(a as never, b as never) : Keyring.mergePeer(a as never, b as never)),
      log: (event, fields) => this.emit('log', event, fields),
      ...this.#opts.sync,
    });
    // Keys replicated from another device (a revocation, a new key) are used at once.
    this.#sync.on('records', () => this.keyring.reload());
    await this.#sync.start();
  }

  /** The controller, while replication runs (for tests and the tray app's progress). */
  get sync(): SyncController | undefined {
    return this.#sync;
  }

  async syncAction(req: SyncRequest): Promise<SyncResponse> {
    const ctx = { unlocked: this.#opts.unlocked, store: this.store };
    if (req.action === 'set') {
      const res = await setServer({ ...ctx, url: req.url, password: req.password });
      await this.#startSync();
      return res;
    }
    const res = await pairDevice({ ...ctx, ttlMinutes: req.ttlMinutes });
    // The joiner refuses an expired code on its own; removing the offer as well leaves
    // nothing on the server to attack at leisure.
    const server = await configuredServer(ctx);
    const timer = setTimeout(() => {
      this.#pairTimers.delete(timer);
      if (server) void withdrawPairing({ server, id: res.id }).catch(() => undefined);
    }, Date.parse(res.expires) - Date.now());
    timer.unref();
    this.#pairTimers.add(timer);
    return res;
  }

  /** A profile without a key of its own (made before keys existed, or one revoked) gets one. */
  async #ensureOwnKey(): Promise<void> {
    const { profile } = this.#opts.unlocked;
    try {
      await this.keyring.signingKey(profile.email);
    } catch {
      const key = await this.keyring.generate({ email: profile.email, ...(profile.name ? { name: profile.name } : {}) });
      this.emit('log', 'key.generated', { fingerprint: key.fingerprint });
    }
  }

  get controlPort(): number | undefined {
    return this.#control?.port;
  }

  credentials(): Credentials {
    const { profile } = this.#opts.unlocked;
    const imap = this.#opts.imap ?? profile.imap;
    return {
      user: profile.email,
      password: this.#password,
      imap: { host: imap.host, port: this.#imap?.port ?? imap.port },
      smtp: this.#opts.smtp ?? profile.smtp,
      ...(this.#imap?.tlsPort ? { imaps: { host: imap.host, port: this.#imap.tlsPort } } : {}),
      ...(this.#certificate ? { certificate: { file: this.#certificate.file, sha256: this.#certificate.fingerprint } } : {}),
    };
  }

  status(): DaemonStatus {
    const { profile, paths } = this.#opts.unlocked;
    return {
      version: VERSION,
      pid: process.pid,
      email: profile.email,
      dataDir: paths.dir,
      secretStore: profile.secretStore,
      offline: this.#offline,
      startedAt: this.#startedAt.toISOString(),
      mailboxes: this.store.mailboxes().map((m) => {
        let unseen = 0;
        for (const e of m.entries.values()) if (!e.meta.flags['\\Seen']?.[0]) unseen++;
        return { name: m.meta.name[0], specialUse: m.meta.specialUse, messages: m.entries.size, unseen };
      }),
      services: {
        control: { state: 'running', host: '127.0.0.1', port: this.#control?.port ?? 0 },
        imap: this.#imap ? { state: 'running', host: (this.#opts.imap ?? this.#opts.unlocked.profile.imap).host, port: this.#imap.port } : { state: 'stopped' },
        imaps: this.#imap?.tlsPort ? { state: 'running', host: (this.#opts.imap ?? this.#opts.unlocked.profile.imap).host, port: this.#imap.tlsPort } : { state: 'stopped' },
        smtp: { state: 'not-built' },
      },
      sync: this.#sync ? this.#sync.status() : profile.sync.couchdb ? { state: 'offline', server: profile.sync.couchdb } : { state: 'off' },
    };
  }

  async stop(): Promise<void> {
    for (const t of this.#pairTimers) clearTimeout(t);
    await this.#sync?.stop();
    this.#sync = undefined;
    await this.#imap?.close();
    this.#imap = undefined;
    await this.#control?.close();
    this.#control = undefined;
    await this.store.close();
    this.emit('stopped');
  }
}
