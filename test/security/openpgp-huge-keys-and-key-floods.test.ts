/**
 * Huge keys and key floods: a key block too big to be a key, more keys in one block than any
 * keyring import needs, an Autocrypt header with megabytes of keydata, and an attachment
 * holding a flood of keys. Each is refused or skipped with a clear result, nothing stored.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { generateOwnKey, parseKeyBlock, MAX_KEYS_PER_BLOCK } from '../../src/openpgp/keys.js';
import { parseAutocryptHeader } from '../../src/openpgp/autocrypt.js';
import { Keyring } from '../../src/mail/keyring.js';
import { Store } from '../../src/store/store.js';
import { deriveKeys, newRootSecret } from '../../src/secrets/root.js';
import { isWaxsealError } from '../../src/util/errors.js';
import { makeTempDir, type TempDir } from '../harness/tmp.js';

let dir: TempDir;
let store: Store;
before(async () => {
  dir = await makeTempDir('waxseal-flood-');
  store = await Store.open({ dir: join(dir.path, 'store'), keys: deriveKeys(newRootSecret()) });
});
after(async () => {
  await store?.close();
  await dir?.cleanup();
});

test('oversized blocks and floods are refused with ETOOBIG; nothing is stored', async () => {
  const keyring = new Keyring({ records: store.records });
  await assert.rejects(parseKeyBlock(new Uint8Array(17 * 1024 * 1024)), (e) => isWaxsealError(e, 'ETOOBIG'));
  const one = Buffer.from((await generateOwnKey({ email: 'flood@example.com' })).toPublic().write());
  const flood = Buffer.concat(Array.from({ length: MAX_KEYS_PER_BLOCK + 1 }, () => one));
  await assert.rejects(keyring.import(flood), (e) => isWaxsealError(e, 'ETOOBIG') && /at most 64/.test(e.message));
  assert.deepEqual(await keyring.peers(), []);
});

test('an Autocrypt header with megabytes of keydata is ignored; a flood attachment teaches nothing', async () => {
  const keyring = new Keyring({ records: store.records });
  const huge = `addr=bob@example.net; keydata=${Buffer.alloc(2 * 1024 * 1024, 1).toString('base64')}`;
  assert.equal(parseAutocryptHeader(huge), null);
  const one = Buffer.from((await generateOwnKey({ email: 'flood@example.com' })).toPublic().write());
  const flood = Buffer.concat(Array.from({ length: 5000 }, () => one));
  await keyring.learn('mallory@example.com', Date.now(), { autocrypt: null, gossip: [], attachedKeys: [flood] }, false);
  assert.equal((await keyring.lookup('flood@example.com', { network: false })).key, undefined);
  assert.deepEqual((await keyring.peers()).filter((p) => p.attachment || p.autocryptKey), []);
});
