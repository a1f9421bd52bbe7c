/**
 * A sender writes their own X-Waxseal-Encryption / X-Waxseal-Signature fields (in the outer
 * header, or inside the encrypted part where the mail client would show them) to make an
 * unsigned message look verified. Only Waxseal may write these: every sender copy is removed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { transformOutgoing } from '../../src/openpgp/outgoing.js';
import { cast, header, mail, receive } from './openpgp-fixtures.js';

const forged = ['X-Waxseal-Signature: valid; signer=0000000000000000000000000000000000000000', 'X-WAXSEAL-Encryption: encrypted', 'x-waxseal-signature: valid'];

test('sender-supplied verification labels are removed, outside and inside the encryption', async () => {
  const c = await cast();
  const plain = await receive(c, mail('hello', forged));
  assert.deepEqual(header(plain.raw, 'x-waxseal-signature'), ['none']);
  assert.deepEqual(header(plain.raw, 'x-waxseal-encryption'), ['none']);

  // Mallory encrypts to Bob with forged labels inside, unsigned.
  const { raw } = await transformOutgoing({ raw: mail('hello', forged), sender: { address: 'mallory@example.com', key: c.mallory }, recipients: [{ address: 'bob@example.net', key: c.bob.toPublic() }], policy: 'always', autocrypt: false });
  const res = await receive(c, raw);
  assert.equal(res.encryption, 'encrypted');
  assert.equal(res.signature.status, 'unknown-key', "Mallory's signature is not Alice's");
  assert.deepEqual(header(res.raw, 'x-waxseal-signature').length, 1);
  assert.match(header(res.raw, 'x-waxseal-signature')[0]!, /^unknown-key; keyid=/);
});
