/**
 * The composition root: one unlocked profile, its store, and the servers built on it. Later
 * issues add the IMAP and SMTP servers, the upstream fetcher, the outbox and sync here; the
 * status this reports is what `waxseal status` and the tray app show.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Endpoint } from '../config/profile.js';
import { startImapServer, type ImapServer } from '../imap/server.js';
import { StoreBackend, summarizeForImap } from '../mail/imap-backend.js';
import { Store } from '../store/store.js';
import { WaxsealError } from '../util/errors.js';
import { ensureCertificate, type ProfileCertificate } from './certificate.js';
import { callControl, readJson, startControl, type ControlServer } from './control.js';
import { findDaemon, register, registryDir } from './registry.js';
import { ingest } from '../mail/ingest.js';
import { profilePaths } from '../config/paths.js';
import { readKey } from 'openpgp';
import { Submission } from '../mail/submission.js';
import { createLocalRelay } from '../mail/local-relay.js';
import { Outbox, type OutboxStatus } from '../outbox/outbox.js';
import { createSmtpRelay, probeProviderSize, type SmtpRelayOptions } from '../outbox/relay.js';
import { startSubmissionServer, type SubmissionServer } from '../smtp/server.js';
import { checkKeysRequest, keysAction } from './keys.js';
import { openKeyring } from './keyring.js';
import type { Keyring } from '../mail/keyring.js';
import type { UnlockedProfile } from './profile.js';

export interface DaemonOptions {
  unlocked: UnlockedProfile;
  imap?: Endpoint;
  imaps?: Endpoint;
  smtp?: Endpoint;
  smtps?: Endpoint;
  offline?: boolean;
  /** The provider's submission server; absent = the embedded default (local delivery only). */
  upstreamSmtp?: SmtpRelayOptions;
  /** Where running daemons find each other (default: the user's runtime dir). */
  registryDir?: string;
  /** Outbox timing (tests shorten the retry delay). */
  outbox?: { retryBaseMs?: number; maxAgeMs?: number };
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
  outbox?: OutboxStatus & { relay: 'provider' | 'local' };
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
  #smtp: SubmissionServer | undefined;
  #outbox: Outbox | undefined;
  #outboxStatus: (OutboxStatus & { relay: 'provider' | 'local' }) | undefined;
  #unregister: (() => void) | undefined;
  get #registryDir(): string {
    return this.#opts.registryDir ?? registryDir();
  }
  #password = '';
  #certificate: ProfileCertificate | undefined;

  private constructor(store: Store, opts: DaemonOptions) {
    super();
    this.store = store;
    this.keyring = openKeyring(store, opts.unlocked.profile);
    this.#opts = opts;
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
      await daemon.#startSending();
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
      });
    } catch (err) {
      await daemon.#smtp?.close();
      await daemon.#outbox?.stop();
      await daemon.#imap?.close();
      await store.close();
      throw err;
    }
    return daemon;
  }

  /** SMTP submission and the outbox behind it (relaying to the provider, or local delivery). */
  async #startSending(): Promise<void> {
    const { profile } = this.#opts.unlocked;
    const offline = this.#opts.offline ?? profile.offline;
    const submission = new Submission({
      store: this.store,
      keyring: this.keyring,
      email: profile.email,
      password: () => this.#password,
      policy: () => profile.openpgp.policy,
      online: () => !offline,
      localKey: async (address) => {
        const other = findDaemon(address, this.#registryDir);
        return other ? (await readKey({ armoredKey: other.publicKey })).toPublic() : undefined;
      },
    });
    // Other local profiles find this one (to deliver to it, and its key to encrypt to).
    const publicKey = (await this.keyring.signingKey(profile.email)).toPublic().armor();
    this.#unregister = register({ email: profile.email, dataDir: this.#opts.unlocked.paths.dir, pid: process.pid, publicKey }, this.#registryDir);
    const upstream = this.#opts.upstreamSmtp;
    const relay = upstream
      ? createSmtpRelay(upstream)
      : createLocalRelay({
          store: this.store,
          keyring: this.keyring,
          addresses: () => [profile.email],
          deliverElsewhere: async (address, raw) => {
            const other = findDaemon(address, this.#registryDir);
            if (!other || other.dataDir === this.#opts.unlocked.paths.dir) return false;
            await callControl(profilePaths(other.dataDir), '/v1/deliver', 30_000, { raw: raw.toString('base64') });
            return true;
          },
        });
    this.#outbox = new Outbox({
      storage: submission,
      relay,
      hooks: submission,
      domain: profile.email.split('@')[1] ?? 'waxseal.localhost',
      ...(this.#opts.outbox?.retryBaseMs !== undefined ? { retryBaseMs: this.#opts.outbox.retryBaseMs } : {}),
      ...(this.#opts.outbox?.maxAgeMs !== undefined ? { maxAgeMs: this.#opts.outbox.maxAgeMs } : {}),
      log: (event, fields) => this.emit('log', event, fields),
    });
    this.#outbox.onIdle = () => void this.#refreshOutboxStatus(upstream ? 'provider' : 'local');
    submission.outbox = this.#outbox;
    this.#outbox.setOffline(offline);
    const smtpAt = this.#opts.smtp ?? profile.smtp;
    const smtpsAt = this.#opts.smtps ?? profile.smtps;
    if (smtpsAt.host !== smtpAt.host) throw new WaxsealError('EUSAGE', 'SMTP and implicit-TLS SMTP must listen on the same host');
    this.#smtp = await listenOrExplain('SMTP', smtpAt, () =>
      startSubmissionServer({
        backend: submission,
        host: smtpAt.host,
        port: smtpAt.port,
        tlsPort: smtpsAt.port,
        tls: { key: this.#certificate!.key, cert: this.#certificate!.cert },
        log: (event, fields) => this.emit('log', event, fields),
      }),
    );
    await this.#refreshOutboxStatus(upstream ? 'provider' : 'local');
    if (upstream && !offline) {
      // The SIZE we announce follows the provider's own, learnt in the background.
      void probeProviderSize(upstream).then((limit) => {
        if (!limit || !this.#smtp) return;
        submission.setProviderLimit(limit);
        this.#smtp.setMaxSize(submission.maxMessageBytes());
        this.emit('log', 'smtp.size', { provider: limit, announced: submission.maxMessageBytes() });
      });
    }
    // Messages left from before a crash or a stop go out now, whatever their backoff said.
    this.#outbox.kick({ all: true });
  }

  async #refreshOutboxStatus(relay: 'provider' | 'local'): Promise<void> {
    if (!this.#outbox) return;
    this.#outboxStatus = { ...(await this.#outbox.status().catch(() => ({ queued: 0, sending: 0, offline: false }))), relay };
    this.emit('outbox', this.#outboxStatus);
  }

  /** The outbox as it is now (queued count, last error), read fresh. */
  async outboxStatus(): Promise<DaemonStatus['outbox']> {
    await this.#refreshOutboxStatus(this.#opts.upstreamSmtp ? 'provider' : 'local');
    return this.#outboxStatus;
  }

  /** Wait until the outbox has nothing left to send now (tests; `waxseal status --wait` later). */
  get outbox(): Outbox | undefined {
    return this.#outbox;
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
      smtp: { host: (this.#opts.smtp ?? profile.smtp).host, port: this.#smtp?.port ?? (this.#opts.smtp ?? profile.smtp).port },
      ...(this.#imap?.tlsPort ? { imaps: { host: imap.host, port: this.#imap.tlsPort } } : {}),
      ...(this.#smtp?.tlsPort ? { smtps: { host: (this.#opts.smtp ?? profile.smtp).host, port: this.#smtp.tlsPort } } : {}),
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
      offline: this.#opts.offline ?? profile.offline,
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
        smtp: this.#smtp ? { state: 'running', host: (this.#opts.smtp ?? profile.smtp).host, port: this.#smtp.port } : { state: 'stopped' },
        smtps: this.#smtp?.tlsPort ? { state: 'running', host: (this.#opts.smtp ?? profile.smtp).host, port: this.#smtp.tlsPort } : { state: 'stopped' },
      },
      ...(this.#outboxStatus ? { outbox: this.#outboxStatus } : {}),
    };
  }

  async stop(): Promise<void> {
    this.#unregister?.();
    await this.#smtp?.close();
    this.#smtp = undefined;
    await this.#outbox?.stop();
    this.#outbox = undefined;
    await this.#imap?.close();
    this.#imap = undefined;
    await this.#control?.close();
    this.#control = undefined;
    await this.store.close();
    this.emit('stopped');
  }
}
