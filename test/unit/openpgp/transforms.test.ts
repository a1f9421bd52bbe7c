import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PrivateKey } from 'openpgp';
import { generateOwnKey } from '../../../src/openpgp/keys.js';
import { decide, isAlreadyEncrypted, transformOutgoing } from '../../../src/openpgp/outgoing.js';
import { transformIncoming } from '../../../src/openpgp/incoming.js';
import { parseAutocryptHeader } from '../../../src/openpgp/autocrypt.js';
import { splitEntity } from '../../../src/mime/pgpmime.js';
import { parseMime } from '../../../src/mime/tree.js';
import { isWaxsealError } from '../../../src/util/errors.js';

const alice = await generateOwnKey({ name: 'Alice', email: 'alice@example.org' });
const bob = await generateOwnKey({ name: 'Bob', email: 'bob@example.net' });
const carol = await generateOwnKey({ name: 'Carol', email: 'carol@example.com' });

const plain = Buffer.from(
  [
    'From: Alice <alice@example.org>',
    'To: Bob <bob@example.net>',
    'Bcc: secret@example.org',
    'Subject: The plan for Thursday',
    'Date: Mon, 23 Nov 2026 10:00:00 +0000',
    'Message-ID: <plan@example.org>',
    'X-Waxseal-Signature: valid; signer=FAKE',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    'Meet at the bridge. Grüße',
    '',
  ].join('\r\n'),
);

function header(raw: Buffer, key: string): string[] {
  return splitEntity(raw).fields.filter((f) => f.key === key).map((f) => f.value);
}

const keysOf = (...keys: PrivateKey[]) => async () => keys.map((k) => k.toPublic());

describe('outgoing transform', () => {
  test('encrypts to recipients and sender, hides the subject, drops Bcc, adds Autocrypt', async () => {
    const out = await transformOutgoing({ raw: plain, sender: { address: 'alice@example.org', key: alice }, recipients: [{ address: 'bob@example.net', key: bob.toPublic() }], policy: 'opportunistic' });
    assert.equal(out.mode, 'encrypt');
    const text = out.raw.toString('latin1');
    assert.doesNotMatch(text, /Meet at the bridge|The plan for Thursday|secret@example\.org|FAKE/);
    assert.deepEqual(header(out.raw, 'subject'), ['[...]']);
    assert.match(header(out.raw, 'content-type')[0]!, /^multipart\/encrypted; protocol="application\/pgp-encrypted"/);
    const ac = parseAutocryptHeader(header(out.raw, 'autocrypt')[0]!);
    assert.equal(ac?.addr, 'alice@example.org');
    assert.equal(ac?.preferEncrypt, 'mutual');
    const tree = parseMime(out.raw);
    assert.equal(tree.children.length, 2);

    for (const [who, key] of [['Bob', bob], ['Alice (Sent copy)', alice]] as const) {
      const back = await transformIncoming({ raw: out.raw, decryptionKeys: [key], verificationKeys: keysOf(alice) });
      assert.equal(back.encryption, 'encrypted', who);
      assert.equal(back.signature.status, 'valid', who);
      assert.equal(back.signature.fingerprint, alice.getFingerprint().toUpperCase());
      assert.deepEqual(header(back.raw, 'subject'), ['The plan for Thursday'], `${who} sees the protected subject`);
      assert.deepEqual(header(back.raw, 'x-waxseal-signature'), [`valid; signer=${alice.getFingerprint().toUpperCase()}`]);
      assert.deepEqual(header(back.raw, 'bcc'), []);
      assert.deepEqual(header(back.raw, 'hp-outer'), [], 'HP-Outer is bookkeeping, not shown');
      assert.match(back.raw.toString('utf8'), /\r\n\r\nMeet at the bridge\. Grüße\r\n$/);
      assert.match(header(back.raw, 'content-type')[0]!, /^text\/plain; charset=utf-8; hp="cipher"$/);
    }
  });

  test('gossips every recipient key inside the encryption when there are several', async () => {
    const out = await transformOutgoing({
      raw: plain,
      sender: { address: 'alice@example.org', key: alice },
      recipients: [{ address: 'bob@example.net', key: bob.toPublic() }, { address: 'carol@example.com', key: carol.toPublic() }],
      policy: 'always',
    });
    assert.deepEqual(header(out.raw, 'autocrypt-gossip'), [], 'no gossip in the clear');
    const back = await transformIncoming({ raw: out.raw, decryptionKeys: [carol], verificationKeys: keysOf(alice) });
    assert.deepEqual(back.learned.gossip.map((g) => g.addr).sort(), ['bob@example.net', 'carol@example.com']);
  });

  test('signs only when a recipient has no key (opportunistic), and the signature verifies', async () => {
    const out = await transformOutgoing({ raw: plain, sender: { address: 'alice@example.org', key: alice }, recipients: [{ address: 'bob@example.net' }], policy: 'opportunistic' });
    assert.equal(out.mode, 'sign');
    assert.match(header(out.raw, 'content-type')[0]!, /^multipart\/signed; micalg=pgp-sha256; protocol="application\/pgp-signature"/);
    assert.deepEqual(header(out.raw, 'subject'), ['The plan for Thursday']);
    const back = await transformIncoming({ raw: out.raw, decryptionKeys: [bob], verificationKeys: keysOf(alice) });
    assert.equal(back.encryption, 'none');
    assert.equal(back.signature.status, 'valid');
    // Not rewritten: only the two labels were added above the original.
    assert.ok(back.raw.subarray(back.raw.length - out.raw.length).equals(out.raw));
    // The message's own Autocrypt key verifies a first message (trust on first use)...
    const tofu = await transformIncoming({ raw: out.raw, decryptionKeys: [], verificationKeys: keysOf(bob) });
    assert.equal(tofu.signature.status, 'valid');
    // ...and without it the signer is unknown, said with its key id.
    const bare = await transformOutgoing({ raw: plain, sender: { address: 'alice@example.org', key: alice }, recipients: [{ address: 'bob@example.net' }], policy: 'opportunistic', autocrypt: false });
    const unknown = await transformIncoming({ raw: bare.raw, decryptionKeys: [], verificationKeys: keysOf(bob) });
    assert.equal(unknown.signature.status, 'unknown-key');
    assert.match(header(unknown.raw, 'x-waxseal-signature')[0]!, /^unknown-key; keyid=[0-9A-F]{16}$/);
  });

  test('"always" refuses and names the recipients without a key', async () => {
    await assert.rejects(
      transformOutgoing({ raw: plain, sender: { address: 'alice@example.org', key: alice }, recipients: [{ address: 'bob@example.net', key: bob.toPublic() }, { address: 'nokey@example.com' }], policy: 'always' }),
      (err) => isWaxsealError(err, 'ENOKEY') && /nokey@example\.com/.test(err.message) && !/bob@/.test(err.message),
    );
    assert.deepEqual(decide('opportunistic', [{ address: 'x@y' }]), { mode: 'sign' });
  });

  test('passes already-encrypted mail through untouched', async () => {
    const once = await transformOutgoing({ raw: plain, sender: { address: 'alice@example.org', key: alice }, recipients: [{ address: 'bob@example.net', key: bob.toPublic() }], policy: 'always' });
    assert.ok(isAlreadyEncrypted(once.raw));
    const twice = await transformOutgoing({ raw: once.raw, sender: { address: 'alice@example.org', key: alice }, recipients: [{ address: 'bob@example.net', key: bob.toPublic() }], policy: 'always' });
    assert.equal(twice.mode, 'passthrough');
    assert.ok(twice.raw.equals(once.raw));
  });
});

describe('incoming transform', () => {
  test('plain mail is kept byte for byte, labelled none, sender labels removed', async () => {
    const back = await transformIncoming({ raw: plain, decryptionKeys: [bob], verificationKeys: keysOf(alice) });
    assert.equal(back.encryption, 'none');
    assert.equal(back.signature.status, 'none');
    assert.deepEqual(header(back.raw, 'x-waxseal-signature'), ['none'], 'the forged label is gone');
    const expected = Buffer.from(plain.toString('latin1').replace('X-Waxseal-Signature: valid; signer=FAKE\r\n', ''), 'latin1');
    assert.ok(back.raw.subarray(back.raw.length - expected.length).equals(expected));
  });

  test('mail for someone else is kept as received, labelled failed', async () => {
    const out = await transformOutgoing({ raw: plain, sender: { address: 'alice@example.org', key: alice }, recipients: [{ address: 'bob@example.net', key: bob.toPublic() }], policy: 'always' });
    const back = await transformIncoming({ raw: out.raw, decryptionKeys: [carol], verificationKeys: keysOf(alice) });
    assert.equal(back.encryption, 'failed');
    assert.match(header(back.raw, 'x-waxseal-encryption')[0]!, /^failed; reason="no secret key for this message"$/);
    assert.ok(back.raw.subarray(back.raw.length - out.raw.length).equals(out.raw), 'nothing lost');
  });
});
