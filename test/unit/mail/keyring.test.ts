import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Keyring } from '../../../src/mail/keyring.js';
import { generateOwnKey } from '../../../src/openpgp/keys.js';
import { parseAutocryptHeader } from '../../../src/openpgp/autocrypt.js';
import { autocryptHeaderValue } from '../../../src/openpgp/autocrypt.js';
import { Store } from '../../../src/store/store.js';
import { deriveKeys, newRootSecret } from '../../../src/secrets/root.js';
import { isWaxsealError } from '../../../src/util/errors.js';
import { makeTempDir, type TempDir } from '../../harness/tmp.js';

let dir: TempDir;
let store: Store;
const root = newRootSecret();
const open = () => Store.open({ dir: join(dir.path, 'store'), keys: deriveKeys(root) });

before(async () => {
  dir = await makeTempDir('waxseal-keyring-');
  store = await open();
});
after(async () => {
  await store?.close();
  await dir?.cleanup();
});

const header = async (email: string) => {
  const key = await generateOwnKey({ email });
  return { key, header: parseAutocryptHeader(autocryptHeaderValue(email, key.toPublic()))! };
};

describe('own keys', () => {
  test('generate, list after reopening, export public and secret', async () => {
    const keyring = new Keyring({ records: store.records });
    const made = await keyring.generate({ email: 'me@example.org', name: 'Me' });
    assert.equal(made.version, 4);
    assert.equal(made.algorithm, 'eddsaLegacy/ed25519Legacy');
    await store.close();
    store = await open();
    const again = new Keyring({ records: store.records });
    assert.deepEqual((await again.ownKeys()).map((k) => k.getFingerprint().toUpperCase()), [made.fingerprint]);
    assert.match(await again.export({}), /^-----BEGIN PGP PUBLIC KEY BLOCK-----/);
    assert.match(await again.export({ fingerprint: made.fingerprint.slice(-16), secret: true }), /^-----BEGIN PGP PRIVATE KEY BLOCK-----/);
    await assert.rejects(again.export({ fingerprint: 'ABCD' }), (e) => isWaxsealError(e, 'ENOKEY'));
  });

  test('the secret key is nowhere in the store files in the clear', async () => {
    const keyring = new Keyring({ records: store.records });
    const key = (await keyring.ownKeys())[0]!;
    const docs = JSON.stringify((await store.replicated().keys.allDocs({ include_docs: true })).rows);
    const secretPacket = Buffer.from(key.keyPacket.write()).toString('base64').slice(0, 40);
    assert.ok(!docs.includes(secretPacket));
    assert.ok(!docs.includes('me@example.org'));
  });

  test('extend expiry keeps old signatures valid; revoke makes the key unusable for signing', async () => {
    const keyring = new Keyring({ records: store.records });
    const fpr = (await keyring.ownKeys())[0]!.getFingerprint();
    const until = new Date(Date.now() + 90 * 86400_000);
    const extended = await keyring.extend(fpr, until);
    assert.equal(extended.expires?.slice(0, 10), until.toISOString().slice(0, 10));
    assert.equal(extended.unusable, false);
    await assert.rejects(keyring.extend(fpr, new Date(Date.now() - 1000)), (e) => isWaxsealError(e, 'EUSAGE'));
    const revoked = await keyring.revoke(fpr, 'retired');
    assert.equal(revoked.revoked, true);
    await assert.rejects(keyring.signingKey('me@example.org'), (e) => isWaxsealError(e, 'ENOKEY') && /waxseal keys generate/.test(e.message));
  });

  test('import refuses garbage and passphrase-protected keys with a clear error, changing nothing', async () => {
    const keyring = new Keyring({ records: store.records });
    const before = (await keyring.ownKeys()).length;
    await assert.rejects(keyring.import('not a key'), (e) => isWaxsealError(e, 'EBADKEY'));
    const locked = await generateOwnKey({ email: 'locked@example.org' });
    const { encryptKey } = await import('openpgp');
    const protectedKey = await encryptKey({ privateKey: locked, passphrase: 'pw' });
    await assert.rejects(keyring.import(protectedKey.armor()), (e) => isWaxsealError(e, 'ELOCKEDKEY'));
    assert.equal((await new Keyring({ records: store.records }).ownKeys()).length, before);
  });
});

describe('other people\'s keys', () => {
  test('Autocrypt: a newer header replaces the key, an older message does not', async () => {
    const keyring = new Keyring({ records: store.records });
    const first = await header('peer@example.com');
    const second = await header('peer@example.com');
    const t = Date.now() - 10_000;
    await keyring.learn('peer@example.com', t, { autocrypt: first.header, gossip: [], attachedKeys: [] }, false);
    assert.equal((await keyring.lookup('peer@example.com')).key?.getFingerprint(), first.key.getFingerprint());
    await keyring.learn('peer@example.com', t + 5000, { autocrypt: second.header, gossip: [], attachedKeys: [] }, false);
    await keyring.learn('peer@example.com', t - 5000, { autocrypt: first.header, gossip: [], attachedKeys: [] }, false);
    const l = await keyring.lookup('Peer@Example.com');
    assert.equal(l.key?.getFingerprint(), second.key.getFingerprint());
    assert.equal(l.source, 'autocrypt');
    assert.equal(l.preferEncrypt, 'mutual');
  });

  test('gossip counts only inside encrypted mail, and only for other addresses', async () => {
    const keyring = new Keyring({ records: store.records });
    const g = await header('gossiped@example.com');
    await keyring.learn('peer@example.com', Date.now(), { autocrypt: null, gossip: [g.header], attachedKeys: [] }, false);
    assert.equal((await keyring.lookup('gossiped@example.com')).key, undefined);
    await keyring.learn('peer@example.com', Date.now(), { autocrypt: null, gossip: [g.header], attachedKeys: [] }, true);
    assert.equal((await keyring.lookup('gossiped@example.com')).source, 'gossip');
  });

  test('a key attached as application/pgp-keys is learned for its own address', async () => {
    const keyring = new Keyring({ records: store.records });
    const attached = await generateOwnKey({ email: 'attached@example.com' });
    const { transformIncoming } = await import('../../../src/openpgp/incoming.js');
    const raw = Buffer.from(
      `From: someone@example.org\r\nContent-Type: multipart/mixed; boundary="m"\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nmy key\r\n--m\r\nContent-Type: application/pgp-keys; name="key.asc"\r\n\r\n${attached.toPublic().armor()}\r\n--m--\r\n`,
    );
    const res = await transformIncoming({ raw, decryptionKeys: [], verificationKeys: async () => [] });
    assert.equal(res.learned.attachedKeys.length, 1);
    await keyring.learn(res.from, res.date, res.learned, false);
    const l = await keyring.lookup('attached@example.com', { network: false });
    assert.deepEqual([l.key?.getFingerprint(), l.source], [attached.getFingerprint(), 'attachment']);
  });

  test('a key with no user ID for the address is not learned from its header', async () => {
    const keyring = new Keyring({ records: store.records });
    const other = await header('someone-else@example.com');
    await keyring.learn('victim@example.com', Date.now(), { autocrypt: { ...other.header, addr: 'victim@example.com' }, gossip: [], attachedKeys: [] }, false);
    assert.equal((await keyring.lookup('victim@example.com')).key, undefined);
  });

  test('a verified address keeps its key: a different one is recorded and shown, never used', async () => {
    const keyring = new Keyring({ records: store.records });
    const fpr = (await keyring.lookup('peer@example.com')).key!.getFingerprint();
    await keyring.verify('peer@example.com', fpr);
    const intruder = await header('peer@example.com');
    await keyring.learn('peer@example.com', Date.now() + 1, { autocrypt: intruder.header, gossip: [], attachedKeys: [] }, false);
    const l = await keyring.lookup('peer@example.com');
    assert.equal(l.key?.getFingerprint(), fpr);
    assert.equal(l.verified, true);
    assert.deepEqual(l.changes.map((c) => [c.fingerprint, c.source]), [[intruder.key.getFingerprint().toUpperCase(), 'autocrypt']]);
    await assert.rejects(keyring.verify('peer@example.com', 'DEADBEEF'), (e) => isWaxsealError(e, 'ENOKEY'));
  });

  test('sources can be switched off; network lookups are cached, found or not', async () => {
    let calls = 0;
    const netKey = await generateOwnKey({ email: 'far@example.net' });
    const keyring = new Keyring({
      records: store.records,
      sources: { gossip: false },
      network: async (addr) => {
        calls++;
        return addr === 'far@example.net' ? { keys: [netKey.toPublic()], source: 'wkd' } : null;
      },
    });
    assert.equal((await keyring.lookup('gossiped@example.com')).key, undefined, 'gossip switched off');
    assert.equal(calls, 1, 'and so the network was asked');
    assert.equal((await keyring.lookup('gossiped@example.com')).key, undefined);
    assert.equal(calls, 1, 'a negative answer is cached');
    const far = await keyring.lookup('far@example.net');
    assert.equal(far.source, 'wkd');
    await keyring.lookup('far@example.net');
    assert.equal(calls, 2, 'a fresh network answer is reused');
    let clock = Date.now() + 8 * 24 * 3600_000;
    const later = new Keyring({ records: store.records, now: () => clock, network: async () => (calls++, { keys: [netKey.toPublic()], source: 'vks' }) });
    assert.equal((await later.lookup('far@example.net')).source, 'vks', 'a week-old answer is refreshed');
    assert.equal(calls, 3);
    clock += 1000;
    await later.lookup('far@example.net');
    assert.equal(calls, 3);
    assert.equal((await keyring.lookup('nobody@example.org', { network: false })).key, undefined);
    assert.equal(calls, 3, 'network: false asks nobody');
  });
});

test('an expiry extended on one device and a revocation made on the other merge to one key, either way round', async () => {
  const { setExpiry, revokeOwnKey, describeKey } = await import('../../../src/openpgp/keys.js');
  const { readKey } = await import('openpgp');
  const k = await generateOwnKey({ email: 'both@example.org' });
  const extended = await setExpiry(k, new Date(Date.now() + 90 * 86400_000));
  const revoked = await revokeOwnKey(k, 'retired');
  const rec = (key: typeof k) => ({ key: Buffer.from(key.write()).toString('base64'), addedAt: 1 });
  const ab = await Keyring.mergeOwn(rec(extended), rec(revoked));
  const ba = await Keyring.mergeOwn(rec(revoked), rec(extended));
  assert.equal(ab.key, ba.key, 'the same bytes whichever device merges');
  const info = await describeKey(await readKey({ binaryKey: new Uint8Array(Buffer.from(ab.key, 'base64')) }));
  assert.equal(info.revoked, true, 'the revocation is never lost');
  assert.ok(info.expires, 'nor the new self-signature');
});
