/**
 * Messages submitted a short while ago, by Message-ID, so that a mail client's own copy to
 * Sent (Thunderbird does it by default, mutt with `record`) and the Sent copy Waxseal keeps
 * after relaying become one message: both are stored under the outbox entry's entry key,
 * whichever comes first, and the second finds the first.
 */
import { splitEntity } from '../mime/pgpmime.js';

/** How long after submission a client's Sent copy is recognised (clients append at once). */
const KEEP_MS = 15 * 60_000;
const MAX = 1000;

export class RecentSubmissions {
  readonly #byId = new Map<string, { key: string; at: number }>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** A message with this Message-ID was accepted for sending; its Sent copy will use `entryKey`. */
  note(messageId: string, entryKey: string): void {
    this.#byId.delete(messageId);
    this.#byId.set(messageId, { key: entryKey, at: this.#now() });
    while (this.#byId.size > MAX) this.#byId.delete(this.#byId.keys().next().value!);
  }

  /** The entry key for a client's Sent copy of a message submitted lately, if it is one. */
  entryKeyFor(raw: Buffer): string | undefined {
    const messageId = messageIdOf(raw);
    const hit = messageId === undefined ? undefined : this.#byId.get(messageId);
    if (!hit || this.#now() - hit.at > KEEP_MS) return undefined;
    return hit.key;
  }
}

export function messageIdOf(raw: Buffer): string | undefined {
  const f = splitEntity(raw).fields.find((x) => x.key === 'message-id');
  return /<[^>\r\n]+>/.exec(f?.value ?? '')?.[0];
}
