/**
 * The root secret wrapped under a passphrase, for machines without an OS keychain and for
 * headless use (WAXSEAL_PASSPHRASE). scrypt with N=2^17, r=8 (128 MiB, ~0.4 s here) makes
 * each guess expensive; AES-256-GCM's tag tells a wrong passphrase from a right one without
 * ever producing a wrong key that could touch data.
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt as scryptCb } from 'node:crypto';
import { WaxsealError } from '../util/errors.js';

export interface ScryptCost {
  N: number;
  r: number;
  p: number;
}

export const STRONG_SCRYPT: ScryptCost = { N: 2 ** 17, r: 8, p: 1 };

export interface WrappedSecret {
  v: 1;
  kdf: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string;
  iv: string;
  ct: string;
}

const AAD = Buffer.from('waxseal/v1/root-secret');

/** A 32-byte key from a passphrase (NFC-normalised) or code; also used to wrap pairing offers. */
export function scryptKey(passphrase: string, salt: Buffer, cost: ScryptCost): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(
      passphrase.normalize('NFC'),
      salt,
      32,
      { ...cost, maxmem: 256 * cost.N * cost.r + 16 * 1024 * 1024 },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}

export async function wrapSecret(secret: Buffer, passphrase: string, cost: ScryptCost = STRONG_SCRYPT): Promise<WrappedSecret> {
  if (passphrase.length === 0) throw new WaxsealError('EPASSPHRASE', 'The passphrase must not be empty');
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const key = await scryptKey(passphrase, salt, cost);
  const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(AAD);
  const ct = Buffer.concat([cipher.update(secret), cipher.final(), cipher.getAuthTag()]);
  return { v: 1, kdf: 'scrypt', ...cost, salt: salt.toString('base64'), iv: iv.toString('base64'), ct: ct.toString('base64') };
}

export async function unwrapSecret(wrapped: WrappedSecret, passphrase: string): Promise<Buffer> {
  if (wrapped?.v !== 1 || wrapped.kdf !== 'scrypt') {
    throw new WaxsealError('ESECRETFILE', 'The wrapped secret file has an unknown format');
  }
  const key = await scryptKey(passphrase, Buffer.from(wrapped.salt, 'base64'), wrapped);
  const ct = Buffer.from(wrapped.ct, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(wrapped.iv, 'base64')).setAAD(AAD);
  decipher.setAuthTag(ct.subarray(ct.length - 16));
  try {
    return Buffer.concat([decipher.update(ct.subarray(0, ct.length - 16)), decipher.final()]);
  } catch {
    throw new WaxsealError('EPASSPHRASE', 'Wrong passphrase: the profile was not unlocked and nothing was changed');
  }
}
