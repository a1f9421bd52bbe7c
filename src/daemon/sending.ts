/**
 * Sending, as the daemon runs it: the submission server, the sealed outbox behind it, and the
 * relay the outbox uses — the provider account's SMTP server (read at send time, so
 * `waxseal account set` applies to mail already queued), or, with no account, local delivery
 * to this profile and to other local profiles' daemons (found through the registry).
 */
import { readKey } from 'openpgp';
import { profilePaths } from '../config/paths.js';
import type { Endpoint, ProfileConfig } from '../config/profile.js';
import type { Keyring } from '../mail/keyring.js';
import { createLocalRelay } from '../mail/local-relay.js';
import type { RecentSubmissions } from '../mail/recent-sent.js';
import { Submission } from '../mail/submission.js';
import { Outbox, type OutboxStatus } from '../outbox/outbox.js';
import type { Relay } from '../outbox/port.js';
import { createSmtpRelay, probeProviderSize, type SmtpRelayOptions } from '../outbox/relay.js';
import type { Keychain } from '../secrets/keychain.js';
import { startSubmissionServer, type SubmissionServer } from '../smtp/server.js';
import type { Store } from '../store/store.js';
import { WaxsealError } from '../util/errors.js';
import { readUpstreamPassword } from './account.js';
import { callControl } from './control.js';
import { listenOrExplain } from './listen.js';
import { findDaemon, register } from './registry.js';

export type SendingStatus = OutboxStatus & { relay: 'provider' | 'local' };

export interface SendingOptions {
  store: Store;
  keyring: Keyring;
  dataDir: string;
  /** The profile as it is now (the account may change while running). */
  profile: () => ProfileConfig;
  offline: () => boolean;
  /** The local login, shared with IMAP. */
  password: () => string;
  /** Messages accepted lately, shared with IMAP (a client's own Sent copy is not a second one). */
  recent?: RecentSubmissions;
  tls: { key: string; cert: string };
  smtp: Endpoint;
  smtps: Endpoint;
  /** The provider's submission server for tests; normally the profile's account. */
  upstreamSmtp?: SmtpRelayOptions;
  registryDir: string;
  outbox?: { retryBaseMs?: number; maxAgeMs?: number };
  keychain?: Keychain;
  log: (event: string, fields: Record<string, unknown>) => void;
}

export class Sending {
  readonly #o: SendingOptions;
  readonly #submission: Submission;
  readonly #outbox: Outbox;
  #server: SubmissionServer | undefined;
  #unregister: (() => void) | undefined;
  #status: SendingStatus | undefined;

  private constructor(opts: SendingOptions) {
    this.#o = opts;
    const email = opts.profile().email;
    this.#submission = new Submission({
      store: opts.store,
      keyring: opts.keyring,
      email,
      password: opts.password,
      policy: () => opts.profile().openpgp.policy,
      online: () => !opts.offline(),
      ...(opts.recent ? { recent: opts.recent } : {}),
      localKey: async (address) => {
        const other = findDaemon(address, opts.registryDir);
        return other ? (await readKey({ armoredKey: other.publicKey })).toPublic() : undefined;
      },
    });
    const local = createLocalRelay({
      store: opts.store,
      keyring: opts.keyring,
      addresses: () => [email],
      deliverElsewhere: async (address, raw) => {
        const other = findDaemon(address, opts.registryDir);
        if (!other || other.dataDir === opts.dataDir) return false;
        await callControl(profilePaths(other.dataDir), '/v1/deliver', 30_000, { raw: raw.toString('base64') });
        return true;
      },
    });
    this.#outbox = new Outbox({
      storage: this.#submission,
      relay: this.#relay(local),
      hooks: this.#submission,
      domain: email.split('@')[1] ?? 'waxseal.localhost',
      ...(opts.outbox?.retryBaseMs !== undefined ? { retryBaseMs: opts.outbox.retryBaseMs } : {}),
      ...(opts.outbox?.maxAgeMs !== undefined ? { maxAgeMs: opts.outbox.maxAgeMs } : {}),
      log: opts.log,
    });
    this.#outbox.onIdle = () => void this.status();
    this.#submission.outbox = this.#outbox;
    this.#outbox.setOffline(opts.offline());
  }

  static async start(opts: SendingOptions): Promise<Sending> {
    const s = new Sending(opts);
    try {
      // Other local profiles find this one (to deliver to it, and its key to encrypt to).
      const email = opts.profile().email;
      const publicKey = (await opts.keyring.signingKey(email)).toPublic().armor();
      s.#unregister = register({ email, dataDir: opts.dataDir, pid: process.pid, publicKey }, opts.registryDir);
      if (opts.smtps.host !== opts.smtp.host) throw new WaxsealError('EUSAGE', 'SMTP and implicit-TLS SMTP must listen on the same host');
      s.#server = await listenOrExplain('SMTP', opts.smtp, () =>
        startSubmissionServer({ backend: s.#submission, host: opts.smtp.host, port: opts.smtp.port, tlsPort: opts.smtps.port, tls: opts.tls, log: opts.log }),
      );
    } catch (err) {
      await s.stop();
      throw err;
    }
    await s.status();
    s.#probeSize();
    // Messages left from before a crash or a stop go out now, whatever their backoff said.
    s.#outbox.kick({ all: true });
    return s;
  }

  get port(): number | undefined {
    return this.#server?.port;
  }

  get tlsPort(): number | undefined {
    return this.#server?.tlsPort;
  }

  /** The last status read (for the synchronous daemon status). */
  get lastStatus(): SendingStatus | undefined {
    return this.#status;
  }

  /** The outbox as it is now: waiting, sending, the last error. */
  async status(): Promise<SendingStatus> {
    const queue = await this.#outbox.status().catch(() => ({ queued: 0, sending: 0, offline: false }));
    this.#status = { ...queue, relay: this.#o.upstreamSmtp || this.#o.profile().account ? 'provider' : 'local' };
    return this.#status;
  }

  /** The provider account changed: learn its SIZE and send what waits through it now. */
  async accountChanged(): Promise<void> {
    this.#probeSize();
    this.#outbox.kick({ all: true });
    await this.status();
  }

  setOffline(offline: boolean): void {
    this.#outbox.setOffline(offline);
    if (!offline) this.#probeSize();
  }

  async stop(): Promise<void> {
    this.#unregister?.();
    this.#unregister = undefined;
    await this.#server?.close();
    this.#server = undefined;
    await this.#outbox.stop();
  }

  /** The relay of the moment: the account's (or the test's) SMTP server, else local delivery. */
  #relay(local: Relay): Relay {
    let cached: { key: string; relay: Relay } | undefined;
    const current = (): Relay => {
      const opts = this.#upstream();
      if (!opts) return local;
      const key = JSON.stringify([opts.host, opts.port, opts.tls, opts.user]);
      if (cached?.key !== key) {
        cached?.relay.close?.();
        cached = { key, relay: createSmtpRelay(opts) };
      }
      return cached.relay;
    };
    return { send: (m) => current().send(m), close: () => cached?.relay.close?.() };
  }

  #upstream(): SmtpRelayOptions | undefined {
    if (this.#o.upstreamSmtp) return this.#o.upstreamSmtp;
    const account = this.#o.profile().account;
    if (!account) return undefined;
    return {
      host: account.smtp.host,
      port: account.smtp.port,
      tls: account.smtp.tls,
      user: account.user,
      password: async () => {
        const pw = await readUpstreamPassword({ profile: this.#o.profile(), store: this.#o.store, keychain: this.#o.keychain });
        if (!pw) throw new WaxsealError('ENOPASSWORD', 'No password for the provider account; run `waxseal account set` again');
        return pw;
      },
    };
  }

  /** The SIZE we announce follows the provider's own, learnt in the background. */
  #probeSize(): void {
    const upstream = this.#upstream();
    if (!upstream || this.#o.offline()) return;
    void probeProviderSize(upstream).then((limit) => {
      if (!limit || !this.#server) return;
      this.#submission.setProviderLimit(limit);
      this.#server.setMaxSize(this.#submission.maxMessageBytes());
      this.#o.log('smtp.size', { provider: limit, announced: this.#submission.maxMessageBytes() });
    });
  }
}
