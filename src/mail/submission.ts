/**
 * Sending mail: the submission server's backend and the outbox's hooks, over the store and
 * the keyring.
 *
 *   client ─SMTP─▶ accept (checks, policy "always" refusals) ─▶ sealed outbox (then 250)
 *   outbox ─▶ prepare (OpenPGP transform per attempt) ─▶ relay ─▶ Sent copy / bounce
 *
 * The Sent copy is the message as the client wrote it (plus a label saying how it left),
 * stored under a key derived from the outbox entry, so a retry after a crash stores it once.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { PublicKey } from 'openpgp';
import { parseAddressList } from '../mime/address.js';
import { field, joinEntity, splitEntity } from '../mime/pgpmime.js';
import { decide, isAlreadyEncrypted, transformOutgoing, type EncryptPolicy, type Recipient } from '../openpgp/outgoing.js';
import { RelayError, type OutboxEntry, type OutboxHooks, type OutboxStorage } from '../outbox/port.js';
import type { Outbox } from '../outbox/outbox.js';
import { SmtpError, type SubmissionBackend, type SubmissionEnvelope } from '../smtp/port.js';
import type { ImportItem, Store } from '../store/store.js';
import { isWaxsealError } from '../util/errors.js';
import type { Keyring } from './keyring.js';
import { buildBounce } from './bounce.js';
import type { RecentSubmissions } from './recent-sent.js';

/** What PGP/MIME adds to a message: armor is base64 in 64-column lines (×4/3 ×66/64) plus headers. */
export const ENCRYPTION_GROWTH = 1.4;
const ENCRYPTION_OVERHEAD = 16 * 1024;

/** The largest message a client may submit so that, encrypted, it still fits the provider's limit. */
export function submissionLimit(providerLimit: number): number {
  return Math.max(0, Math.floor((providerLimit - ENCRYPTION_OVERHEAD) / ENCRYPTION_GROWTH));
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** The entry key of an outbox entry's Sent copy: one copy, however often it is stored. */
const sentKey = (outboxId: string) => `sent:${outboxId}`;

export interface SubmissionOptions {
  store: Store;
  keyring: Keyring;
  /** The profile's address: the login, and the only sender it may use. */
  email: string;
  password: () => string;
  policy: () => EncryptPolicy;
  /** The provider's SIZE limit (default 25 MiB when unknown). */
  providerLimit?: number;
  /** May key lookups use the network now (not offline)? */
  online?: () => boolean;
  /** The key of another profile on this machine, when the keyring knows none. */
  localKey?: (address: string) => Promise<PublicKey | undefined>;
  /** Told of every message accepted, so a client's own Sent copy of it is not a second one. */
  recent?: RecentSubmissions;
}

function headerAddresses(raw: Buffer, key: string): string[] {
  const f = splitEntity(raw).fields.filter((x) => x.key === key);
  return f.flatMap((x) => (parseAddressList(x.value) ?? []).filter((a) => a.mailbox && a.host).map((a) => `${a.mailbox}@${a.host}`.toLowerCase()));
}

export class Submission implements SubmissionBackend, OutboxHooks, OutboxStorage {
  readonly #o: SubmissionOptions;
  outbox: Outbox | undefined;

  constructor(opts: SubmissionOptions) {
    this.#o = opts;
  }

  // ---- SubmissionBackend ----

  login(user: string, password: string): boolean {
    const okUser = timingSafeEqual(digest(user.toLowerCase()), digest(this.#o.email.toLowerCase()));
    const okPass = timingSafeEqual(digest(password), digest(this.#o.password()));
    return okUser && okPass;
  }

  checkSender(address: string): string | null {
    return address.toLowerCase() === this.#o.email.toLowerCase() ? null : `This profile sends as ${this.#o.email} only, not as ${address}`;
  }

  maxMessageBytes(): number {
    return submissionLimit(this.#o.providerLimit ?? 25 * 1024 * 1024);
  }

  /** The provider told us its limit (EHLO SIZE). */
  setProviderLimit(bytes: number): void {
    this.#o.providerLimit = bytes;
  }

  async accept(envelope: SubmissionEnvelope, raw: Buffer): Promise<void> {
    if (!this.outbox) throw new SmtpError(451, '4.3.0', 'Sending is not ready yet; try again');
    const from = headerAddresses(raw, 'from');
    if (from.length === 0) throw new SmtpError(550, '5.6.0', 'The message has no From: address');
    const foreign = from.filter((a) => this.checkSender(a) !== null);
    if (foreign.length) throw new SmtpError(553, '5.7.1', `From: ${foreign.join(', ')} is not an address of this profile (${this.#o.email})`);
    if (this.#o.policy() === 'always' && !isAlreadyEncrypted(raw)) {
      // Refused now, while the client can still tell the user, rather than bounced later.
      const recipients = await this.#recipients(envelope.to);
      try {
        decide('always', recipients);
      } catch (err) {
        if (isWaxsealError(err, 'ENOKEY')) throw new SmtpError(550, '5.7.1', err.message);
        throw err;
      }
    }
    const entry = await this.outbox.enqueue(envelope, raw);
    this.#o.recent?.note(entry.messageId, sentKey(entry.id));
  }

  async #recipients(to: string[]): Promise<Recipient[]> {
    const network = this.#o.online?.() ?? true;
    return Promise.all(
      to.map(async (address) => {
        const l = await this.#o.keyring.lookup(address, { network });
        const key = l.key ?? (await this.#o.localKey?.(address).catch(() => undefined));
        return { address, ...(key ? { key } : {}) };
      }),
    );
  }

  // ---- OutboxHooks ----

  async prepare(entry: OutboxEntry, to: string[]): Promise<{ raw: Buffer; mode: string }> {
    const raw = Buffer.from(entry.raw, 'base64');
    if (isAlreadyEncrypted(raw)) {
      // Passed through untouched, except that Bcc never leaves (it would name every recipient).
      const { fields, body } = splitEntity(raw);
      return { raw: joinEntity(fields.filter((f) => f.key !== 'bcc'), body), mode: 'passthrough' };
    }
    let key;
    try {
      key = await this.#o.keyring.signingKey(entry.from);
    } catch (err) {
      throw new RelayError(isWaxsealError(err) ? err.message : 'No signing key', true);
    }
    try {
      const out = await transformOutgoing({ raw, sender: { address: entry.from, key }, recipients: await this.#recipients(to), policy: this.#o.policy() });
      return { raw: out.raw, mode: out.mode };
    } catch (err) {
      if (isWaxsealError(err, 'ENOKEY')) throw new RelayError(err.message, false);
      throw err;
    }
  }

  async sent(entry: OutboxEntry, mode: string): Promise<void> {
    const sent = this.#o.store.mailboxes().find((m) => m.meta.specialUse === '\\Sent') ?? this.#o.store.mailboxByName('Sent');
    if (!sent) return;
    const { fields, body } = splitEntity(Buffer.from(entry.raw, 'base64'));
    const how = mode === 'encrypt' ? 'encrypted' : mode === 'passthrough' ? 'encrypted; reason="encrypted by the mail client"' : 'none; reason="signed only: not every recipient has a key"';
    const raw = joinEntity([field('X-Waxseal-Encryption', how), ...fields.filter((f) => !f.key.startsWith('x-waxseal-'))], body);
    await this.#groupImport(sent.logical, { raw, flags: ['\\Seen'], key: sentKey(entry.id) });
  }

  /**
   * Group commit: while one import into a mailbox is being written, the copies that arrive
   * wait and go in together in the next one. Idle, a copy is written at once; under a burst,
   * one store write carries many (a write costs about the same for 1 or 50 messages).
   */
  readonly #groups = new Map<string, { items: Array<{ item: ImportItem; done: (err?: unknown) => void }>; running: boolean }>();

  #groupImport(mailbox: string, item: ImportItem): Promise<void> {
    let g = this.#groups.get(mailbox);
    if (!g) this.#groups.set(mailbox, (g = { items: [], running: false }));
    const group = g;
    const p = new Promise<void>((resolve, reject) => group.items.push({ item, done: (err) => (err ? reject(err) : resolve()) }));
    const flush = async () => {
      group.running = true;
      while (group.items.length > 0) {
        const batch = group.items.splice(0, 200);
        try {
          await this.#o.store.import(mailbox, batch.map((b) => b.item));
          for (const b of batch) b.done();
        } catch (err) {
          for (const b of batch) b.done(err);
        }
      }
      group.running = false;
    };
    if (!group.running) void flush();
    return p;
  }

  async bounce(entry: OutboxEntry, failures: Array<{ address: string; response: string }>, attempt: number): Promise<void> {
    const inbox = this.#o.store.mailboxByName('INBOX');
    if (!inbox) return;
    const raw = buildBounce({ to: entry.from, original: Buffer.from(entry.raw, 'base64'), failures, messageId: entry.messageId });
    await this.#o.store.import(inbox.logical, [{ raw, key: `bounce:${entry.id}:${attempt}` }]);
  }

  // ---- OutboxStorage (sealed, device-local) ----

  /** Revisions of the entries we wrote, so a write needs no read first. */
  readonly #revs = new Map<string, string>();

  async put(entry: OutboxEntry): Promise<void> {
    try {
      this.#revs.set(entry.id, await this.#o.store.outbox.put('outbox', entry.id, entry, this.#revs.get(entry.id)));
    } catch (err) {
      if ((err as { status?: number }).status !== 409) throw err;
      await this.#o.store.outbox.update<OutboxEntry>('outbox', entry.id, () => entry);
      this.#revs.delete(entry.id);
    }
  }

  async list(): Promise<OutboxEntry[]> {
    return (await this.#o.store.outbox.list<OutboxEntry>('outbox')).map((r) => {
      this.#revs.set(r.logical, r.rev);
      return r.value;
    });
  }

  async remove(id: string): Promise<void> {
    await this.#o.store.outbox.remove('outbox', id, this.#revs.get(id));
    this.#revs.delete(id);
  }
}
