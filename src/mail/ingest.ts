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
async function transformSafe(keyring: Keyring, raw: Buffer): Promise<IncomingResult> {
  try {
    return await transformIncoming({ raw, decryptionKeys: await keyring.ownKeys(), verificationKeys: (from) => keyring.verificationKeys(from) });
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

/** The transform and what it taught the keyring, never throwing. */
export async function openIncoming(keyring: Keyring, raw: Buffer): Promise<IncomingResult> {
  const res = await transformSafe(keyring, raw);
  await keyring.learn(res.from, res.date, res.learned, res.encryption === 'encrypted').catch(() => undefined);
  return res;
}

const taughtNothing = (r: IncomingResult) => !r.learned.autocrypt && r.learned.gossip.length === 0 && r.learned.attachedKeys.length === 0;

/**
 * Learning from a batch: each sender's messages in order, senders in parallel. Most mail
 * teaches nothing but "seen from this sender at this date" (Autocrypt's last_seen, a maximum
 * guarded by a timestamp only a header moves), so a run of such messages counts once, with
 * its latest date: the same state as one by one, for a fraction of the record reads and
 * writes (which cost more than the transform itself for plaintext mail).
 */
async function learnBatch(keyring: Keyring, results: IncomingResult[]): Promise<void> {
  const bySender = new Map<string, IncomingResult[]>();
  const anonymous: IncomingResult[] = [];
  for (const r of results) {
    if (r.from) bySender.set(r.from, [...(bySender.get(r.from) ?? []), r]);
    else if (!taughtNothing(r)) anonymous.push(r);
  }
  const learn = (r: IncomingResult, date: number | undefined) => keyring.learn(r.from, date, r.learned, r.encryption === 'encrypted').catch(() => undefined);
  const sender = async (rs: IncomingResult[]) => {
    let run: IncomingResult[] = [];
    const flush = async () => {
      if (run.length === 0) return;
      // No date means "now" to the keyring, later than any date a message gives.
      const latest = run.some((r) => r.date === undefined) ? undefined : Math.max(...run.map((r) => r.date!));
      await learn(run[0]!, latest);
      run = [];
    };
    for (const r of rs) {
      if (taughtNothing(r)) run.push(r);
      else {
        await flush();
        await learn(r, r.date);
      }
    }
    await flush();
  };
  // Senders whose mail taught nothing else: one record write for all of them.
  const quiet: Array<{ from: string; date: number | undefined }> = [];
  const others: IncomingResult[][] = [];
  for (const [from, rs] of bySender) {
    if (rs.every(taughtNothing)) quiet.push({ from, date: rs.some((r) => r.date === undefined) ? undefined : Math.max(...rs.map((r) => r.date!)) });
    else others.push(rs);
  }
  await Promise.all([keyring.seen(quiet).catch(() => undefined), ...others.map(sender), ...anonymous.map((r) => learn(r, r.date))]);
}

/** Stage one of ingest: the transform for every item, then what the batch taught the keyring. */
export async function openItems(keyring: Keyring, items: Array<{ raw: Buffer }>): Promise<IncomingResult[]> {
  const results = await Promise.all(items.map((i) => transformSafe(keyring, i.raw)));
  await learnBatch(keyring, results);
  return results;
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
