/**
 * Malformed armor, truncated and corrupted ciphertext, and mail encrypted to someone else:
 * each gets a clear "failed" label with the reason, and the message is kept exactly as it
 * arrived — never dropped, never half-decrypted (no plaintext from before an integrity check).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMime } from '../../src/mime/tree.js';
import { cast, header, keptAsReceived, receive, sealed } from './openpgp-fixtures.js';

test('each damaged message is labelled failed with its reason and kept whole', async () => {
  const c = await cast();
  const good = await sealed(c, 'the secret is 42');
  const tree = parseMime(good);
  const part = tree.children[1]!;
  const armored = good.subarray(part.bodyStart, part.end).toString('latin1');
  const lines = armored.split('\r\n');
  const body = lines.slice(2, -3); // between the blank line after the header and the checksum
  const replaceArmor = (text: string) => Buffer.concat([good.subarray(0, part.bodyStart), Buffer.from(text, 'latin1'), good.subarray(part.end)]);

  const cases: Array<[string, Buffer, RegExp]> = [
    ['malformed armor', replaceArmor('-----BEGIN PGP MESSAGE-----\r\n\r\n!!!! not base64 !!!!\r\n-----END PGP MESSAGE-----'), /./],
    ['truncated ciphertext', replaceArmor([...lines.slice(0, 2), ...body.slice(0, Math.max(1, body.length >> 1)), '-----END PGP MESSAGE-----'].join('\r\n')), /./],
    [
      'corrupted ciphertext (one byte flipped)',
      (() => {
        const bytes = Buffer.from(body.join(''), 'base64');
        bytes[bytes.length - 30] = bytes[bytes.length - 30]! ^ 0x01;
        const b64 = bytes.toString('base64').match(/.{1,64}/g)!;
        return replaceArmor([...lines.slice(0, 2), ...b64, '-----END PGP MESSAGE-----'].join('\r\n'));
      })(),
      /modified or damaged|could not decrypt/,
    ],
  ];
  for (const [name, raw, reason] of cases) {
    const res = await receive(c, raw);
    assert.equal(res.encryption, 'failed', name);
    assert.match(res.reason!, reason, name);
    assert.match(header(res.raw, 'x-waxseal-encryption')[0]!, /^failed; reason=".+"$/, name);
    assert.ok(keptAsReceived(res.raw, raw), `${name}: kept as received`);
    assert.ok(!res.raw.includes('the secret is 42'), `${name}: no plaintext leaks`);
  }
});

test('mail encrypted to another key says so', async () => {
  const c = await cast();
  const good = await sealed(c);
  const res = await receive(c, good, { decryptionKeys: [c.mallory] });
  assert.deepEqual([res.encryption, res.reason], ['failed', 'no secret key for this message']);
  assert.ok(keptAsReceived(res.raw, good));
});
