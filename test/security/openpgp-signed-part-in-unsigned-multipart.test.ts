/**
 * A validly signed message forwarded inside an attacker's multipart/mixed, next to the
 * attacker's own text: a client showing "signed" for the whole would lend Alice's signature
 * to Mallory's words. Only a signature over the whole message counts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { transformOutgoing } from '../../src/openpgp/outgoing.js';
import { splitEntity } from '../../src/mime/pgpmime.js';
import { cast, header, keptAsReceived, mail, receive } from './openpgp-fixtures.js';

test('a signed part wrapped in an unsigned multipart is labelled none, with a note', async () => {
  const c = await cast();
  const { raw } = await transformOutgoing({ raw: mail('I agree to pay'), sender: { address: 'alice@example.org', key: c.alice }, recipients: [{ address: 'bob@example.net' }], policy: 'opportunistic', autocrypt: false });
  const signedCt = splitEntity(raw).fields.find((f) => f.key === 'content-type')!.raw.toString('latin1');
  const signedBody = splitEntity(raw).body.toString('latin1');
  const wrapped = Buffer.from(
    `From: Alice <alice@example.org>\r\nTo: Bob <bob@example.net>\r\nSubject: contract\r\nContent-Type: multipart/mixed; boundary="w"\r\n\r\n--w\r\nContent-Type: text/plain\r\n\r\n...and 1,000,000 EUR to Mallory.\r\n--w\r\n${signedCt}\r\n${signedBody}\r\n--w--\r\n`,
    'latin1',
  );
  const res = await receive(c, wrapped);
  assert.equal(res.signature.status, 'none');
  assert.match(header(res.raw, 'x-waxseal-signature')[0]!, /^none; note="only part of this message is signed"$/);
  assert.ok(keptAsReceived(res.raw, wrapped));

  // The same trick with inline cleartext-signed text after attacker text.
  const { sign, createCleartextMessage } = await import('openpgp');
  const clear = await sign({ message: await createCleartextMessage({ text: 'I agree' }), signingKeys: c.alice });
  const inline = Buffer.from(`From: alice@example.org\r\nTo: bob@example.net\r\n\r\nMallory's words first.\r\n${clear}`);
  const res2 = await receive(c, inline);
  assert.equal(res2.signature.status, 'none');
});
