/**
 * OpenPGP keys: make, read, describe, extend and revoke them. Pure functions over openpgp.js
 * objects; where keys are kept is the caller's business (mail/keyring.ts keeps them sealed).
 *
 * Own keys are v4 Ed25519/Cv25519 (openpgp.js `type: 'ecc'`): GnuPG 2.2 rejects the RFC 9580
 * `curve25519` type and v6 keys, and it is what most correspondents run. Keys from others
 * may be v6; openpgp.js reads both.
 */
import {
  enums,
  generateKey,
  readKeys,
  reformatKey,
  revokeKey,
  type Key,
  type PrivateKey,
  type PublicKey,
} from 'openpgp';
import { WaxsealError, errorMessage } from '../util/errors.js';
import { FULL_CONFIG, MAX_KEY_BYTES, PGP_CONFIG } from './config.js';

/** Most keys one block may hold: more is a key flood, not a keyring. */
export const MAX_KEYS_PER_BLOCK = 64;

export interface KeyInfo {
  /** Upper-case hex, 40 digits for v4, 64 for v6. */
  fingerprint: string;
  version: number;
  algorithm: string;
  created: string;
  /** ISO date, or null when the key does not expire. */
  expires: string | null;
  revoked: boolean;
  /** True when the key cannot be used now (revoked, expired or no valid self-signature). */
  unusable: boolean;
  userIds: string[];
  secret: boolean;
}

export function fingerprintOf(key: Key): string {
  return key.getFingerprint().toUpperCase();
}

/** The e-mail addresses of a key's user IDs, lower-cased. */
export function addressesOf(key: Key): string[] {
  const out = new Set<string>();
  for (const user of key.users) {
    const email = user.userID?.email;
    if (email) out.add(email.toLowerCase());
  }
  return [...out];
}

export async function describeKey(key: Key, now = new Date()): Promise<KeyInfo> {
  const info = key.getAlgorithmInfo();
  const revoked = await key.isRevoked(undefined, undefined, now).catch(() => false);
  let expires: string | null = null;
  let unusable = revoked;
  try {
    const exp = await key.getExpirationTime(undefined, FULL_CONFIG);
    if (exp instanceof Date) {
      expires = exp.toISOString();
      if (exp.getTime() <= now.getTime()) unusable = true;
    } else if (exp === null) unusable = true;
  } catch {
    unusable = true;
  }
  return {
    fingerprint: fingerprintOf(key),
    version: key.keyPacket.version,
    algorithm: info.curve ? `${info.algorithm}/${info.curve}` : `${info.algorithm}${info.bits ? `/${info.bits}` : ''}`,
    created: key.getCreationTime().toISOString(),
    expires,
    revoked,
    unusable,
    userIds: key.getUserIDs(),
    secret: key.isPrivate(),
  };
}

export interface NewKeyOptions {
  name?: string;
  email: string;
  /** Seconds from now until the key expires; 0 = never (the default, as GnuPG's is 3 years, Autocrypt's none). */
  expiresIn?: number;
  date?: Date;
}

/** A new v4 Ed25519 signing key with a Cv25519 encryption subkey, unprotected (it is sealed). */
export async function generateOwnKey(opts: NewKeyOptions): Promise<PrivateKey> {
  const userID = opts.name ? { name: opts.name, email: opts.email } : { email: opts.email };
  const { privateKey } = await generateKey({
    type: 'ecc',
    curve: 'ed25519Legacy',
    userIDs: [userID],
    keyExpirationTime: opts.expiresIn ?? 0,
    ...(opts.date ? { date: opts.date } : {}),
    format: 'object',
    config: PGP_CONFIG,
  });
  return privateKey;
}

/**
 * Every key in an armored or binary block, checked: the block has a size cap and a key-count
 * cap (key floods), and unreadable input is one clear error. Armored input may hold several
 * blocks one after another (as `gpg --export` of several keys writes).
 */
export async function parseKeyBlock(input: string | Uint8Array, what = 'key', maxBytes = MAX_KEY_BYTES * MAX_KEYS_PER_BLOCK): Promise<Key[]> {
  if (input.length > maxBytes) {
    throw new WaxsealError('ETOOBIG', `The ${what} is ${input.length} bytes, more than any key block we accept`);
  }
  const text = typeof input === 'string' ? input : looksArmored(input) ? Buffer.from(input).toString('latin1') : undefined;
  let keys: Key[];
  try {
    if (text !== undefined) {
      const blocks = text.match(/-----BEGIN PGP (?:PUBLIC|PRIVATE) KEY BLOCK-----[\s\S]*?-----END PGP (?:PUBLIC|PRIVATE) KEY BLOCK-----/g);
      if (!blocks) throw new Error('no armored key block found');
      keys = [];
      for (const block of blocks) keys.push(...(await readKeys({ armoredKeys: block, config: PGP_CONFIG })));
    } else {
      keys = await readKeys({ binaryKeys: input as Uint8Array, config: PGP_CONFIG });
    }
  } catch (err) {
    throw new WaxsealError('EBADKEY', `The ${what} could not be read as an OpenPGP key (${errorMessage(err)})`, { cause: err });
  }
  if (keys.length > MAX_KEYS_PER_BLOCK) {
    throw new WaxsealError('ETOOBIG', `The ${what} holds ${keys.length} keys; at most ${MAX_KEYS_PER_BLOCK} are read from one block`);
  }
  return keys;
}

function looksArmored(bytes: Uint8Array): boolean {
  const head = Buffer.from(bytes.subarray(0, 4096)).toString('latin1');
  return head.includes('-----BEGIN PGP');
}

/** A key that can sign and decrypt now, or a clear error saying why this one cannot. */
export async function usablePrivateKey(key: Key): Promise<PrivateKey> {
  if (!key.isPrivate()) throw new WaxsealError('EBADKEY', `Key ${fingerprintOf(key)} is a public key; a secret key is needed`);
  const priv = key as PrivateKey;
  if (!priv.isDecrypted()) {
    throw new WaxsealError('ELOCKEDKEY', `Key ${fingerprintOf(key)} is protected by a passphrase; export it without one (gpg --export-secret-keys asks for it) and import again`);
  }
  try {
    await priv.getSigningKey(undefined, new Date(), undefined, FULL_CONFIG);
  } catch (err) {
    throw new WaxsealError('EBADKEY', `Key ${fingerprintOf(key)} cannot sign now (${errorMessage(err)})`, { cause: err });
  }
  return priv;
}

/** True when `key` can be encrypted to now for `address` (any user ID when not given). */
export async function canEncryptTo(key: PublicKey, address?: string, now = new Date()): Promise<boolean> {
  if (address && !addressesOf(key).includes(address.toLowerCase())) return false;
  try {
    await key.getEncryptionKey(undefined, now, undefined, FULL_CONFIG);
    return true;
  } catch {
    return false;
  }
}

/**
 * Move the expiry of an own key to `expiresAt` (null = never). New self-signatures are made
 * and merged into the key, keeping the old ones, so signatures made before today still
 * verify (openpgp.js rejects signatures older than a key's only self-signature).
 */
export async function setExpiry(key: PrivateKey, expiresAt: Date | null, now = new Date()): Promise<PrivateKey> {
  const created = key.getCreationTime().getTime();
  const seconds = expiresAt === null ? 0 : Math.floor((expiresAt.getTime() - created) / 1000);
  if (expiresAt !== null && expiresAt.getTime() <= now.getTime()) {
    throw new WaxsealError('EUSAGE', 'The new expiry date must be in the future');
  }
  const userIDs = key.users.filter((u) => u.userID).map((u) => ({ name: u.userID!.name, email: u.userID!.email, comment: u.userID!.comment }));
  // A self-signature dated one second after the newest existing one, so it wins everywhere.
  const newest = Math.max(...key.users.flatMap((u) => u.selfCertifications.map((s) => s.created?.getTime() ?? 0)), created);
  const date = new Date(Math.max(now.getTime(), newest + 1000));
  const { privateKey } = await reformatKey({
    privateKey: key,
    userIDs,
    keyExpirationTime: seconds,
    date,
    format: 'object',
    config: PGP_CONFIG,
  });
  return key.update(privateKey, date, FULL_CONFIG);
}

export type RevocationReason = 'none' | 'superseded' | 'compromised' | 'retired';

export async function revokeOwnKey(key: PrivateKey, reason: RevocationReason = 'none', text = ''): Promise<PrivateKey> {
  const flag = {
    none: enums.reasonForRevocation.noReason,
    superseded: enums.reasonForRevocation.keySuperseded,
    compromised: enums.reasonForRevocation.keyCompromised,
    retired: enums.reasonForRevocation.keyRetired,
  }[reason];
  const { privateKey } = await revokeKey({ key, reasonForRevocation: { flag, string: text }, format: 'object', config: PGP_CONFIG });
  return privateKey;
}

/**
 * The smallest useful public key for a header (Autocrypt, Gossip): the primary key, the
 * user ID for `address` with its newest self-signature, and the current encryption subkey.
 * Other user IDs and certifications stay out — they tell every recipient who else we are.
 */
export async function minimalPublicKey(key: Key, address: string): Promise<PublicKey> {
  const pub = key.toPublic();
  const addr = address.toLowerCase();
  const keep = pub.users.filter((u) => u.userID?.email?.toLowerCase() === addr);
  const enc = await pub.getEncryptionKey(undefined, new Date(), undefined, FULL_CONFIG).catch(() => undefined);
  if (keep.length === 0 || !enc) return pub;
  const copy = await readKeys({ binaryKeys: pub.write(), config: PGP_CONFIG }).then((k) => k[0]!.toPublic());
  copy.users = copy.users.filter((u) => u.userID?.email?.toLowerCase() === addr).slice(0, 1);
  for (const u of copy.users) u.otherCertifications = [];
  copy.subkeys = copy.subkeys.filter((s) => s.getFingerprint() === enc.getFingerprint());
  return copy;
}
