/**
 * Signature stripping: an attacker removes the signature of a signed message (or replaces
 * multipart/signed by its first part) hoping the rest is still shown as signed. The result
 * must be "none", never "valid".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { transformOutgoing } from '../../src/openpgp/outgoing.js';
import { parseMime } from '../../src/mime/tree.js';
import { cast, mail, receive } from './openpgp-fixtures.js';

test('a stripped multipart/signed and a signed message with its signature part swapped are not valid', async () => {
  const c = await cast();
  const { raw } = await transformOutgoing({ raw: mail('pay 10 EUR'), sender: { address: 'alice@example.org', key: c.alice }, recipients: [{ address: 'bob@example.net' }], policy: 'opportunistic', autocrypt: false });
  assert.equal((await receive(c, raw)).signature.status, 'valid');
  const tree = parseMime(raw);
  const firstPart = raw.subarray(tree.children[0]!.start, tree.children[0]!.end);
  const outer = raw.subarray(0, tree.bodyStart).toString('latin1').replace(/Content-Type: multipart\/signed[^\r]*\r\n/, '');
  const stripped = Buffer.concat([Buffer.from(outer.replace(/\r\n$/, ''), 'latin1'), firstPart]);
  const res = await receive(c, stripped);
  assert.equal(res.signature.status, 'none');

  // The signed text changed, signature kept: invalid.
  const altered = Buffer.from(raw.toString('latin1').replace('pay 10 EUR', 'pay 99 EUR'), 'latin1');
  assert.equal((await receive(c, altered)).signature.status, 'invalid');

  // The signature part replaced by garbage: invalid, with a note, never valid.
  const garbage = Buffer.concat([raw.subarray(0, tree.children[1]!.bodyStart), Buffer.from('-----BEGIN PGP SIGNATURE-----\r\n\r\nAAAA\r\n-----END PGP SIGNATURE-----\r\n'), raw.subarray(tree.children[1]!.end)]);
  assert.equal((await receive(c, garbage)).signature.status, 'invalid');
});

test('signed-and-encrypted with the signature stripped (encrypted only) is "encrypted", signature "none"', async () => {
  const c = await cast();
  const { encrypt, createMessage } = await import('openpgp');
  const armored = await encrypt({ message: await createMessage({ binary: Buffer.from('Content-Type: text/plain\r\n\r\nunsigned now\r\n') }), encryptionKeys: c.bob.toPublic(), format: 'armored' });
  const raw = Buffer.from(`From: alice@example.org\r\nTo: bob@example.net\r\nContent-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b"\r\n\r\n--b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n--b\r\nContent-Type: application/octet-stream\r\n\r\n${armored}--b--\r\n`);
  const res = await receive(c, raw);
  assert.deepEqual([res.encryption, res.signature.status], ['encrypted', 'none']);
});
