/** `waxseal keys ...` as a user runs it, with and without a daemon, against a real gpg. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isolatedEnv, killStartedClis, runCli, startCli, waitForOutput } from '../harness/cli.js';
import { startGpg, type Gpg } from '../harness/gpg.js';
import { makeTempDir, type TempDir } from '../harness/tmp.js';

let tmp: TempDir;
let gpg: Gpg;
const env = () => isolatedEnv({ WAXSEAL_PASSPHRASE: 'keys test passphrase' });
let dir: string;
const waxseal = (...args: string[]) => runCli([...args, '--data-dir', dir], env());

before(async () => {
  tmp = await makeTempDir('waxseal-keys-');
  gpg = await startGpg();
  dir = join(tmp.path, 'profile');
  const r = await runCli(['init', '--email', 'me@example.org', '--name', 'Me', '--data-dir', dir], env());
  assert.equal(r.code, 0, r.stderr);
});
after(async () => {
  await killStartedClis();
  await gpg?.stop();
  await tmp?.cleanup();
});

test('init made a key; its public half imports into gpg; no secret is printed unless asked', async () => {
  const list = await waxseal('keys', 'list', '--json');
  assert.equal(list.code, 0, list.stderr);
  const own = JSON.parse(list.stdout).keys.own;
  assert.equal(own.length, 1);
  assert.deepEqual(own[0].userIds, ['Me <me@example.org>']);
  const exported = await waxseal('keys', 'export');
  assert.match(exported.stdout, /^-----BEGIN PGP PUBLIC KEY BLOCK-----/);
  assert.doesNotMatch(exported.stdout + list.stdout, /PRIVATE KEY/);
  assert.deepEqual(await gpg.importKey(exported.stdout), [own[0].fingerprint]);
  const secret = await waxseal('keys', 'export', '--secret', own[0].fingerprint);
  assert.match(secret.stdout, /^-----BEGIN PGP PRIVATE KEY BLOCK-----/);
});

test('import a gpg key, look it up, verify it; bad input is a clear error', async () => {
  const fpr = await gpg.generate('Friend <friend@example.net>');
  const file = join(tmp.path, 'friend.asc');
  writeFileSync(file, await gpg.exportPublic(fpr));
  const imported = await waxseal('keys', 'import', file);
  assert.equal(imported.code, 0, imported.stderr);
  assert.match(imported.stdout, /Imported 1 key/);
  const lookup = JSON.parse((await waxseal('keys', 'lookup', 'friend@example.net', '--local', '--json')).stdout).lookup;
  assert.deepEqual([lookup.key.fingerprint, lookup.source, lookup.verified], [fpr, 'keyring', false]);
  assert.equal((await waxseal('keys', 'verify', 'friend@example.net', fpr)).code, 0);
  const list = await waxseal('keys', 'list');
  assert.match(list.stdout, new RegExp(`friend@example\\.net: ${fpr} \\(keyring, verified\\)`));

  writeFileSync(join(tmp.path, 'garbage.asc'), 'this is not a key\n');
  const bad = await waxseal('keys', 'import', join(tmp.path, 'garbage.asc'));
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^waxseal keys: The file could not be read as an OpenPGP key/);
  assert.doesNotMatch(bad.stderr, /\n\s+at /, 'no stack trace');
  const missing = await waxseal('keys', 'import', join(tmp.path, 'nope.asc'));
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /Cannot read .*nope\.asc: ENOENT/);
  // A passphrase-protected secret key from gpg: refused without the passphrase, a wrong one
  // imports nothing, the right one (WAXSEAL_KEY_PASSPHRASE) imports it unlocked.
  const made = await gpg.run(['--passphrase', 'gpg secret', '--quick-generate-key', 'Old Me <old@example.org>', 'ed25519', 'sign', '0']);
  assert.equal(made.code, 0, made.stderr);
  const lockedFpr = made.status.find((l) => l.startsWith('KEY_CREATED'))!.split(' ')[2]!;
  const sub = await gpg.run(['--passphrase', 'gpg secret', '--quick-add-key', lockedFpr, 'cv25519', 'encr', '0']);
  assert.equal(sub.code, 0, sub.stderr);
  const secretFile = join(tmp.path, 'old-secret.asc');
  writeFileSync(secretFile, (await gpg.run(['--armor', '--passphrase', 'gpg secret', '--export-secret-keys', lockedFpr])).stdout);
  const noPass = await waxseal('keys', 'import', secretFile);
  assert.equal(noPass.code, 1);
  assert.match(noPass.stderr, /protected by a passphrase; set WAXSEAL_KEY_PASSPHRASE/);
  const wrongPass = await runCli(['keys', 'import', secretFile, '--data-dir', dir], isolatedEnv({ WAXSEAL_PASSPHRASE: 'keys test passphrase', WAXSEAL_KEY_PASSPHRASE: 'nope' }));
  assert.match(wrongPass.stderr, /Wrong passphrase for key .*nothing was imported/);
  const rightPass = await runCli(['keys', 'import', secretFile, '--data-dir', dir, '--json'], isolatedEnv({ WAXSEAL_PASSPHRASE: 'keys test passphrase', WAXSEAL_KEY_PASSPHRASE: 'gpg secret' }));
  assert.equal(rightPass.code, 0, rightPass.stderr);
  assert.deepEqual(JSON.parse(rightPass.stdout).imported.map((k: { fingerprint: string; secret: boolean }) => [k.fingerprint, k.secret]), [[lockedFpr, true]]);

  assert.equal((await waxseal('keys', 'frobnicate')).code, 2);
  assert.equal((await waxseal('keys', 'extend', 'ABCD')).code, 2, '--expires is required');
});

test('through a running daemon: extend, revoke, and generate a replacement', async () => {
  const daemon = startCli(['serve', '--data-dir', dir, '--imap', '127.0.0.1:0', '--imaps', '127.0.0.1:0', '--smtp', '127.0.0.1:0'], env());
  await waitForOutput(daemon, 'Ready');
  try {
    const fpr = JSON.parse((await waxseal('keys', 'list', '--json')).stdout).keys.own[0].fingerprint;
    const ext = await waxseal('keys', 'extend', fpr, '--expires', '365', '--json');
    assert.equal(ext.code, 0, ext.stderr);
    assert.ok(JSON.parse(ext.stdout).key.expires > new Date(Date.now() + 360 * 86400_000).toISOString());
    const rev = await waxseal('keys', 'revoke', fpr, '--reason', 'superseded', '--json');
    assert.equal(JSON.parse(rev.stdout).key.revoked, true);
    const wrong = await waxseal('keys', 'revoke', '0000');
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /None of your keys has fingerprint 0000/, 'the daemon\'s error reaches the user as is');
    const gen = await waxseal('keys', 'generate', '--json');
    assert.deepEqual(JSON.parse(gen.stdout).key.userIds, ['Me <me@example.org>'], 'the profile name by default');
    const own = JSON.parse((await waxseal('keys', 'list', '--json')).stdout).keys.own as Array<{ revoked: boolean; userIds: string[] }>;
    assert.deepEqual(own.filter((k) => k.userIds[0] === 'Me <me@example.org>').map((k) => k.revoked), [true, false]);
  } finally {
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon.once('exit', r));
  }
});
