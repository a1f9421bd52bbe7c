/**
 * Mail in the shapes other clients send, built at test time with fresh keys: Thunderbird
 * (protected-headers="v1" inside PGP/MIME, outer Subject "..."), Delta Chat (Autocrypt with
 * prefer-encrypt=mutual, Gossip inside, outer Subject "[...]", Chat-* headers), and a sender
 * with an RFC 9580 v6 key. Plus the profile's WKD-then-VKS lookup against loopback servers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMessage, encrypt, generateKey, type PrivateKey } from 'openpgp';
import { autocryptHeaderValue, gossipHeaderValue } from '../../../src/openpgp/autocrypt.js';
import { generateOwnKey } from '../../../src/openpgp/keys.js';
import { transformIncoming } from '../../../src/openpgp/incoming.js';
import { transformOutgoing } from '../../../src/openpgp/outgoing.js';
import { splitEntity } from '../../../src/mime/pgpmime.js';
import { networkLookup } from '../../../src/daemon/keyring.js';
import { DEFAULT_OPENPGP, newProfile } from '../../../src/config/profile.js';
import { wkdHash } from '../../../src/openpgp/wkd.js';
import { serve } from './key-server.js';

const header = (raw: Buffer, key: string) => splitEntity(raw).fields.filter((f) => f.key === key).map((f) => f.value);

async function pgpMime(outerHeaders: string[], inner: string, to: PrivateKey[], signer: PrivateKey): Promise<Buffer> {
  const armored = await encrypt({ message: await createMessage({ binary: Buffer.from(inner.replace(/\n/g, '\r\n'), 'utf8') }), encryptionKeys: to.map((k) => k.toPublic()), signingKeys: signer, format: 'armored' });
  return Buffer.from(
    [...outerHeaders, 'MIME-Version: 1.0', 'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="------------enc"', '', 'This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)', '--------------enc', 'Content-Type: application/pgp-encrypted', 'Content-Description: PGP/MIME version identification', '', 'Version: 1', '', '--------------enc', 'Content-Type: application/octet-stream; name="encrypted.asc"', 'Content-Description: OpenPGP encrypted message', 'Content-Disposition: inline; filename="encrypted.asc"', '', armored.trimEnd(), '', '--------------enc--', ''].join('\r\n'),
    'utf8',
  );
}

test('Thunderbird: protected-headers="v1" restores Subject, From, To', async () => {
  const [me, tb] = await Promise.all([generateOwnKey({ email: 'me@example.org' }), generateOwnKey({ name: 'T Bird', email: 'tb@example.com' })]);
  const raw = await pgpMime(
    ['Message-ID: <a1@example.com>', 'Date: Mon, 23 Nov 2026 09:00:00 +0100', 'MIME-Version: 1.0', 'User-Agent: Mozilla Thunderbird', 'From: T Bird <tb@example.com>', 'To: me@example.org', 'Subject: ...', `Autocrypt: ${autocryptHeaderValue('tb@example.com', tb.toPublic(), 'nopreference')}`],
    [
      'Content-Type: multipart/mixed; boundary="------------mix"; protected-headers="v1"',
      'Subject: Quarterly numbers',
      'From: T Bird <tb@example.com>',
      'To: me@example.org',
      'Message-ID: <a1@example.com>',
      '',
      '--------------mix',
      'Content-Type: text/plain; charset=UTF-8; format=flowed',
      'Content-Transfer-Encoding: 7bit',
      '',
      'Numbers attached.',
      '',
      '--------------mix--',
      '',
    ].join('\n'),
    [me],
    tb,
  );
  const res = await transformIncoming({ raw, decryptionKeys: [me], verificationKeys: async () => [] });
  assert.equal(res.encryption, 'encrypted');
  assert.equal(res.signature.status, 'valid', 'verified with the Autocrypt key of the same message');
  assert.deepEqual(header(res.raw, 'subject'), ['Quarterly numbers']);
  assert.deepEqual(header(res.raw, 'user-agent'), [], 'outer fields give way to protected ones');
  assert.equal(res.learned.autocrypt?.addr, 'tb@example.com');
  assert.equal(res.learned.autocrypt?.preferEncrypt, 'nopreference');
  assert.match(res.raw.toString('utf8'), /Numbers attached\./);
});

test('Delta Chat: Autocrypt mutual outside, Gossip inside, Chat-* headers kept', async () => {
  const [me, dc, friend] = await Promise.all([generateOwnKey({ email: 'me@example.org' }), generateOwnKey({ email: 'dc@example.net' }), generateOwnKey({ email: 'friend@example.com' })]);
  const raw = await pgpMime(
    ['Subject: [...]', 'Chat-Version: 1.0', 'Autocrypt-Setup-Message: ', 'From: <dc@example.net>', 'To: <me@example.org>, <friend@example.com>', 'Date: Mon, 23 Nov 2026 09:00:00 +0000', 'Message-ID: <Mr.abc@example.net>', `Autocrypt: ${autocryptHeaderValue('dc@example.net', dc.toPublic())}`].filter((h) => !h.startsWith('Autocrypt-Setup')),
    [
      'Content-Type: multipart/mixed; boundary="xyz"; protected-headers="v1"',
      `Autocrypt-Gossip: ${gossipHeaderValue('friend@example.com', friend.toPublic())}`,
      `Autocrypt-Gossip: ${gossipHeaderValue('me@example.org', me.toPublic())}`,
      'Subject: Group chat',
      'Chat-Group-ID: abcdef',
      '',
      '--xyz',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'hi all',
      '--xyz--',
      '',
    ].join('\n'),
    [me, friend],
    dc,
  );
  const res = await transformIncoming({ raw, decryptionKeys: [me], verificationKeys: async () => [dc.toPublic()] });
  assert.deepEqual([res.encryption, res.signature.status], ['encrypted', 'valid']);
  assert.deepEqual(header(res.raw, 'subject'), ['Group chat']);
  assert.deepEqual(header(res.raw, 'chat-group-id'), ['abcdef']);
  assert.deepEqual(header(res.raw, 'autocrypt-gossip'), [], 'gossip is read, not shown');
  assert.deepEqual(res.learned.gossip.map((g) => g.addr).sort(), ['friend@example.com', 'me@example.org']);
  assert.equal(res.learned.autocrypt?.preferEncrypt, 'mutual');
});

test('a correspondent with an RFC 9580 v6 key: we encrypt to it, they read it, their signature verifies', async () => {
  const me = await generateOwnKey({ email: 'me@example.org' });
  const { privateKey: v6 } = await generateKey({ type: 'curve25519', userIDs: [{ email: 'v6@example.com' }], format: 'object', config: { v6Keys: true } });
  assert.equal(v6.keyPacket.version, 6);
  const out = await transformOutgoing({ raw: Buffer.from('From: me@example.org\r\nTo: v6@example.com\r\nSubject: hi\r\n\r\nto a v6 key\r\n'), sender: { address: 'me@example.org', key: me }, recipients: [{ address: 'v6@example.com', key: v6.toPublic() }], policy: 'always' });
  const theirs = await transformIncoming({ raw: out.raw, decryptionKeys: [v6], verificationKeys: async () => [me.toPublic()] });
  assert.deepEqual([theirs.encryption, theirs.signature.status], ['encrypted', 'valid']);
  const back = await transformOutgoing({ raw: Buffer.from('From: v6@example.com\r\nTo: me@example.org\r\nSubject: re\r\n\r\nfrom a v6 key\r\n'), sender: { address: 'v6@example.com', key: v6 }, recipients: [{ address: 'me@example.org', key: me.toPublic() }], policy: 'always' });
  const mine = await transformIncoming({ raw: back.raw, decryptionKeys: [me], verificationKeys: async () => [v6.toPublic()] });
  assert.deepEqual([mine.encryption, mine.signature.status, mine.signature.fingerprint], ['encrypted', 'valid', v6.getFingerprint().toUpperCase()]);
});

test('the profile lookup asks WKD first, then keys.openpgp.org, at the configured loopback URLs', async () => {
  const key = (await generateOwnKey({ email: 'far@example.net' })).toPublic();
  const vks = await serve({ '/vks/v1/by-email/far%40example.net': key.armor() });
  const wkd = await serve({});
  try {
    const profile = newProfile({ email: 'me@example.org', secretStore: 'passphrase' });
    profile.openpgp = { ...DEFAULT_OPENPGP, wkdAdvanced: `${wkd.base}/adv/{domain}`, wkdDirect: `${wkd.base}/direct/{domain}`, vks: vks.base, lookupTimeoutMs: 2000 };
    const res = await networkLookup(profile)('far@example.net');
    assert.equal(res?.source, 'vks');
    assert.equal(res?.keys[0]?.getFingerprint(), key.getFingerprint());
    const hash = wkdHash('far');
    assert.deepEqual(wkd.requests, [`/adv/example.net/hu/${hash}?l=far`, `/direct/example.net/hu/${hash}?l=far`]);
    assert.equal(await networkLookup(profile)('none@example.net'), null, 'a definite "no key" everywhere');
    profile.openpgp = { ...profile.openpgp, sources: { ...profile.openpgp.sources, wkd: false } };
    wkd.requests.length = 0;
    await networkLookup(profile)('far@example.net');
    assert.deepEqual(wkd.requests, [], 'WKD switched off is not asked');
  } finally {
    await vks.close();
    await wkd.close();
  }
});
