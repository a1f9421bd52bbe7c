/**
 * Offline mode stops all network use, key lookups included, and switching it at run time
 * applies at once: a daemon's keyring asks a (loopback) key server only while online.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readProfile, writeProfile } from '../../src/config/profile.js';
import { profilePaths } from '../../src/config/paths.js';
import { generateOwnKey } from '../../src/openpgp/keys.js';
import { initDaemonProfile, startDaemon } from '../harness/daemon.js';
import { makeTempDir } from '../harness/tmp.js';
import { serve } from '../unit/openpgp/key-server.js';

test('offline, the keyring asks no key server and remembers no "no key"; back online it asks', async () => {
  const far = (await generateOwnKey({ email: 'far@example.net' })).toPublic();
  const vks = await serve({ '/vks/v1/by-email/far%40example.net': far.armor() });
  const dir = await makeTempDir('waxseal-offline-keys-');
  try {
    const paths = profilePaths(await initDaemonProfile(dir));
    const profile = readProfile(paths.config);
    profile.openpgp = { ...profile.openpgp, sources: { ...profile.openpgp.sources, wkd: false, vks: true }, vks: vks.base, lookupTimeoutMs: 2000 };
    profile.offline = true; // started offline
    writeProfile(paths.config, profile);
    const h = await startDaemon({ dir });
    try {
      const off = await h.daemon.keyring.lookup('far@example.net');
      assert.equal(off.key, undefined);
      assert.deepEqual(vks.requests, [], 'no request while offline');

      await h.daemon.setOffline(false);
      const on = await h.daemon.keyring.lookup('far@example.net');
      assert.equal(on.key?.getFingerprint(), far.getFingerprint(), 'found at once: the offline answer was not remembered');
      assert.equal(on.source, 'vks');
      assert.equal(vks.requests.length, 1);

      await h.daemon.setOffline(true);
      const other = await h.daemon.keyring.lookup('other@example.net');
      assert.equal(other.key, undefined);
      assert.equal(vks.requests.length, 1, 'offline again: no request');
    } finally {
      await h.stop();
    }
  } finally {
    await vks.close();
    await dir.cleanup();
  }
});
