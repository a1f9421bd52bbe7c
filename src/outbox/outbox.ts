/**
 * The sealed outbox: messages accepted from the mail client wait here until the provider has
 * them. An entry is written before SMTP answers 250 and removed only after the provider
 * accepted every recipient (or the failures were bounced), so a crash at any moment loses
 * nothing. A crash between the provider's acceptance and the removal sends the message again
 * on restart — with the same Message-ID, fixed when it was queued.
 *
 * Retries back off (base × 2^attempts, capped); a message still undelivered after `maxAgeMs`
 * (default 4 days) is bounced. Offline mode pauses sending; nothing is lost meanwhile.
 */
import { randomBytes } from 'node:crypto';
import { withDefaults } from '../util/options.js';
import { errorMessage } from '../util/errors.js';
import { RelayError, type OutboxEntry, type OutboxHooks, type OutboxStorage, type Relay } from './port.js';

export interface OutboxOptions {
  storage: OutboxStorage;
  relay: Relay;
  hooks: OutboxHooks;
  /** First retry delay (default 30 s), doubled per attempt up to maxDelayMs (default 1 h). */
  retryBaseMs: number;
  maxDelayMs: number;
  /** Age after which an undelivered message is bounced (default 4 days). */
  maxAgeMs: number;
  /** Messages relayed at the same time (default 6). */
  concurrency: number;
  /** Domain for Message-IDs we add. */
  domain: string;
  now: () => number;
  log: (event: string, fields: Record<string, unknown>) => void;
}

const DEFAULTS: Omit<OutboxOptions, 'storage' | 'relay' | 'hooks'> = {
  retryBaseMs: 30_000,
  maxDelayMs: 3_600_000,
  maxAgeMs: 4 * 24 * 3_600_000,
  concurrency: 6,
  domain: 'waxseal.localhost',
  now: Date.now,
  log: () => undefined,
};

export interface OutboxStatus {
  queued: number;
  sending: number;
  offline: boolean;
  /** The oldest waiting message's age and last error, when there is one. */
  oldestQueuedAt?: string;
  lastError?: string;
  nextAttemptAt?: string;
}

/** A Message-ID header the message already has, else one we add at the top. */
function ensureMessageId(raw: Buffer, domain: string): { raw: Buffer; messageId: string } {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end === -1 ? raw.length : end).toString('latin1');
  const m = /^message-id:[ \t]*(<[^>\r\n]+>)/im.exec(head);
  if (m) return { raw, messageId: m[1]! };
  const messageId = `<${randomBytes(12).toString('hex')}@${domain}>`;
  return { raw: Buffer.concat([Buffer.from(`Message-ID: ${messageId}\r\n`), raw]), messageId };
}

export class Outbox {
  readonly #o: OutboxOptions;
  readonly #sending = new Set<string>();
  /** The queue, read from storage once and then kept in step with every write. */
  #entries: Map<string, OutboxEntry> | undefined;
  #offline = false;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #all = false;
  #stopped = false;
  #status: { lastError?: string } = {};
  /** Resolved each time a pass over the queue finishes (tests and the CLI wait on it). */
  onIdle: () => void = () => undefined;

  constructor(opts: Partial<OutboxOptions> & Pick<OutboxOptions, 'storage' | 'relay' | 'hooks'>) {
    const { storage, relay, hooks, ...rest } = opts;
    this.#o = { ...withDefaults('Outbox', DEFAULTS, rest), storage, relay, hooks };
  }

  /** Queue a message; resolves once it is stored (the moment SMTP may answer 250). */
  async enqueue(envelope: { from: string; to: string[] }, raw: Buffer): Promise<OutboxEntry> {
    const { raw: withId, messageId } = ensureMessageId(raw, this.#o.domain);
    const now = this.#o.now();
    const entry: OutboxEntry = {
      id: `${now.toString(36)}-${randomBytes(8).toString('hex')}`,
      from: envelope.from,
      pending: [...new Set(envelope.to)],
      delivered: [],
      failed: [],
      messageId,
      raw: withId.toString('base64'),
      queuedAt: now,
      attempts: 0,
      nextAttemptAt: now,
    };
    await this.#o.storage.put(entry);
    (await this.#queue()).set(entry.id, entry);
    this.kick();
    return entry;
  }

  async #queue(): Promise<Map<string, OutboxEntry>> {
    if (!this.#entries) {
      const stored = await this.#o.storage.list();
      this.#entries ??= new Map(stored.map((e) => [e.id, e]));
    }
    return this.#entries;
  }

  setOffline(offline: boolean): void {
    const was = this.#offline;
    this.#offline = offline;
    if (!offline && was) this.kick({ all: true });
  }

  /**
   * Look at the queue now (after enqueue, coming online, or a timer). `all` treats every
   * entry as due, backoff or not: what a restart or coming back online should do.
   */
  kick(opts: { all?: boolean } = {}): void {
    if (opts.all) this.#all = true;
    if (this.#stopped || this.#offline) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#running = this.#pass()
      .catch((err) => this.#o.log('outbox.error', { error: errorMessage(err) }))
      .finally(() => {
        this.#running = undefined;
        if (this.#again) {
          this.#again = false;
          this.kick();
        } else this.onIdle();
      });
  }

  async #pass(): Promise<void> {
    const entries = [...(await this.#queue()).values()];
    const now = this.#o.now();
    const all = this.#all;
    this.#all = false;
    const due = entries.filter((e) => (all || e.nextAttemptAt <= now) && !this.#sending.has(e.id)).sort((a, b) => a.queuedAt - b.queuedAt);
    let next = Infinity;
    for (const e of entries) if (!due.includes(e) && e.nextAttemptAt > now) next = Math.min(next, e.nextAttemptAt);
    // A small pool: one slow provider transaction does not hold up the rest.
    let i = 0;
    const worker = async () => {
      while (i < due.length && !this.#stopped && !this.#offline) {
        const entry = due[i++]!;
        this.#sending.add(entry.id);
        try {
          const after = await this.#attempt(entry);
          if (after) next = Math.min(next, after.nextAttemptAt);
        } finally {
          this.#sending.delete(entry.id);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#o.concurrency, due.length) }, worker));
    if (next !== Infinity && !this.#stopped) {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.kick(), Math.max(0, next - this.#o.now()));
      this.#timer.unref();
    }
  }

  /** One delivery attempt; returns the entry when it stays queued. */
  async #attempt(entry: OutboxEntry): Promise<OutboxEntry | undefined> {
    const attempt = entry.attempts + 1;
    const newFailures: OutboxEntry['failed'] = [];
    let mode = 'none';
    let transientError: string | undefined;
    try {
      const prepared = await this.#o.hooks.prepare(entry, entry.pending);
      mode = prepared.mode;
      const res = await this.#o.relay.send({ from: entry.from, to: entry.pending, raw: prepared.raw });
      entry.delivered.push(...res.accepted.map((a) => a.toLowerCase()));
      for (const r of res.rejected) if (!r.temporary) newFailures.push({ address: r.address.toLowerCase(), response: r.response });
      const temporary = res.rejected.filter((r) => r.temporary);
      if (temporary.length) transientError = temporary.map((r) => `${r.address}: ${r.response}`).join('; ');
      const done = new Set([...entry.delivered, ...newFailures.map((f) => f.address)]);
      entry.pending = entry.pending.filter((p) => !done.has(p));
    } catch (err) {
      if (err instanceof RelayError && !err.temporary) {
        for (const address of entry.pending) newFailures.push({ address, response: err.message });
        entry.pending = [];
      } else {
        transientError = errorMessage(err);
      }
    }
    entry.attempts = attempt;
    if (entry.pending.length > 0 && this.#o.now() - entry.queuedAt >= this.#o.maxAgeMs) {
      const age = Math.round((this.#o.now() - entry.queuedAt) / 3_600_000);
      for (const address of entry.pending) newFailures.push({ address, response: `not delivered after ${age} hours; last error: ${transientError ?? 'none'}` });
      entry.pending = [];
    }
    if (newFailures.length) {
      entry.failed.push(...newFailures);
      // Recorded before the bounce is written, so a crash in between bounces again (the bounce
      // is keyed by entry and attempt, so that makes one bounce, not two).
      await this.#o.storage.put(entry);
      await this.#o.hooks.bounce(entry, newFailures, attempt);
    }
    if (entry.pending.length === 0) {
      if (entry.delivered.length > 0) await this.#o.hooks.sent(entry, mode);
      await this.#o.storage.remove(entry.id);
      this.#entries?.delete(entry.id);
      this.#o.log('outbox.done', { delivered: entry.delivered.length, failed: entry.failed.length, attempts: attempt });
      return undefined;
    }
    entry.lastError = transientError;
    this.#status.lastError = transientError;
    entry.nextAttemptAt = this.#o.now() + Math.min(this.#o.maxDelayMs, this.#o.retryBaseMs * 2 ** (attempt - 1));
    await this.#o.storage.put(entry);
    this.#o.log('outbox.retry', { attempt, error: transientError });
    return entry;
  }

  async status(): Promise<OutboxStatus> {
    const entries = [...(await this.#queue()).values()];
    const oldest = entries.reduce<OutboxEntry | undefined>((a, e) => (!a || e.queuedAt < a.queuedAt ? e : a), undefined);
    const next = entries.reduce((n, e) => Math.min(n, e.nextAttemptAt), Infinity);
    return {
      queued: entries.length,
      sending: this.#sending.size,
      offline: this.#offline,
      ...(oldest ? { oldestQueuedAt: new Date(oldest.queuedAt).toISOString() } : {}),
      ...(oldest?.lastError ? { lastError: oldest.lastError } : {}),
      ...(next !== Infinity ? { nextAttemptAt: new Date(next).toISOString() } : {}),
    };
  }

  /** Stop sending; an attempt in flight finishes (its entry stays queued if it did not). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
    this.#o.relay.close?.();
  }
}
