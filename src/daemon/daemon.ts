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
import { WaxsealError, errorMessage } from '../util/errors.js';
import { ensureCertificate, type ProfileCertificate } from './certificate.js';
import { readJson, startControl, type ControlServer } from './control.js';
import { checkKeysRequest, keysAction } from './keys.js';
import { openKeyring } from './keyring.js';
import type { Keyring } from '../mail/keyring.js';
import type { UnlockedProfile } from './profile.js';
import type { ProfileConfig } from '../config/profile.js';
import type { Keychain } from '../secrets/keychain.js';
import { StoreUpstreamSink } from '../mail/upstream-sink.js';
import { Fetcher } from '../upstream/fetcher.js';
import type { UpstreamStatus } from '../upstream/port.js';
import { checkAccountRequest, readUpstreamPassword, setAccount } from './account.js';

export interface DaemonOptions {
  unlocked: UnlockedProfile;
  imap?: Endpoint;
  imaps?: Endpoint;
  smtp?: Endpoint;
  offline?: boolean;
  /** Where the provider password may be kept (profiles whose secret is in the keychain). */
  keychain?: Keychain;
  /** Upstream retry timing (tests make it short). */
  upstreamBackoffMs?: number;
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
  /** The provider account (no password) and what fetching from it is doing. */
  account: { user: string; imap: string; smtp: string; afterIngest: string } | null;
  upstream: UpstreamStatus | null;
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
  #profile: ProfileConfig;
  #offline: boolean;
  #fetcher: Fetcher | undefined;
  #upstreamNote: string | undefined;

  private constructor(store: Store, opts: DaemonOptions) {
    super();
    this.store = store;
    this.keyring = openKeyring(store, opts.unlocked.profile);
    this.#opts = opts;
    this.#profile = opts.unlocked.profile;
    this.#offline = opts.offline || opts.unlocked.profile.offline;
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
        'POST /v1/account': async (req) => daemon.setAccount(checkAccountRequest(await readJson(req))),
        'POST /v1/offline': async (req) => daemon.setOffline(checkOfflineRequest(await readJson(req))),
      });
      await daemon.#startFetcher();
    } catch (err) {
      await daemon.#fetcher?.stop();
      await daemon.#imap?.close();
      await store.close();
      throw err;
    }
    return daemon;
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
    return { saved: true, user: request.account.user };
  }

  /** Offline: no connection to the provider; back online, fetching resumes from its checkpoints. */
  async setOffline(offline: boolean): Promise<{ offline: boolean }> {
    this.#offline = offline;
    await this.#fetcher?.setOffline(offline);
    return { offline };
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
        upstream: this.#fetcher
          ? { state: 'running', host: this.#profile.account!.imap.host, port: this.#profile.account!.imap.port }
          : { state: 'stopped', ...(this.#upstreamNote ? { note: this.#upstreamNote } : this.#profile.account ? {} : { note: 'no provider account; set one with `waxseal account set`' }) },
      },
      account: accountSummary(this.#profile),
      upstream: this.#fetcher?.status() ?? null,
    };
  }

  async stop(): Promise<void> {
    await this.#fetcher?.stop();
    this.#fetcher = undefined;
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
