/**
 * Pairing a second device without the server learning anything: the first device wraps the
 * root secret (with it, every sealed document, the user's private key among them, opens)
 * under a one-time code and leaves it on the server; the second device, given the code by
 * the user, fetches, unwraps and deletes it.
 *
 * Modelled on the Autocrypt Setup Message: the code is 40 random digits shown in ten groups
 * of four (~133 bits, so it cannot be guessed even offline), stretched with scrypt all the
 * same, and the wrap is AES-256-GCM, its associated data binding the document id. The
 * address, name and expiry travel inside the wrap, padded to a fixed size; the document id is
 * a hash of the code. Expiry is enforced by the joiner (the time is inside the authenticated
 * plaintext, so a server cannot extend it) and by deleting; single use by deleting, with the
 * revision read, so of two devices racing with one code only one succeeds.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomInt } from 'node:crypto';
import { WaxsealError } from '../util/errors.js';
import { ROOT_SECRET_BYTES } from '../secrets/root.js';
import { STRONG_SCRYPT, scryptKey, type ScryptCost } from '../secrets/passphrase.js';
import { PAIR_DB, pairDocId } from './names.js';
import { ensureDb, request, type RemoteServer } from './remote.js';

export interface PairingPayload {
  root: Buffer;
  email: string;
  name: string;
}

interface PairDoc {
  _id: string;
  _rev?: string;
  v: 1;
  N: number;
  r: number;
  p: number;
  salt: string;
  iv: string;
  ct: string;
}

const GROUPS = 10;
const PADDED = 1024;
export const DEFAULT_PAIRING_TTL_MS = 10 * 60_000;

export function newPairingCode(): string {
  return Array.from({ length: GROUPS }, () => String(randomInt(0, 10_000)).padStart(4, '0')).join('-');
}

/** The 40 digits of a code as typed (spaces, dashes and line breaks are ignored). */
export function codeDigits(code: string): string {
  const digits = code.replace(/[\s-]/g, '');
  if (!/^\d+$/.test(digits) || digits.length !== GROUPS * 4) {
    throw new WaxsealError('EUSAGE', `A pairing code is ${GROUPS * 4} digits in ${GROUPS} groups of four, as \`waxseal sync pair\` printed it`);
  }
  return digits;
}


const aad = (id: string) => Buffer.from(`waxseal/v1/pair\0${id}`);

/** Leave the wrapped secret on the server; returns the code to show the user. */
export async function offerPairing(opts: { server: RemoteServer; payload: PairingPayload; ttlMs?: number; scrypt?: ScryptCost; now?: number }): Promise<{ code: string; expires: Date; id: string }> {
  const code = newPairingCode();
  const digits = codeDigits(code);
  const now = opts.now ?? Date.now();
  const expires = now + (opts.ttlMs ?? DEFAULT_PAIRING_TTL_MS);
  const id = pairDocId(digits);
  const body = JSON.stringify({ v: 1, root: opts.payload.root.toString('base64'), email: opts.payload.email, name: opts.payload.name, created: now, expires });
  if (body.length >= PADDED) throw new WaxsealError('EUSAGE', 'The profile name is too long to pair');
  const plain = Buffer.from(body.padEnd(PADDED, ' '), 'utf8');
  const cost = opts.scrypt ?? STRONG_SCRYPT;
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const key = await scryptKey(digits, salt, cost);
  const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(aad(id));
  const ct = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
  const doc: PairDoc = { _id: id, v: 1, ...cost, salt: salt.toString('base64'), iv: iv.toString('base64'), ct: ct.toString('base64') };
  await ensureDb(opts.server, PAIR_DB);
  await request(opts.server, `/${PAIR_DB}/${id}`, { method: 'PUT', body: doc });
  return { code, expires: new Date(expires), id };
}

/** Remove an offer (it expired, or it was used); false when it was already gone. */
export async function withdrawPairing(opts: { server: RemoteServer; id: string }): Promise<boolean> {
  const doc = await request<PairDoc>(opts.server, `/${PAIR_DB}/${opts.id}`);
  if (!doc?._rev) return false;
  return (await request(opts.server, `/${PAIR_DB}/${opts.id}?rev=${encodeURIComponent(doc._rev)}`, { method: 'DELETE' })) !== undefined;
}

const UNKNOWN = 'There is no pairing with this code on the server: it is mistyped, was already used, or has expired. Run `waxseal sync pair` on your other device for a new code';

/** Fetch, unwrap and delete the offer for `code`. */
export async function acceptPairing(opts: { server: RemoteServer; code: string; now?: number }): Promise<PairingPayload> {
  const digits = codeDigits(opts.code);
  const id = pairDocId(digits);
  const doc = await request<PairDoc>(opts.server, `/${PAIR_DB}/${id}`);
  if (!doc) throw new WaxsealError('ENOPAIRING', UNKNOWN);
  if (doc.v !== 1 || typeof doc.ct !== 'string' || !(doc.N >= 2 ** 14 && doc.N <= 2 ** 20 && doc.r >= 1 && doc.r <= 32 && doc.p >= 1 && doc.p <= 4)) {
    throw new WaxsealError('ETAMPERED', 'The pairing document on the server is malformed or was tampered with; nothing was changed');
  }
  const key = await scryptKey(digits, Buffer.from(doc.salt, 'base64'), { N: doc.N, r: doc.r, p: doc.p });
  const ct = Buffer.from(doc.ct, 'base64');
  let plain: Buffer;
  try {
    const d = createDecipheriv('aes-256-gcm', key, Buffer.from(doc.iv, 'base64')).setAAD(aad(id));
    d.setAuthTag(ct.subarray(ct.length - 16));
    plain = Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]);
  } catch {
    throw new WaxsealError('ETAMPERED', 'The pairing document on the server does not open with this code: it was tampered with; nothing was changed');
  }
  const body = JSON.parse(plain.toString('utf8').trimEnd()) as { root: string; email: string; name: string; expires: number };
  const root = Buffer.from(body.root, 'base64');
  if (root.length !== ROOT_SECRET_BYTES || typeof body.email !== 'string') throw new WaxsealError('ETAMPERED', 'The pairing document holds no valid secret');
  const gone = await request(opts.server, `/${PAIR_DB}/${id}?rev=${encodeURIComponent(doc._rev!)}`, { method: 'DELETE' }).catch(() => undefined);
  if ((opts.now ?? Date.now()) > body.expires) {
    throw new WaxsealError('EEXPIRED', `This pairing code expired at ${new Date(body.expires).toISOString()}; run \`waxseal sync pair\` on your other device for a new one`);
  }
  if (gone === undefined) throw new WaxsealError('ENOPAIRING', 'This pairing code was used by another device at the same moment; pair again');
  return { root, email: body.email, name: body.name };
}
