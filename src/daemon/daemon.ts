/**
 * The composition root: one unlocked profile, its store, and what runs on it — the IMAP
 * server, sending (sending.ts: SMTP, outbox, relay), the upstream fetcher, device sync and
 * the control API. The status it reports is what `waxseal status` and the tray app show.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Endpoint } from '../config/profile.js';
import { startImapServer, type ImapServer } from '../imap/server.js';
import { StoreBackend, summarizeForImap } from '../mail/imap-backend.js';
import { Store } from '../store/store.js';
import { WaxsealError, errorMessage } from '../util/errors.js';
import { ensureCertificate, type ProfileCertificate } from './certificate.js';
import { readJson, startControl, type ControlServer } from './control.js';
import { listenOrExplain } from './listen.js';
import { Sending, type SendingStatus } from './sending.js';
import { registryDir } from './registry.js';
import { ingest } from '../mail/ingest.js';
import type { SmtpRelayOptions } from '../outbox/relay.js';
import { checkKeysRequest, keysAction } from './keys.js';
import { openKeyring } from './keyring.js';
import { RecentSubmissions } from '../mail/recent-sent.js';
import { Keyring } from '../mail/keyring.js';
import type { UnlockedProfile } from './profile.js';
import type { ProfileConfig } from '../config/profile.js';
import type { Keychain } from '../secrets/keychain.js';
import { StoreUpstreamSink } from '../mail/upstream-sink.js';
import { Fetcher } from '../upstream/fetcher.js';
import type { UpstreamStatus } from '../upstream/port.js';
import { checkAccountRequest, readUpstreamPassword, setAccount } from './account.js';
import { SyncController, type SyncStatus } from '../sync/controller.js';
import { withdrawPairing } from '../sync/pairing.js';
import { checkSyncRequest, configuredServer, pairDevice, setServer, type SyncRequest, type SyncResponse } from './sync.js';

export interface DaemonOptions {
  unlocked: UnlockedProfile;
  imap?: Endpoint;
  imaps?: Endpoint;
  smtp?: Endpoint;
  smtps?: Endpoint;
  offline?: boolean;
  /** The provider's submission server for tests; normally it comes from the profile's account. */
  upstreamSmtp?: SmtpRelayOptions;
  /** Where running daemons find each other (default: the user's runtime dir). */
  registryDir?: string;
  /** Outbox timing (tests shorten the retry delay). */
  outbox?: { retryBaseMs?: number; maxAgeMs?: number };
  /** Where the provider password may be kept (profiles whose secret is in the keychain). */
  keychain?: Keychain;
  /** Upstream retry timing (tests make it short). */
  upstreamBackoffMs?: number;
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
  services: Record<string, { state: 'running' | 'not-built' | 'stopped'; host?: string; port?: number; note?: string }>;
  outbox?: SendingStatus;
  /** The provider account (no password) and what fetching from it is doing. */
  account: { user: string; imap: string; smtp: string; afterIngest: string } | null;
  upstream: UpstreamStatus | null;
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
  smtps?: Endpoint;
  certificate?: { file: string; sha256: string };
}

/** The local login password: random per profile and device, kept sealed in the local store. */
export async function localPassword(store: Store): Promise<string> {
  const existing = await store.getLocal<string>('imap-password');
  if (existing) return existing;
  // Letters and digits only (~143 bits): a password that begins with "-" or holds "_" is
  // read as an option by command-line clients (swaks did) or trips up a config file.
  const password = randomBytes(32).toString('base64').replace(/[^A-Za-z0-9]/g, '').slice(0, 24);
  await store.putLocal('imap-password', password);
  return password;
}

export class Daemon extends EventEmitter {
  readonly store: Store;
  readonly keyring: Keyring;
  readonly #opts: DaemonOptions;
  readonly #startedAt = new Date();
  #control: ControlServer | undefined;
  #imap: ImapServer | undefined;
  #sending: Sending | undefined;
  #password = '';
  #certificate: ProfileCertificate | undefined;
  #profile: ProfileConfig;
  #offline: boolean;
  #fetcher: Fetcher | undefined;
  #upstreamNote: string | undefined;
  #sync: SyncController | undefined;
  readonly #pairTimers = new Set<NodeJS.Timeout>();
  /** Messages submitted lately: IMAP recognises a client's own Sent copy of one. */
  readonly #recent = new RecentSubmissions();

  private constructor(store: Store, opts: DaemonOptions) {
    super();
    this.store = store;
    this.#opts = opts;
    this.#profile = opts.unlocked.profile;
    this.#offline = opts.offline || opts.unlocked.profile.offline;
    this.keyring = openKeyring(store, opts.unlocked.profile, { offline: () => this.#offline });
  }

  static async start(opts: DaemonOptions): Promise<Daemon> {
    const { paths, keys, profile } = opts.unlocked;
    const store = await Store.open({ dir: paths.store, keys, device: profile.device, summarize: summarizeForImap });
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
          backend: new StoreBackend({ store, user: profile.email, password: () => daemon.#password, recent: daemon.#recent }),
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
      daemon.#sending = await Sending.start({
        store,
        keyring: daemon.keyring,
        dataDir: paths.dir,
        profile: () => daemon.#profile,
        offline: () => daemon.#offline,
        password: () => daemon.#password,
        recent: daemon.#recent,
        tls: { key: daemon.#certificate.key, cert: daemon.#certificate.cert },
        smtp: opts.smtp ?? profile.smtp,
        smtps: opts.smtps ?? profile.smtps,
        registryDir: opts.registryDir ?? registryDir(),
        log: (event, fields) => daemon.emit('log', event, fields),
        ...(opts.upstreamSmtp ? { upstreamSmtp: opts.upstreamSmtp } : {}),
        ...(opts.outbox ? { outbox: opts.outbox } : {}),
        ...(opts.keychain ? { keychain: opts.keychain } : {}),
      });
      daemon.#control = await startControl(paths, {
        'GET /v1/status': async () => ({ ...daemon.status(), outbox: await daemon.outboxStatus() }),
        'GET /v1/credentials': async () => daemon.credentials(),
        'POST /v1/keys': async (req) => keysAction(daemon.keyring, checkKeysRequest(await readJson(req))),
        // Mail from another local profile's daemon (the embedded default's local delivery).
        'POST /v1/deliver': async (req) => {
          const body = (await readJson(req)) as { raw?: unknown };
          if (typeof body.raw !== 'string') throw new WaxsealError('EUSAGE', 'deliver needs the message as base64 "raw"');
          const [out] = await ingest({ store, keyring: daemon.keyring }, [{ raw: Buffer.from(body.raw, 'base64') }]);
          return { stored: true, encryption: out!.encryption, signature: out!.signature };
        },
        'POST /v1/account': async (req) => daemon.setAccount(checkAccountRequest(await readJson(req))),
        'POST /v1/offline': async (req) => daemon.setOffline(checkOfflineRequest(await readJson(req))),
        'POST /v1/sync': async (req) => daemon.syncAction(checkSyncRequest(await readJson(req))),
      });
      await daemon.#startFetcher();
      await daemon.#startSync();
    } catch (err) {
      await daemon.#sync?.stop();
      await daemon.#sending?.stop();
      await daemon.#fetcher?.stop();
      await daemon.#imap?.close();
      await store.close();
      throw err;
    }
    return daemon;
  }

  /** The outbox as it is now (queued count, last error), read fresh. */
  async outboxStatus(): Promise<DaemonStatus['outbox']> {
    return this.#sending?.status();
  }

  /** The fetcher runs whenever an account is set; offline, it makes no connection. */
  async #startFetcher(): Promise<void> {
    const account = this.#profile.account;
    if (!account) return;
    const password = await readUpstreamPassword({ profile: this.#profile, store: this.store, keychain: this.#opts.keychain }).catch((err: unknown) => {
      this.#upstreamNote = `the provider password could not be read: ${errorMessage(err)}`;
      return undefined;
    });
    if (!password) {
      this.#upstreamNote ??= 'no password for the provider account; run `waxseal account set` again';
      this.emit('log', 'upstream.nopassword', {});
      return;
    }
    this.#upstreamNote = undefined;
    const fetcher = new Fetcher({
      account,
      password,
      sink: new StoreUpstreamSink({ store: this.store, keyring: this.keyring, account: `${account.user}@${account.imap.host}:${account.imap.port}` }),
      offline: this.#offline,
      ...(this.#opts.upstreamBackoffMs ? { backoffMs: this.#opts.upstreamBackoffMs, maxBackoffMs: this.#opts.upstreamBackoffMs * 8 } : {}),
      onStatus: (s) => this.emit('upstream', s),
      log: (event, fields) => this.emit('log', event, fields),
    });
    this.#fetcher = fetcher;
    fetcher.start();
  }

  /** `waxseal account set`: log in first, save, then fetch from the new account. */
  async setAccount(request: ReturnType<typeof checkAccountRequest>): Promise<{ saved: true; user: string }> {
    const { paths } = this.#opts.unlocked;
    this.#profile = await setAccount({ paths, profile: this.#profile, store: this.store, keychain: this.#opts.keychain, request });
    await this.#fetcher?.stop();
    this.#fetcher = undefined;
    await this.#startFetcher();
    // Queued mail goes out through the new account now.
    await this.#sending?.accountChanged();
    return { saved: true, user: request.account.user };
  }

  /** Offline: no connection to the provider; back online, fetching resumes from its checkpoints. */
  async setOffline(offline: boolean): Promise<{ offline: boolean }> {
    this.#offline = offline;
    await this.#fetcher?.setOffline(offline);
    this.#sending?.setOffline(offline);
    // Device sync pauses with everything else, and resumes where it stood.
    await this.#startSync();
    return { offline };
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
      smtp: { host: (this.#opts.smtp ?? profile.smtp).host, port: this.#sending?.port ?? (this.#opts.smtp ?? profile.smtp).port },
      ...(this.#imap?.tlsPort ? { imaps: { host: imap.host, port: this.#imap.tlsPort } } : {}),
      ...(this.#sending?.tlsPort ? { smtps: { host: (this.#opts.smtp ?? profile.smtp).host, port: this.#sending.tlsPort } } : {}),
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
        smtp: this.#sending?.port !== undefined ? { state: 'running', host: (this.#opts.smtp ?? profile.smtp).host, port: this.#sending.port } : { state: 'stopped' },
        smtps: this.#sending?.tlsPort ? { state: 'running', host: (this.#opts.smtp ?? profile.smtp).host, port: this.#sending.tlsPort } : { state: 'stopped' },
        upstream: this.#fetcher
          ? { state: 'running', host: this.#profile.account!.imap.host, port: this.#profile.account!.imap.port }
          : { state: 'stopped', ...(this.#upstreamNote ? { note: this.#upstreamNote } : this.#profile.account ? {} : { note: 'no provider account; set one with `waxseal account set`' }) },
      },
      ...(this.#sending?.lastStatus ? { outbox: this.#sending.lastStatus } : {}),
      account: accountSummary(this.#profile),
      upstream: this.#fetcher?.status() ?? null,
      sync: this.#sync ? this.#sync.status() : profile.sync.couchdb ? { state: 'offline', server: profile.sync.couchdb } : { state: 'off' },
    };
  }

  async stop(): Promise<void> {
    await this.#sending?.stop();
    this.#sending = undefined;
    await this.#fetcher?.stop();
    this.#fetcher = undefined;
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

function checkOfflineRequest(body: unknown): boolean {
  const b = body as { offline?: unknown };
  if (typeof b !== 'object' || b === null || typeof b.offline !== 'boolean') throw new WaxsealError('EUSAGE', 'Expected {"offline": true|false}');
  return b.offline;
}

function accountSummary(profile: ProfileConfig): DaemonStatus['account'] {
  const a = profile.account;
  if (!a) return null;
  const at = (s: { host: string; port: number; tls: string }) => `${s.host}:${s.port} (${s.tls})`;
  const ai = a.afterIngest;
  const after = ai.action === 'move' ? `move to ${ai.folder}` : ai.action === 'delete' ? `delete after ${ai.days} days` : ai.action === 'seen' ? 'mark seen' : 'leave';
  return { user: a.user, imap: at(a.imap), smtp: at(a.smtp), afterIngest: after };
}
