/**
 * `waxseal sync join`: make a profile on this device from a paired one. It is `init` with the
 * root secret received instead of made: the secret is kept in this device's keychain or under
 * its own passphrase exactly as `init` keeps a new one, and no mailboxes or keys are created
 * (they arrive by replication). The user's keys are pulled before the profile is written, so
 * the first start finds the private key and does not make a second one.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { profilePaths } from '../config/paths.js';
import { newProfile, writeProfile, type ProfileConfig } from '../config/profile.js';
import { deriveKeys } from '../secrets/root.js';
import { keepRootSecret } from '../secrets/unlock.js';
import { PouchDB } from '../store/pouch.js';
import { Sealer } from '../store/seal.js';
import { Store } from '../store/store.js';
import { guardedTarget } from '../sync/door.js';
import { remoteDbName } from '../sync/names.js';
import { acceptPairing } from '../sync/pairing.js';
import { checkServer, parseServerUrl, remoteDb, type RemoteServer } from '../sync/remote.js';
import { WaxsealError } from '../util/errors.js';
import type { SecretAccess, UnlockedProfile } from './profile.js';

export async function joinProfile(opts: { dataDir: string; url: string; password?: string | undefined; code: string } & SecretAccess): Promise<UnlockedProfile & { keysPulled: number }> {
  const paths = profilePaths(opts.dataDir);
  if (existsSync(paths.config)) {
    throw new WaxsealError('EEXISTS', `A profile already exists at ${opts.dataDir}; join into another --data-dir`);
  }
  const server: RemoteServer = { url: parseServerUrl(opts.url), ...(opts.password ? { password: opts.password } : {}) };
  await checkServer(server);
  const payload = await acceptPairing({ server, code: opts.code });
  const draft: ProfileConfig = { ...newProfile({ email: payload.email, name: payload.name, secretStore: 'keychain' }), sync: { couchdb: server.url } };
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const { store: secretStore } = await keepRootSecret({ profileId: draft.profileId, wrappedFile: paths.wrappedSecret, ...opts }, payload.root);
  const profile: ProfileConfig = { ...draft, secretStore };
  const keys = deriveKeys(payload.root);
  let keysPulled = 0;
  try {
    const store = await Store.open({ dir: paths.store, keys, device: profile.device });
    try {
      await store.putLocal('couchdb-password', opts.password ?? null);
      const remote = remoteDb(server, remoteDbName(keys.id, 'keys'));
      const target = guardedTarget({ db: store.replicated().keys, name: 'keys', sealer: new Sealer({ sealKey: keys.seal, idKey: keys.id }), onRefused: () => undefined });
      const result = (await PouchDB.replicate(remote, target, {})) as { docs_written: number };
      keysPulled = result.docs_written;
      await remote.close();
    } finally {
      await store.close();
    }
  } catch (err) {
    rmSync(paths.store, { recursive: true, force: true });
    rmSync(paths.wrappedSecret, { force: true });
    throw err instanceof WaxsealError ? err : new WaxsealError('ESYNC', `Could not fetch your keys from ${server.url}; nothing was kept, join again with a new code`, { cause: err });
  }
  writeProfile(paths.config, profile);
  return { paths, profile, keys, root: payload.root, keysPulled };
}
