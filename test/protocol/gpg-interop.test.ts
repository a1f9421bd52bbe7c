/**
 * Interop with GnuPG 2.2, both ways: what Waxseal sends decrypts and verifies in gpg, and
 * what gpg sends (-se compressed, -se -z 0, sign-only) decrypts and verifies in Waxseal. A
 * key made by gpg imports into Waxseal's keyring and signs from there.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readKey, type PrivateKey, type PublicKey } from 'openpgp';
import { startGpg, type Gpg } from '../harness/gpg.js';
import { makeTempDir, type TempDir } from '../harness/tmp.js';
import { generateOwnKey } from '../../src/openpgp/keys.js';
import { transformOutgoing } from '../../src/openpgp/outgoing.js';
import { transformIncoming } from '../../src/openpgp/incoming.js';
import { splitEntity } from '../../src/mime/pgpmime.js';
import { parseMime } from '../../src/mime/tree.js';
import { Keyring } from '../../src/mail/keyring.js';
import { Store } from '../../src/store/store.js';
import { deriveKeys, newRootSecret } from '../../src/secrets/root.js';

let gpg: Gpg;
let bobFpr: string;
let bobPublic: PublicKey;
let alice: PrivateKey;

const message = (subject: string, body: string) =>
  Buffer.from(
    [
      'From: Alice <alice@example.org>',
      'To: Bob <bob@example.net>',
      `Subject: ${subject}`,
      'Date: Mon, 23 Nov 2026 10:00:00 +0000',
      'Message-ID: <interop@example.org>',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      body,
      '',
    ].join('\r\n'),
  );

function header(raw: Buffer, key: string): string[] {
  return splitEntity(raw).fields.filter((f) => f.key === key).map((f) => f.value);
}

before(async () => {
  gpg = await startGpg();
  bobFpr = await gpg.generate('Bob <bob@example.net>');
  bobPublic = await readKey({ armoredKey: await gpg.exportPublic(bobFpr) });
  alice = await generateOwnKey({ name: 'Alice', email: 'alice@example.org' });
  await gpg.importKey(alice.toPublic().armor());
});
after(async () => gpg?.stop());

describe('Waxseal → gpg', () => {
  test('a PGP/MIME message decrypts in gpg with a good signature and protected headers inside', async () => {
    const out = await transformOutgoing({ raw: message('Sealed subject', 'Grüße aus Waxseal'), sender: { address: 'alice@example.org', key: alice }, recipients: [{ address: 'bob@example.net', key: bobPublic }], policy: 'always' });
    const tree = parseMime(out.raw);
    const armored = out.raw.subarray(tree.children[1]!.bodyStart, tree.children[1]!.end);
    const res = await gpg.decrypt(armored);
    assert.equal(res.decrypted, true, res.stderr);
    assert.deepEqual(res.signatures.map((s) => [s.status, s.fpr]), [['GOOD', alice.getFingerprint().toUpperCase()]]);
    const inner = res.plaintext.toString('utf8');
    assert.match(inner, /^Content-Type: text\/plain; charset=utf-8; hp="cipher"\r\n/);
    assert.match(inner, /\r\nSubject: Sealed subject\r\n/);
    assert.match(inner, /\r\nHP-Outer: Subject: \[\.\.\.\]\r\n/);
    assert.match(inner, /\r\n\r\nGrüße aus Waxseal\r\n$/);
  });

  test('a sign-only message verifies in gpg over the exact signed part', async () => {
    const out = await transformOutgoing({ raw: message('Signed only', 'plain words'), sender: { address: 'alice@example.org', key: alice }, recipients: [{ address: 'carol@example.com' }], policy: 'opportunistic' });
    const tree = parseMime(out.raw);
    const [signed, sig] = tree.children;
    const sigs = await gpg.verifyDetached(out.raw.subarray(signed!.start, signed!.end), out.raw.subarray(sig!.bodyStart, sig!.end));
    assert.deepEqual(sigs.map((s) => s.status), ['GOOD']);
    const tampered = Buffer.from(out.raw.subarray(signed!.start, signed!.end).toString('latin1').replace('plain words', 'plain wordz'), 'latin1');
    assert.deepEqual((await gpg.verifyDetached(tampered, out.raw.subarray(sig!.bodyStart, sig!.end))).map((s) => s.status), ['BAD']);
  });
});

describe('gpg → Waxseal', () => {
  let dir: TempDir;
  let store: Store;
  let keyring: Keyring;
  let bobSecret: PrivateKey;

  before(async () => {
    dir = await makeTempDir('waxseal-gpgin-');
    store = await Store.open({ dir: join(dir.path, 'store'), keys: deriveKeys(newRootSecret()) });
    keyring = new Keyring({ records: store.records });
    // Bob's gpg secret key, imported the way a user would: gpg --export-secret-keys.
    const imported = await keyring.import(await gpg.exportSecret(bobFpr));
    assert.deepEqual(imported.map((k) => [k.fingerprint, k.secret]), [[bobFpr, true]]);
    bobSecret = (await keyring.ownKeys())[0]!;
    await keyring.import(alice.toPublic().armor());
  });
  after(async () => {
    await store?.close();
    await dir?.cleanup();
  });

  const pgpMime = (armored: Buffer) =>
    Buffer.from(
      [
        'From: Alice <alice@example.org>',
        'To: Bob <bob@example.net>',
        'Subject: ...',
        'MIME-Version: 1.0',
        'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b1"',
        '',
        '--b1',
        'Content-Type: application/pgp-encrypted',
        '',
        'Version: 1',
        '',
        '--b1',
        'Content-Type: application/octet-stream',
        '',
        armored.toString('latin1').trimEnd(),
        '--b1--',
        '',
      ].join('\r\n'),
      'latin1',
    );
  const inner = Buffer.from('Content-Type: text/plain; charset=utf-8\r\n\r\nfrom gpg with love\r\n');

  for (const compress of [true, false]) {
    test(`gpg -se${compress ? '' : ' -z 0'}: decrypted and verified`, async () => {
      const alicesGpg = await startGpg();
      try {
        const aliceFpr = (await alicesGpg.importKey(alice.armor()))[0]!;
        await alicesGpg.importKey(await gpg.exportPublic(bobFpr));
        const armored = await alicesGpg.encrypt(inner, { recipients: [bobFpr], signer: aliceFpr, compress });
        const res = await transformIncoming({ raw: pgpMime(armored), decryptionKeys: await keyring.ownKeys(), verificationKeys: (from) => keyring.verificationKeys(from) });
        assert.equal(res.encryption, 'encrypted');
        assert.deepEqual([res.signature.status, res.signature.fingerprint], ['valid', aliceFpr]);
        assert.match(res.raw.toString('utf8'), /\r\n\r\nfrom gpg with love\r\n$/);
        assert.deepEqual(header(res.raw, 'subject'), ['...'], 'no protected headers: the outer ones stay');
      } finally {
        await alicesGpg.stop();
      }
    });
  }

  test('gpg inline -se and clearsign are read too', async () => {
    const alicesGpg = await startGpg();
    try {
      const aliceFpr = (await alicesGpg.importKey(alice.armor()))[0]!;
      await alicesGpg.importKey(await gpg.exportPublic(bobFpr));
      const wrap = (body: Buffer) => Buffer.concat([Buffer.from('From: alice@example.org\r\nTo: bob@example.net\r\nSubject: inline\r\n\r\n'), body]);
      const enc = await alicesGpg.encrypt('inline secret\n', { recipients: [bobFpr], signer: aliceFpr });
      const res = await transformIncoming({ raw: wrap(enc), decryptionKeys: [bobSecret], verificationKeys: (from) => keyring.verificationKeys(from) });
      assert.equal(res.encryption, 'encrypted');
      assert.equal(res.signature.status, 'valid');
      assert.match(res.raw.toString('utf8'), /\r\n\r\ninline secret\r\n$/);
      const signed = await alicesGpg.sign('signed words\n', { signer: aliceFpr, clearsign: true });
      const clear = await transformIncoming({ raw: wrap(signed), decryptionKeys: [bobSecret], verificationKeys: (from) => keyring.verificationKeys(from) });
      assert.deepEqual([clear.encryption, clear.signature.status, clear.signature.fingerprint], ['none', 'valid', aliceFpr]);
      const forged = Buffer.from(signed.toString('latin1').replace('signed words', 'signed w0rds'), 'latin1');
      const bad = await transformIncoming({ raw: wrap(forged), decryptionKeys: [bobSecret], verificationKeys: (from) => keyring.verificationKeys(from) });
      assert.equal(bad.signature.status, 'invalid');
    } finally {
      await alicesGpg.stop();
    }
  });

  test('gpg sign-only as RFC 3156 multipart/signed, and signed-then-encrypted as two layers', async () => {
    const alicesGpg = await startGpg();
    try {
      const aliceFpr = (await alicesGpg.importKey(alice.armor()))[0]!;
      await alicesGpg.importKey(await gpg.exportPublic(bobFpr));
      const part = Buffer.from('Content-Type: text/plain; charset=us-ascii\r\n\r\nsigned by gpg\r\n');
      const sig = await alicesGpg.sign(part, { signer: aliceFpr, detached: true, armor: true });
      const signedEntity = Buffer.concat([
        Buffer.from('Content-Type: multipart/signed; micalg=pgp-sha256; protocol="application/pgp-signature"; boundary="s"\r\n\r\n--s\r\n'),
        part,
        Buffer.from('\r\n--s\r\nContent-Type: application/pgp-signature\r\n\r\n'),
        sig,
        Buffer.from('--s--\r\n'),
      ]);
      const mailFrom = Buffer.from('From: alice@example.org\r\nTo: bob@example.net\r\nSubject: signed\r\nMIME-Version: 1.0\r\n');
      const signedMail = Buffer.concat([mailFrom, signedEntity]);
      const res = await transformIncoming({ raw: signedMail, decryptionKeys: [bobSecret], verificationKeys: (from) => keyring.verificationKeys(from) });
      assert.deepEqual([res.encryption, res.signature.status, res.signature.fingerprint], ['none', 'valid', aliceFpr]);
      assert.ok(res.raw.subarray(res.raw.length - signedMail.length).equals(signedMail), 'not rewritten');
      // The same multipart/signed, then encrypted (no inner signature): the inner one counts.
      const armored = await alicesGpg.encrypt(signedEntity, { recipients: [bobFpr] });
      const layered = await transformIncoming({ raw: pgpMime(armored), decryptionKeys: [bobSecret], verificationKeys: (from) => keyring.verificationKeys(from) });
      assert.deepEqual([layered.encryption, layered.signature.status, layered.signature.fingerprint], ['encrypted', 'valid', aliceFpr]);
    } finally {
      await alicesGpg.stop();
    }
  });

  test('a key imported from gpg signs mail that gpg verifies', async () => {
    const out = await transformOutgoing({ raw: message('From Bob', 'hello'), sender: { address: 'bob@example.net', key: await keyring.signingKey('bob@example.net') }, recipients: [{ address: 'nobody@example.com' }], policy: 'opportunistic' });
    const tree = parseMime(out.raw);
    const sigs = await gpg.verifyDetached(out.raw.subarray(tree.children[0]!.start, tree.children[0]!.end), out.raw.subarray(tree.children[1]!.bodyStart, tree.children[1]!.end));
    assert.deepEqual(sigs.map((s) => [s.status, s.fpr]), [['GOOD', bobFpr]]);
  });
});
