/**
 * The GnuPG harness against the real gpg 2.2: two homes exchanging keys and messages as two
 * correspondents would, the failures a tampered or forged message must produce, and a stop()
 * that leaves no gpg-agent behind.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { startGpg } from './gpg.js';
import type { Gpg } from './gpg.js';

const FPR = /^[0-9A-F]{40}$/;

/** pids of gpg-agents started for `home`; pgrep exits 1 when there are none. */
async function agentsOf(home: string): Promise<string[]> {
  const result = await promisify(execFile)('pgrep', ['-f', `gpg-agent --homedir ${home}`]).catch((err: { code?: number }) => {
    if (err.code === 1) return { stdout: '' };
    throw err;
  });
  return result.stdout.split('\n').filter(Boolean);
}

function flipBit(buf: Buffer, index: number): void {
  buf.writeUInt8(buf.readUInt8(index) ^ 0x01, index);
}

describe('gpg harness', () => {
  let a: Gpg; // Alice's home
  let b: Gpg; // Bob's home
  let alice: string;
  let bob: string;
  before(async () => {
    [a, b] = await Promise.all([startGpg(), startGpg()]);
    [alice, bob] = await Promise.all([a.generate('Alice <alice@example.test>'), b.generate('Bob <bob@example.test>')]);
    // Each side knows only the other's public key, as correspondents do.
    assert.deepEqual(await b.importKey(await a.exportPublic(alice)), [alice]);
    assert.deepEqual(await a.importKey(await b.exportPublic(bob)), [bob]);
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
  });

  it('generates ed25519 + cv25519 keys without a passphrase in a private home', async () => {
    assert.match(alice, FPR);
    assert.equal((await stat(a.home)).mode & 0o777, 0o700);
    const listing = (await a.run(['--with-colons', '--list-secret-keys', alice])).stdout.toString();
    // Field 4 is the algorithm (22 EdDSA, 18 ECDH), field 12 the usage, field 17 the curve.
    const keys = listing.split('\n').filter((l) => /^(sec|ssb):/.test(l)).map((l) => l.split(':'));
    assert.deepEqual(keys.map((f) => [f[0], f[3], f[16]]), [['sec', '22', 'ed25519'], ['ssb', '18', 'cv25519']]);
    assert.match(keys[1]?.[11] ?? '', /e/);
    assert.match(listing, /uid:.*Alice <alice@example\.test>/);
  });

  it('generates RSA keys too', async () => {
    const fpr = await a.generate('rsa@example.test', { algo: 'rsa2048', expire: '1y' });
    assert.match(fpr, FPR);
    const listing = (await a.run(['--with-colons', '--list-keys', fpr])).stdout.toString();
    assert.match(listing, /^pub:[^:]*:2048:1:/m);
    assert.match(listing, /^sub:[^:]*:2048:1:/m);
  });

  it('encrypts and signs from A to B; B decrypts and sees a GOOD signature by A', async () => {
    const message = await a.encrypt('Hello Bob\n', { recipients: [bob], signer: alice });
    assert.match(message.toString(), /^-----BEGIN PGP MESSAGE-----/);
    const result = await b.decrypt(message);
    assert.equal(result.decrypted, true);
    assert.equal(result.plaintext.toString(), 'Hello Bob\n');
    assert.deepEqual(result.signatures.map((s) => [s.status, s.fpr]), [['GOOD', alice]]);
    assert.equal(result.signatures[0]?.uid, 'Alice <alice@example.test>');
  });

  it('moves a secret key to another home, which can then decrypt for it', async () => {
    const c = await startGpg();
    try {
      assert.deepEqual(await c.importKey(await a.exportSecret(alice)), [alice]);
      const result = await c.decrypt(await b.encrypt('for Alice', { recipients: [alice], armor: false }));
      assert.equal(result.decrypted, true);
      assert.equal(result.plaintext.toString(), 'for Alice');
    } finally {
      await c.stop();
    }
  });

  it('reports a tampered message as not decrypted, after writing out the altered plaintext', async () => {
    const plaintext = Buffer.from('A'.repeat(1000));
    // Uncompressed and binary, so the last bytes before the MDC are literal data.
    const message = await a.encrypt(plaintext, { recipients: [bob], armor: false, compress: false });
    flipBit(message, message.length - 200);
    const result = await b.decrypt(message);
    assert.equal(result.decrypted, false);
    assert.ok(result.status.includes('BADMDC'), result.status.join('\n'));
    assert.ok(result.status.includes('DECRYPTION_FAILED'));
    assert.ok(!result.status.includes('DECRYPTION_OKAY'));
    // gpg 2.2 streams plaintext before it checks the MDC: only `decrypted` may be trusted.
    assert.equal(result.plaintext.length, plaintext.length);
    assert.notDeepEqual(result.plaintext, plaintext);
  });

  it('reports a corrupted compressed message as not decrypted', async () => {
    const message = await a.encrypt('B'.repeat(1000), { recipients: [bob], armor: false });
    flipBit(message, message.length - 30);
    const result = await b.decrypt(message);
    assert.equal(result.decrypted, false);
    assert.ok(!result.status.includes('DECRYPTION_OKAY'), result.status.join('\n'));
  });

  it('makes detached signatures that verify GOOD over the data and BAD over changed data', async () => {
    const data = 'Content-Type: text/plain\r\n\r\nsigned part\r\n';
    const signature = await a.sign(data, { signer: alice, detached: true });
    assert.match(signature.toString(), /^-----BEGIN PGP SIGNATURE-----/);
    assert.deepEqual((await b.verifyDetached(data, signature)).map((s) => [s.status, s.fpr]), [['GOOD', alice]]);
    const forged = await b.verifyDetached(data.replace('signed', 'forged'), signature);
    assert.deepEqual(forged.map((s) => [s.status, s.fpr]), [['BAD', alice]]);
  });

  it('verifies clearsigned and inline-signed messages, and names the key it lacks', async () => {
    const clear = await a.sign('text\n', { signer: alice, clearsign: true });
    assert.match(clear.toString(), /^-----BEGIN PGP SIGNED MESSAGE-----/);
    assert.deepEqual((await b.decrypt(clear)).signatures.map((s) => s.status), ['GOOD']);
    const inline = await b.sign(Buffer.from([0, 1, 2, 255]), { signer: bob, armor: false });
    const unknown = await startGpg();
    try {
      const result = await unknown.decrypt(inline);
      assert.deepEqual(result.plaintext, Buffer.from([0, 1, 2, 255]));
      assert.deepEqual(result.signatures.map((s) => [s.status, s.fpr]), [['ERRSIG', bob]]);
    } finally {
      await unknown.stop();
    }
  });

  it('decrypts compressed and uncompressed messages alike', async () => {
    const text = 'a line that compresses well\n'.repeat(4000);
    const packed = await a.encrypt(text, { recipients: [bob], armor: false });
    const plain = await a.encrypt(text, { recipients: [bob], armor: false, compress: false });
    assert.ok(packed.length < plain.length / 10, `${packed.length} vs ${plain.length}`);
    for (const message of [packed, plain]) {
      const result = await b.decrypt(message);
      assert.equal(result.decrypted, true);
      assert.equal(result.plaintext.toString(), text);
    }
  });

  it('round-trips 5 MB of binary data', async () => {
    const data = randomBytes(5 * 1024 * 1024);
    const message = await a.encrypt(data, { recipients: [bob], signer: alice, armor: false });
    const result = await b.decrypt(message);
    assert.equal(result.decrypted, true);
    assert.ok(result.plaintext.equals(data));
    assert.deepEqual(result.signatures.map((s) => s.status), ['GOOD']);
  });

  it('hides recipients with throwKeyids', async () => {
    const message = await a.encrypt('x', { recipients: [bob], throwKeyids: true });
    const result = await b.decrypt(message);
    assert.equal(result.decrypted, true);
    assert.ok(result.status.includes('ENC_TO 0000000000000000 18 0'), result.status.join('\n'));
  });

  it('throws with gpg stderr when encrypt, import or export fails', async () => {
    await assert.rejects(a.encrypt('x', { recipients: ['nobody@example.test'] }), /gpg encrypt to nobody@example\.test failed[^]*No public key/);
    await assert.rejects(a.importKey('not a key'), /gpg import failed[^]*no valid OpenPGP data/);
    await assert.rejects(a.exportPublic('nobody@example.test'), /nothing exported/);
    await assert.rejects(a.generate('Bad\nKey-Type: RSA'), /bad uid/);
    await assert.rejects(a.encrypt('x', { recipients: [bob], armour: true } as never), /unknown option "armour"/);
  });

  it('run() resolves with the exit code instead of throwing', async () => {
    const result = await a.run(['--list-keys', 'nobody@example.test']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /No public key/);
  });

  it('stop() kills the agent, removes the home, and is safe to call twice', async () => {
    const gpg = await startGpg();
    await gpg.generate('Carol <carol@example.test>'); // the agent made the secret key
    assert.equal((await agentsOf(gpg.home)).length, 1);
    await gpg.stop();
    assert.deepEqual(await agentsOf(gpg.home), []);
    await assert.rejects(stat(gpg.home), { code: 'ENOENT' });
    await gpg.stop();
    await assert.rejects(gpg.run(['--version']), /after stop/);
  });
});
