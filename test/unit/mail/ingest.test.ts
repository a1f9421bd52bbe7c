import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ingest } from '../../../src/mail/ingest.js';
import { Keyring } from '../../../src/mail/keyring.js';
import { generateOwnKey } from '../../../src/openpgp/keys.js';
import { transformOutgoing } from '../../../src/openpgp/outgoing.js';
import { Store } from '../../../src/store/store.js';
import { deriveKeys, newRootSecret } from '../../../src/secrets/root.js';
import { makeTempDir, type TempDir } from '../../harness/tmp.js';

let dir: TempDir;
let store: Store;
before(async () => {
  dir = await makeTempDir('waxseal-ingest-');
  store = await Store.open({ dir: join(dir.path, 'store'), keys: deriveKeys(newRootSecret()) });
  await store.createMailbox('INBOX');
});
after(async () => {
  await store?.close();
  await dir?.cleanup();
});

test('encrypted mail is stored decrypted and labelled, its Autocrypt key learned; plain and broken mail are kept', async () => {
  const keyring = new Keyring({ records: store.records });
  await keyring.generate({ email: 'me@example.org' });
  const me = (await keyring.ownKeys())[0]!;
  const friend = await generateOwnKey({ email: 'friend@example.com' });
  const raw = Buffer.from('From: friend@example.com\r\nTo: me@example.org\r\nSubject: hello there\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nsecret words\r\n');
  const sealed = (await transformOutgoing({ raw, sender: { address: 'friend@example.com', key: friend }, recipients: [{ address: 'me@example.org', key: me.toPublic() }], policy: 'always' })).raw;
  const plain = Buffer.from('From: x@example.net\r\nSubject: plain\r\n\r\nplain\r\n');
  const broken = Buffer.from('From: y@example.net\r\nContent-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary=b\r\n\r\n--b\r\n\r\nVersion: 1\r\n--b\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n\r\nzzzz\r\n-----END PGP MESSAGE-----\r\n--b--\r\n');
  const out = await ingest({ store, keyring }, [{ raw: sealed }, { raw: plain, flags: ['\\Seen'] }, { raw: broken }]);
  assert.deepEqual(out.map((o) => [o.encryption, o.signature]), [['encrypted', 'valid'], ['none', 'none'], ['failed', 'none']]);
  const box = store.mailboxByName('INBOX')!;
  const texts = await Promise.all(out.map((o) => store.read(store.index.entry(o.imported.entry)!)));
  assert.match(texts[0]!.toString(), /Subject: hello there\r\n[\s\S]*\r\n\r\nsecret words\r\n$/);
  assert.ok(texts[1]!.toString().endsWith(plain.toString()));
  assert.ok(texts[2]!.toString().endsWith(broken.toString()), 'kept as received');
  assert.equal(box.entries.size, 3);
  assert.equal((await keyring.lookup('friend@example.com', { network: false })).source, 'autocrypt');
});

test('a batch teaches the keyring what the same messages one by one would', async () => {
  const friend = await generateOwnKey({ email: 'batch@example.com' });
  const { autocryptHeaderValue } = await import('../../../src/openpgp/autocrypt.js');
  const header = autocryptHeaderValue('batch@example.com', friend.toPublic());
  const mail = (day: number, autocrypt: boolean, from = 'batch@example.com') =>
    Buffer.from(`From: ${from}\r\n${autocrypt ? `Autocrypt: ${header}\r\n` : ''}Subject: d${day}\r\nDate: ${new Date(Date.UTC(2026, 0, day)).toUTCString()}\r\n\r\nbody\r\n`);
  // Out of date order, some with the sender's key, another sender and one without a date.
  const raws = [mail(9, false), mail(3, true), mail(5, false), mail(6, false), mail(7, true), mail(2, false), mail(8, false), mail(4, false, 'other@example.net'), Buffer.from('From: nodate@example.net\r\n\r\nx\r\n')];
  const { openIncoming, openItems } = await import('../../../src/mail/ingest.js');
  const one = new Keyring({ records: (await Store.open({ dir: join(dir.path, 'one'), keys: deriveKeys(newRootSecret()) })).records, now: () => Date.UTC(2026, 5, 1) });
  const batch = new Keyring({ records: (await Store.open({ dir: join(dir.path, 'batch'), keys: deriveKeys(newRootSecret()) })).records, now: () => Date.UTC(2026, 5, 1) });
  for (const raw of raws) await openIncoming(one, raw);
  await openItems(batch, raws.map((raw) => ({ raw })));
  for (const addr of ['batch@example.com', 'other@example.net', 'nodate@example.net']) {
    assert.deepEqual(await batch.peer(addr), await one.peer(addr), addr);
  }
  assert.equal((await batch.peer('batch@example.com'))?.autocryptTimestamp, Date.UTC(2026, 0, 7));
});
