/**
 * A compression bomb: a few KB of compressed data that inflate to far more than any mail.
 * Decryption stops at the cap; the message is kept as received and labelled.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGpg, type Gpg } from '../harness/gpg.js';
import { cast, keptAsReceived, receive } from './openpgp-fixtures.js';

let gpg: Gpg;
before(async () => {
  gpg = await startGpg();
});
after(async () => gpg?.stop());

test('a compressed message inflating past the cap is refused, not inflated', async () => {
  const c = await cast();
  const bobFpr = (await gpg.importKey(c.bob.toPublic().armor()))[0]!;
  const zeros = Buffer.alloc(16 * 1024 * 1024);
  // Forced: the key's preferences (ours say "uncompressed") would otherwise stop gpg compressing.
  const bomb = await gpg.run(['--encrypt', '--armor', '--recipient', bobFpr, '--compress-algo', 'zlib', '-z', '9'], zeros);
  assert.equal(bomb.code, 0, bomb.stderr);
  const armored = bomb.stdout;
  assert.ok(armored.length < 200 * 1024, `the bomb is small (${armored.length} bytes)`);
  const raw = Buffer.concat([
    Buffer.from('From: mallory@example.com\r\nTo: bob@example.net\r\nContent-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b"\r\n\r\n--b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n--b\r\nContent-Type: application/octet-stream\r\n\r\n'),
    armored,
    Buffer.from('--b--\r\n'),
  ]);
  const before = process.memoryUsage().rss;
  const res = await receive(c, raw, { maxDecompressedBytes: 1024 * 1024 });
  assert.equal(res.encryption, 'failed');
  assert.equal(res.reason, 'the decompressed message is larger than allowed');
  assert.ok(keptAsReceived(res.raw, raw));
  assert.ok(process.memoryUsage().rss - before < 256 * 1024 * 1024, 'nothing near the inflated size was held');
  // Under the cap, the same kind of message decrypts.
  const small = (await gpg.run(['--encrypt', '--armor', '--recipient', bobFpr, '--compress-algo', 'zlib'], Buffer.alloc(1000))).stdout;
  const ok = await receive(c, Buffer.from(raw.toString('latin1').replace(armored.toString('latin1'), small.toString('latin1')), 'latin1'), { maxDecompressedBytes: 1024 * 1024 });
  assert.equal(ok.encryption, 'encrypted');
});
