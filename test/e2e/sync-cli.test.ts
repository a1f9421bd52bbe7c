/**
 * `waxseal sync set|pair|join` as a user runs them, against the harness's CouchDB-protocol
 * server: clear errors for a wrong server, a wrong or used code; a joined device gets the
 * same keys and keeps the received secret under its own passphrase; status shows sync.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isolatedEnv, killStartedClis, runCli, startCli, waitForOutput } from '../harness/cli.js';
import { startCouchDB, type CouchDB } from '../harness/couchdb.js';
import { makeTempDir, type TempDir } from '../harness/tmp.js';

let tmp: TempDir;
let couch: CouchDB;
const envA = () => isolatedEnv({ WAXSEAL_PASSPHRASE: 'device A passphrase' });
const envB = () => isolatedEnv({ WAXSEAL_PASSPHRASE: 'device B has its own passphrase' });
const EPHEMERAL = ['--imap', '127.0.0.1:0', '--imaps', '127.0.0.1:0', '--smtp', '127.0.0.1:0'];
let a: string;

before(async () => {
  tmp = await makeTempDir('waxseal-sync-cli-');
  couch = await startCouchDB();
  a = join(tmp.path, 'a');
  const r = await runCli(['init', '--email', 'me@example.org', '--name', 'Me', '--data-dir', a], envA());
  assert.equal(r.code, 0, r.stderr);
});
after(async () => {
  await killStartedClis();
  await couch?.stop();
  await tmp?.cleanup();
});

test('usage: sync without a subcommand, set without a URL, a URL with a password in it', async () => {
  assert.equal((await runCli(['sync', '--data-dir', a], envA())).code, 2);
  const noUrl = await runCli(['sync', 'set', '--data-dir', a], envA());
  assert.equal(noUrl.code, 2);
  assert.match(noUrl.stderr, /needs --couchdb URL/);
  const inline = await runCli(['sync', 'set', '--couchdb', 'http://me:secret@127.0.0.1:5984', '--data-dir', a], envA());
  assert.equal(inline.code, 2);
  assert.match(inline.stderr, /WAXSEAL_COUCHDB_PASSWORD/);
  assert.doesNotMatch(inline.stderr, /secret@/);
  const help = await runCli(['sync', '--help'], envA());
  assert.match(help.stdout, /join --couchdb URL --code CODE/);
});

test('set refuses an unreachable server and leaves the profile as it was', async () => {
  const before = readFileSync(join(a, 'config.json'), 'utf8');
  const r = await runCli(['sync', 'set', '--couchdb', 'http://127.0.0.1:9', '--data-dir', a], envA());
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot be reached/);
  assert.equal(readFileSync(join(a, 'config.json'), 'utf8'), before);
  const pair = await runCli(['sync', 'pair', '--data-dir', a], envA());
  assert.equal(pair.code, 1);
  assert.match(pair.stderr, /sync set --couchdb URL/);
});

test('set, pair, join: the second device has the same keys under its own passphrase; a used or wrong code is refused', async () => {
  const set = await runCli(['sync', 'set', '--couchdb', couch.url, '--data-dir', a], envA());
  assert.equal(set.code, 0, set.stderr);
  assert.equal(JSON.parse(readFileSync(join(a, 'config.json'), 'utf8')).sync.couchdb, couch.url);

  const pair = await runCli(['sync', 'pair', '--json', '--data-dir', a], envA());
  assert.equal(pair.code, 0, pair.stderr);
  const { code } = JSON.parse(pair.stdout) as { code: string };
  assert.match(code, /^(\d{4}-){9}\d{4}$/);

  const b = join(tmp.path, 'b');
  const wrong = code.replace(/^\d/, (d) => String((Number(d) + 1) % 10));
  const bad = await runCli(['sync', 'join', '--couchdb', couch.url, '--code', wrong, '--data-dir', b], envB());
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /no pairing with this code/);
  assert.equal(existsSync(join(b, 'config.json')), false);
  const short = await runCli(['sync', 'join', '--couchdb', couch.url, '--code', '1234-5678', '--data-dir', b], envB());
  assert.equal(short.code, 2);
  assert.match(short.stderr, /40 digits/);

  const join1 = await runCli(['sync', 'join', '--couchdb', couch.url, '--code', code, '--data-dir', b], envB());
  assert.equal(join1.code, 0, join1.stderr);
  assert.match(join1.stdout, /Joined: profile me@example.org/);
  const keysA = JSON.parse((await runCli(['keys', 'list', '--json', '--data-dir', a], envA())).stdout).keys.own;
  const keysB = JSON.parse((await runCli(['keys', 'list', '--json', '--data-dir', b], envB())).stdout).keys.own;
  assert.deepEqual(keysB.map((k: { fingerprint: string }) => k.fingerprint), keysA.map((k: { fingerprint: string }) => k.fingerprint));
  // B keeps the secret under its own passphrase, not A's.
  assert.equal((await runCli(['keys', 'list', '--data-dir', b], envA())).code, 1);

  const again = await runCli(['sync', 'join', '--couchdb', couch.url, '--code', code, '--data-dir', join(tmp.path, 'c')], envB());
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already used/);
});

test('status shows sync while the daemon replicates', async () => {
  const child = startCli(['serve', ...EPHEMERAL, '--data-dir', a], envA());
  try {
    const printed = await waitForOutput(child, 'Ready.');
    assert.match(printed, /sync: +replicating with http:\/\/127\.0\.0\.1/);
    let line = '';
    for (let i = 0; i < 100 && !/in-sync/.test(line); i++) {
      const s = await runCli(['status', '--data-dir', a], envA());
      line = s.stdout.split('\n').find((l) => l.includes('sync:')) ?? '';
      if (!/in-sync/.test(line)) await new Promise((r) => setTimeout(r, 200));
    }
    assert.match(line, /sync: in-sync, server http:\/\/127\.0\.0\.1:\d+/);
    // Pairing goes through the running daemon (it owns the store).
    const pair = await runCli(['sync', 'pair', '--data-dir', a], envA());
    assert.equal(pair.code, 0, pair.stderr);
    assert.match(pair.stdout, /waxseal sync join --couchdb http:\/\/127\.0\.0\.1:\d+ --code (\d{4}-){9}\d{4}/);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
});

test('offline mode pauses sync, and status says so', async () => {
  const child = startCli(['serve', ...EPHEMERAL, '--offline', '--data-dir', a], envA());
  try {
    const printed = await waitForOutput(child, 'Ready.');
    assert.match(printed, /sync: +paused \(offline\) with http:\/\/127\.0\.0\.1/);
    const s = await runCli(['status', '--json', '--data-dir', a], envA());
    assert.deepEqual(JSON.parse(s.stdout).daemon.sync, { state: 'offline', server: couch.url });
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
});
