/**
 * Mail arriving for the user — from the provider (upstream fetch) or delivered locally (the
 * embedded default's own submissions) — goes through one path: the incoming OpenPGP
 * transform (decrypt, verify, label), what it taught us goes to the keyring, and the result
 * is stored in a mailbox, where every IMAP session sees it.
 *
 * Nothing is dropped: a message the transform cannot decrypt is stored as received with its
 * label, and a failure of the transform itself stores the original with a "failed" label.
 */
import { transformIncoming, type IncomingResult } from '../openpgp/incoming.js';
import { field, joinEntity, splitEntity } from '../mime/pgpmime.js';
import type { Store, Imported } from '../store/store.js';
import { WaxsealError, errorMessage } from '../util/errors.js';
import type { Keyring } from './keyring.js';

export interface IngestItem {
  raw: Buffer;
  flags?: string[];
  date?: Date;
  /** Deterministic entry key (e.g. provider UIDVALIDITY+UID), so a retry makes no duplicate. */
  key?: string;
}

export interface IngestOutcome {
  imported: Imported;
  encryption: IncomingResult['encryption'];
  signature: IncomingResult['signature']['status'];
}

export interface IngestOptions {
  store: Store;
  keyring: Keyring;
  /** Mailbox name (default INBOX). */
  mailbox?: string;
}

/** The transform, never throwing: an internal failure keeps the message as received. */
export async function openIncoming(keyring: Keyring, raw: Buffer): Promise<IncomingResult> {
  try {
    const res = await transformIncoming({ raw, decryptionKeys: await keyring.ownKeys(), verificationKeys: (from) => keyring.verificationKeys(from) });
    await keyring.learn(res.from, res.date, res.learned, res.encryption === 'encrypted').catch(() => undefined);
    return res;
  } catch (err) {
    const { fields, body } = splitEntity(raw);
    const kept = fields.filter((f) => !f.key.startsWith('x-waxseal-'));
    const reason = `could not be processed: ${errorMessage(err)}`.replace(/["\r\n\\]/g, ' ').slice(0, 200);
    return {
      raw: joinEntity([field('X-Waxseal-Encryption', `failed; reason="${reason}"`), field('X-Waxseal-Signature', 'none'), ...kept], body),
      encryption: 'failed',
      reason,
      signature: { status: 'none' },
      learned: { autocrypt: null, gossip: [], attachedKeys: [] },
    };
  }
}

/** Stage one of ingest: the transform and key learning, for every item (never throws per item). */
export function openItems(keyring: Keyring, items: Array<{ raw: Buffer }>): Promise<IncomingResult[]> {
  return Promise.all(items.map((i) => openIncoming(keyring, i.raw)));
}

/** Stage two: store items whose `raw` is what openItems made of them, in the named mailbox. */
export async function storeOpened(opts: IngestOptions, items: IngestItem[]): Promise<Imported[]> {
  const name = opts.mailbox ?? 'INBOX';
  const box = opts.store.mailboxByName(name);
  if (!box) throw new WaxsealError('ENOMAILBOX', `No mailbox ${name} to deliver to`);
  return opts.store.import(
    box.logical,
    items.map((item) => ({ raw: item.raw, ...(item.flags ? { flags: item.flags } : {}), ...(item.date ? { date: item.date } : {}), ...(item.key ? { key: item.key } : {}) })),
  );
}

export async function ingest(opts: IngestOptions, items: IngestItem[]): Promise<IngestOutcome[]> {
  const name = opts.mailbox ?? 'INBOX';
  if (!opts.store.mailboxByName(name)) throw new WaxsealError('ENOMAILBOX', `No mailbox ${name} to deliver to`);
  const opened = await openItems(opts.keyring, items);
  const imported = await storeOpened(opts, items.map((item, i) => ({ ...item, raw: opened[i]!.raw })));
  return imported.map((imp, i) => ({ imported: imp, encryption: opened[i]!.encryption, signature: opened[i]!.signature.status }));
}
