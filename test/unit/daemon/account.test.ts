/**
 * Where the provider password is kept: in a real gnome-keyring for keychain profiles, sealed
 * in the local store for passphrase profiles, never in config.json; WAXSEAL_UPSTREAM_PASSWORD
 * wins over both. A refused login saves nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { profilePaths } from '../../../src/config/paths.js';
import { newProfile, readProfile, writeProfile, type ProfileConfig } from '../../../src/config/profile.js';
import { readUpstreamPassword, setAccount } from '../../../src/daemon/account.js';
import { createOsKeychain } from '../../../src/secrets/keychain.js';
import { deriveKeys, newRootSecret } from '../../../src/secrets/root.js';
import { Store } from '../../../src/store/store.js';
import type { AccountSettings } from '../../../src/upstream/port.js';
import { startKeyring, type KeyringHarness } from '../../harness/keyring.js';
import { startDovecot, type Dovecot } from '../../harness/provider.js';
import { makeTempDir, type TempDir } from '../../harness/tmp.js';
import { testAccount } from '../../harness/upstream.js';

const ALICE = { user: 'alice@example.org', password: 'pw-for-the-provider' };
let dovecot: Dovecot;
let keyring: KeyringHarness;
let tmp: TempDir;

before(async () => {
  [dovecot, keyring, tmp] = await Promise.all([startDovecot({ users: [ALICE] }), startKeyring(), makeTempDir('waxseal-account-')]);
});
after(async () => {
  await Promise.all([dovecot?.stop(), keyring?.stop(), tmp?.cleanup()]);
});

async function profileIn(name: string, secretStore: ProfileConfig['secretStore']) {
  const paths = profilePaths(join(tmp.path, name));
  const profile = newProfile({ email: ALICE.user, secretStore });
  writeProfile(paths.config, profile);
  const store = await Store.open({ dir: paths.store, keys: deriveKeys(newRootSecret()) });
  return { paths, profile, store };
}

test('keychain profile: the password goes to the keychain only', async () => {
  const { paths, profile, store } = await profileIn('kc', 'keychain');
  const keychain = createOsKeychain({ env: { ...process.env, ...keyring.env } });
  try {
    const account: AccountSettings = testAccount(dovecot, ALICE.user);
    const saved = await setAccount({ paths, profile, store, keychain, request: { account, password: ALICE.password } });
    assert.deepEqual(readProfile(paths.config).account, account);
    assert.doesNotMatch(readFileSync(paths.config, 'utf8'), /pw-for-the-provider/);
    assert.equal((await keychain.get(`${profile.profileId}-upstream`))?.toString(), ALICE.password);
    assert.equal(await store.getLocal('upstream-password'), undefined);
    assert.equal(await readUpstreamPassword({ profile: saved, store, keychain, env: {} }), ALICE.password);
    assert.equal(await readUpstreamPassword({ profile: saved, store, keychain, env: { WAXSEAL_UPSTREAM_PASSWORD: 'from-env' } }), 'from-env');
  } finally {
    await store.close();
  }
});

test('passphrase profile: the password is sealed in the local store', async () => {
  const { paths, profile, store } = await profileIn('pp', 'passphrase');
  try {
    const saved = await setAccount({ paths, profile, store, request: { account: testAccount(dovecot, ALICE.user), password: ALICE.password } });
    assert.equal(await readUpstreamPassword({ profile: saved, store, env: {} }), ALICE.password);
  } finally {
    await store.close();
  }
});

test('a refused login saves nothing', async () => {
  const { paths, profile, store } = await profileIn('bad', 'passphrase');
  try {
    await assert.rejects(
      setAccount({ paths, profile, store, request: { account: testAccount(dovecot, ALICE.user), password: 'not-the-pw-xyz' } }),
      (err: Error & { code?: string }) => err.code === 'EAUTH' && /refused the login for alice@example.org/.test(err.message) && !err.message.includes('not-the-pw-xyz'),
    );
    assert.equal(readProfile(paths.config).account, null);
    assert.equal(await readUpstreamPassword({ profile, store, env: {} }), undefined);
  } finally {
    await store.close();
  }
});
