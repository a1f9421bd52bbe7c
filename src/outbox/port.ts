/**
 * The outbox's ports: where entries are kept (sealed, device-local), how a message reaches
 * the provider, and what happens around a delivery (the OpenPGP transform before, the Sent
 * copy after, a bounce on failure) — the last implemented in src/mail/.
 */

export interface OutboxEntry {
  id: string;
  from: string;
  /** Recipients still to deliver to. */
  pending: string[];
  /** Recipients the provider accepted. */
  delivered: string[];
  /** Recipients refused for good, with the provider's answer (bounced). */
  failed: Array<{ address: string; response: string }>;
  messageId: string;
  /** The message as submitted (Message-ID ensured), base64. */
  raw: string;
  queuedAt: number;
  attempts: number;
  nextAttemptAt: number;
  lastError?: string;
}

export interface OutboxStorage {
  put(entry: OutboxEntry): Promise<void>;
  list(): Promise<OutboxEntry[]>;
  remove(id: string): Promise<void>;
}

export interface RelayResult {
  accepted: string[];
  /** Per-recipient refusals; `temporary` when the reply was 4xx. */
  rejected: Array<{ address: string; response: string; temporary: boolean }>;
}

/** A failure of the whole transaction (connection, auth, 4xx/5xx to MAIL or DATA). */
export class RelayError extends Error {
  readonly temporary: boolean;
  constructor(message: string, temporary: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RelayError';
    this.temporary = temporary;
  }
}

export interface Relay {
  /** One SMTP transaction with all `to`. Throws RelayError when nothing could be sent. */
  send(message: { from: string; to: string[]; raw: Buffer }): Promise<RelayResult>;
  close?(): void;
}

export interface OutboxHooks {
  /** The bytes to relay for these recipients (the OpenPGP transform). A RelayError(false) bounces. */
  prepare(entry: OutboxEntry, to: string[]): Promise<{ raw: Buffer; mode: string }>;
  /** Every recipient done (delivered or failed): keep the Sent copy. Must be idempotent. */
  sent(entry: OutboxEntry, mode: string): Promise<void>;
  /** Some recipients failed for good: tell the sender. Must be idempotent per (entry, attempt). */
  bounce(entry: OutboxEntry, failures: Array<{ address: string; response: string }>, attempt: number): Promise<void>;
}
