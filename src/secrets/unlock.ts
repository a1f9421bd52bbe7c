/**
 * Getting the root secret: created once per profile, then unlocked on every start.
 *
 * Where it is kept, in order of preference:
 *  1. a passphrase the user gave for headless use (WAXSEAL_PASSPHRASE): wrapped in secret.json;
 *  2. the OS keychain, when one answers;
 *  3. a passphrase asked for on the terminal: wrapped in secret.json.
 * With none of these (no keychain, no terminal, no variable) creation fails with a message
 * saying exactly that, before anything is written.
 */
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { WaxsealError } from '../util/errors.js';
import type { Keychain } from './keychain.js';
import { ROOT_SECRET_BYTES, newRootSecret } from './root.js';
import { type ScryptCost, STRONG_SCRYPT, type WrappedSecret, unwrapSecret, wrapSecret } from './passphrase.js';

export interface PassphraseSource {
  /** A passphrase given up front (environment), if any. */
  given?: string | undefined;
  /** Ask the user; undefined when there is no one to ask (no terminal). */
  ask?: ((question: string, confirm: boolean) => Promise<string>) | undefined;
}

export interface SecretLocation {
  profileId: string;
  wrappedFile: string;
  keychain: Keychain;
  passphrase: PassphraseSource;
  /** Test hook: cheaper scrypt. Production always uses STRONG_SCRYPT. */
  scrypt?: ScryptCost;
}

export async function createRootSecret(loc: SecretLocation): Promise<{ secret: Buffer; store: 'keychain' | 'passphrase' }> {
  return keepRootSecret(loc, newRootSecret());
}

/** Keep a root secret made elsewhere (received from a paired device) the way a new one is kept. */
export async function keepRootSecret(loc: SecretLocation, secret: Buffer): Promise<{ secret: Buffer; store: 'keychain' | 'passphrase' }> {
  if (secret.length !== ROOT_SECRET_BYTES) throw new WaxsealError('ENOSECRET', `A root secret is ${ROOT_SECRET_BYTES} bytes`);
  if (loc.passphrase.given !== undefined) {
    await writeWrapped(loc, secret, loc.passphrase.given);
    return { secret, store: 'passphrase' };
  }
  const probe = await loc.keychain.probe();
  if (probe.available) {
    await loc.keychain.set(loc.profileId, secret);
    return { secret, store: 'keychain' };
  }
  if (!loc.passphrase.ask) {
    throw new WaxsealError(
      'ENOSECRETSTORE',
      `${probe.reason.replace(/\.$/, '')}. There is no terminal to ask for a passphrase: ` +
        'set WAXSEAL_PASSPHRASE to protect the profile with one, or start a keyring (e.g. gnome-keyring).',
    );
  }
  const pass = await loc.passphrase.ask(`${probe.reason.replace(/\.$/, '')}.\nChoose a passphrase for this profile: `, true);
  await writeWrapped(loc, secret, pass);
  return { secret, store: 'passphrase' };
}

export async function unlockRootSecret(loc: SecretLocation, store: 'keychain' | 'passphrase'): Promise<Buffer> {
  if (store === 'keychain') {
    const secret = await loc.keychain.get(loc.profileId);
    if (!secret) {
      throw new WaxsealError('ENOSECRET', 'The OS keychain has no secret for this profile (was it deleted, or is this another keyring?)');
    }
    if (secret.length !== ROOT_SECRET_BYTES) throw new WaxsealError('ENOSECRET', 'The secret in the OS keychain is damaged');
    return secret;
  }
  let wrapped: WrappedSecret;
  try {
    wrapped = JSON.parse(readFileSync(loc.wrappedFile, 'utf8'));
  } catch (err) {
    throw new WaxsealError('ESECRETFILE', `Could not read the wrapped secret at ${loc.wrappedFile}`, { cause: err });
  }
  let pass = loc.passphrase.given;
  if (pass === undefined) {
    if (!loc.passphrase.ask) {
      throw new WaxsealError('EPASSPHRASE', 'This profile is protected by a passphrase: set WAXSEAL_PASSPHRASE or run in a terminal');
    }
    pass = await loc.passphrase.ask('Passphrase: ', false);
  }
  return unwrapSecret(wrapped, pass);
}

async function writeWrapped(loc: SecretLocation, secret: Buffer, pass: string): Promise<void> {
  const wrapped = await wrapSecret(secret, pass, loc.scrypt ?? STRONG_SCRYPT);
  const tmp = `${loc.wrappedFile}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(wrapped)}\n`, { mode: 0o600 });
  renameSync(tmp, loc.wrappedFile);
}
