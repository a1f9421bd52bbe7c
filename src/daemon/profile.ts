/**
 * Creating and unlocking a profile: the settings file, the root secret and the store with
 * its standard mailboxes. Creation writes the secret first and the settings last, so an
 * interrupted `init` leaves no profile that looks complete but cannot be unlocked.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { WaxsealError } from '../util/errors.js';
import { profilePaths, type ProfilePaths } from '../config/paths.js';
import { newProfile, readProfile, writeProfile, type ProfileConfig } from '../config/profile.js';
import type { Keychain } from '../secrets/keychain.js';
import type { ScryptCost } from '../secrets/passphrase.js';
import { deriveKeys, type DerivedKeys } from '../secrets/root.js';
import { createRootSecret, unlockRootSecret, type PassphraseSource } from '../secrets/unlock.js';
import { Store } from '../store/store.js';
import { openKeyring } from './keyring.js';

export interface SecretAccess {
  keychain: Keychain;
  passphrase: PassphraseSource;
  scrypt?: ScryptCost;
}

/** RFC 6154 special-use mailboxes every profile starts with. */
export const STANDARD_MAILBOXES: Array<[string, string | null]> = [
  ['INBOX', null],
  ['Sent', '\\Sent'],
  ['Drafts', '\\Drafts'],
  ['Trash', '\\Trash'],
  ['Junk', '\\Junk'],
  ['Archive', '\\Archive'],
];

export interface UnlockedProfile {
  paths: ProfilePaths;
  profile: ProfileConfig;
  keys: DerivedKeys;
  /** The root secret itself: only pairing a new device needs it. */
  root: Buffer;
}

function location(paths: ProfilePaths, profileId: string, access: SecretAccess) {
  return { profileId, wrappedFile: paths.wrappedSecret, ...access };
}

export async function initProfile(opts: { dataDir: string; email: string; name?: string } & SecretAccess): Promise<UnlockedProfile> {
  const paths = profilePaths(opts.dataDir);
  if (existsSync(paths.config)) {
    throw new WaxsealError('EEXISTS', `A profile already exists at ${opts.dataDir}; use another --data-dir to create a second one`);
  }
  const draft = newProfile({ email: opts.email, ...(opts.name !== undefined ? { name: opts.name } : {}), secretStore: 'keychain' });
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const { secret, store: secretStore } = await createRootSecret(location(paths, draft.profileId, opts));
  const profile: ProfileConfig = { ...draft, secretStore };
  const keys = deriveKeys(secret);
  try {
    const store = await Store.open({ dir: paths.store, keys, device: profile.device });
    for (const [name, use] of STANDARD_MAILBOXES) await store.createMailbox(name, use);
    await openKeyring(store, draft).generate({ email: draft.email, ...(draft.name ? { name: draft.name } : {}) });
    await store.close();
  } catch (err) {
    // Leave no half-made store behind to confuse the next `init`.
    rmSync(paths.store, { recursive: true, force: true });
    throw err;
  }
  writeProfile(paths.config, profile);
  return { paths, profile, keys, root: secret };
}

export async function unlockProfile(opts: { dataDir: string } & SecretAccess): Promise<UnlockedProfile> {
  const paths = profilePaths(opts.dataDir);
  const profile = readProfile(paths.config);
  const secret = await unlockRootSecret(location(paths, profile.profileId, opts), profile.secretStore);
  return { paths, profile, keys: deriveKeys(secret), root: secret };
}
