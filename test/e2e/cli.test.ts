import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { createHash, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { ImapFlow } from 'imapflow';
import { isolatedEnv, killStartedClis, runCli, startCli, waitForOutput } from '../harness/cli.js';
import { startKeyring, type KeyringHarness } from '../harness/keyring.js';
import { makeTempDir, type TempDir } from '../harness/tmp.js';

let tmp: TempDir;
before(async () => {
  tmp = await makeTempDir('waxseal-cli-');
});
after(async () => {
  await killStartedClis();
  await tmp.cleanup();
});

const PASS = 'correct horse battery staple';
/** Never the default ports in tests: the machine is shared. */
const EPHEMERAL = ['--imap', '127.0.0.1:0', '--imaps', '127.0.0.1:0', '--smtp', '127.0.0.1:0'];

/** A digest of every file under dir, to show a failed command changed nothing. */
function treeDigest(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else h.update(p).update(readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

describe('usage errors are clear and exit 2', () => {
  test('no command prints the overview', async () => {
    const r = await runCli([], isolatedEnv());
    assert.equal(r.code, 2);
    assert.match(r.stdout, /Usage: waxseal COMMAND/);
  });
  test('an unknown option names itself and the usage', async () => {
    const r = await runCli(['init', '--emial', 'a@b.c'], isolatedEnv());
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Unknown option '--emial'/);
    assert.match(r.stderr, /Usage: waxseal init --email/);
  });
  test('init without --email, and with a non-address', async () => {
    assert.equal((await runCli(['init', '--data-dir', join(tmp.path, 'x')], isolatedEnv())).code, 2);
    const r = await runCli(['init', '--email', 'not-an-address', '--data-dir', join(tmp.path, 'x')], isolatedEnv({ WAXSEAL_PASSPHRASE: PASS }));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /is not an email address/);
    assert.equal(existsSync(join(tmp.path, 'x', 'config.json')), false);
  });
  test('--help explains a command', async () => {
    const r = await runCli(['serve', '--help'], isolatedEnv());
    assert.equal(r.code, 0);
    assert.match(r.stdout, /IMAP 127\.0\.0\.1:1984/);
  });
});

describe('a passphrase profile', () => {
  const dataDir = () => join(tmp.path, 'pp');

  test('with no keychain and no terminal, init refuses clearly and writes no profile', async () => {
    const dir = join(tmp.path, 'nokeychain');
    const r = await runCli(['init', '--email', 'alice@example.org', '--data-dir', dir], isolatedEnv());
    assert.equal(r.code, 1);
    assert.match(r.stderr, /No OS keychain is available.*WAXSEAL_PASSPHRASE/s);
    assert.equal(existsSync(join(dir, 'config.json')), false);
  });

  test('init with WAXSEAL_PASSPHRASE creates a 0600 wrapped secret and the profile', async () => {
    const r = await runCli(['init', '--email', 'alice@example.org', '--data-dir', dataDir(), '--json'], isolatedEnv({ WAXSEAL_PASSPHRASE: PASS }));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { email: 'alice@example.org', dataDir: dataDir(), secretStore: 'passphrase' });
    assert.equal(statSync(join(dataDir(), 'secret.json')).mode & 0o777, 0o600);
    assert.equal(readFileSync(join(dataDir(), 'secret.json'), 'utf8').includes(PASS), false);
  });

  test('a second init on the same directory is refused', async () => {
    const r = await runCli(['init', '--email', 'alice@example.org', '--data-dir', dataDir()], isolatedEnv({ WAXSEAL_PASSPHRASE: PASS }));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /already exists/);
  });

  test('the wrong passphrase is one clear error and touches no data', async () => {
    const before = treeDigest(dataDir());
    const r = await runCli(['serve', ...EPHEMERAL, '--data-dir', dataDir()], isolatedEnv({ WAXSEAL_PASSPHRASE: 'wrong guess' }));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Wrong passphrase/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(treeDigest(dataDir()), before);
  });

  test('serve runs until SIGTERM; status reports it, then reports it stopped', async () => {
    const env = isolatedEnv({ WAXSEAL_PASSPHRASE: PASS });
    const child = startCli(['serve', ...EPHEMERAL, '--data-dir', dataDir()], env);
    let code: number | null;
    try {
      const printed = await waitForOutput(child, 'Ready.');
      assert.match(printed, /serving alice@example\.org/);
      const s = await runCli(['status', '--json', '--data-dir', dataDir()], isolatedEnv());
      const status = JSON.parse(s.stdout);
      assert.equal(status.running, true);
      assert.deepEqual(status.daemon.mailboxes.map((m: { name: string }) => m.name), ['INBOX', 'Archive', 'Drafts', 'Junk', 'Sent', 'Trash']);
      assert.equal(statSync(join(dataDir(), 'control.token')).mode & 0o777, 0o600);
      const second = await runCli(['serve', ...EPHEMERAL, '--data-dir', dataDir()], env);
      assert.equal(second.code, 1);
      assert.match(second.stderr, /in use by another Waxseal process/);
    } finally {
      // A failed assertion must not leave the daemon running: later tests would find the
      // store locked and the runner would wait on the child for ever.
      child.kill('SIGTERM');
      [code] = await once(child, 'exit');
    }
    assert.equal(code, 0);
    assert.equal(existsSync(join(dataDir(), 'control.json')), false);
    const after = JSON.parse((await runCli(['status', '--json', '--data-dir', dataDir()], isolatedEnv())).stdout);
    assert.equal(after.running, false);
  });

  test('a signal sent the instant "Ready." appears always gets a clean stop (regression: handlers installed late)', async () => {
    const env = isolatedEnv({ WAXSEAL_PASSPHRASE: PASS });
    for (let i = 0; i < 5; i++) {
      const child = startCli(['serve', ...EPHEMERAL, '--data-dir', dataDir()], env);
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      await waitForOutput(child, 'Ready.');
      child.kill(i % 2 ? 'SIGINT' : 'SIGTERM');
      const [code, signal] = await once(child, 'exit');
      assert.deepEqual([code, signal], [0, null], `round ${i}: ${out.slice(-80)}`);
      assert.match(out, /Stopped\.\n$/);
    }
  });

  test('credentials work for a real IMAP login, from the daemon and without it', async () => {
    const env = isolatedEnv({ WAXSEAL_PASSPHRASE: PASS });
    const child = startCli(['serve', ...EPHEMERAL, '--data-dir', dataDir()], env);
    let live: { user: string; password: string; imap: { host: string; port: number }; imaps: { port: number }; certificate: { file: string; sha256: string } };
    try {
      await waitForOutput(child, 'Ready.');
      live = JSON.parse((await runCli(['credentials', '--json', '--data-dir', dataDir()], isolatedEnv())).stdout);
      assert.deepEqual(Object.keys(live).sort(), ['certificate', 'imap', 'imaps', 'password', 'smtp', 'smtps', 'user']);
      assert.equal(live.user, 'alice@example.org');
      assert.ok(live.imap.port > 0 && live.imap.port !== 1984);
      // Plaintext on loopback; imapflow would otherwise upgrade on its own (STARTTLS is offered).
      const client = new ImapFlow({ host: live.imap.host, port: live.imap.port, secure: false, doSTARTTLS: false, auth: { user: live.user, pass: live.password }, logger: false } as never);
      await client.connect();
      assert.deepEqual((await client.list()).map((b) => b.path).sort(), ['Archive', 'Drafts', 'INBOX', 'Junk', 'Sent', 'Trash']);
      await client.logout();
      // The same login over implicit TLS and over STARTTLS, trusting the profile's certificate.
      const ca = readFileSync(live.certificate.file, 'utf8');
      for (const [port, secure] of [[live.imaps.port, true], [live.imap.port, false]] as const) {
        const tlsClient: ImapFlow = new ImapFlow({ host: 'localhost', port, secure, doSTARTTLS: !secure, tls: { ca }, auth: { user: live.user, pass: live.password }, logger: false } as never);
        await tlsClient.connect();
        assert.equal((tlsClient as unknown as { secureConnection: boolean }).secureConnection, true);
        assert.ok((await tlsClient.list()).some((b: { path: string }) => b.path === 'INBOX'));
        await tlsClient.logout();
      }
    } finally {
      // A failed assertion must not leave the daemon running (the test runner would wait on it).
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    // With the daemon stopped, the same password comes from the unlocked store.
    const offline = JSON.parse((await runCli(['credentials', '--json', '--data-dir', dataDir()], env)).stdout);
    assert.equal(offline.password, live.password);
    assert.equal(new X509Certificate(readFileSync(offline.certificate?.file ?? live.certificate.file)).fingerprint256, live.certificate.sha256);
    const locked = await runCli(['credentials', '--data-dir', dataDir()], isolatedEnv());
    assert.equal(locked.code, 1);
    assert.match(locked.stderr, /passphrase/);
  });

  test('a port in use is one clear error', async () => {
    const blocker = createServer().listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const port = (blocker.address() as AddressInfo).port;
    const r = await runCli(['serve', '--imap', `127.0.0.1:${port}`, '--data-dir', dataDir()], isolatedEnv({ WAXSEAL_PASSPHRASE: PASS }));
    blocker.close();
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`IMAP port 127\\.0\\.0\\.1:${port} is already in use`));
  });

  test('status of a directory without a profile says how to make one', async () => {
    const r = await runCli(['status', '--data-dir', join(tmp.path, 'empty')], isolatedEnv());
    assert.equal(r.code, 1);
    assert.match(r.stderr, /No Waxseal profile at .*waxseal init --email/);
  });
});

describe('the OS keychain', () => {
  let keyring: KeyringHarness;
  before(async () => {
    keyring = await startKeyring();
  });
  after(() => keyring.stop());

  test('serve on first run makes the default profile with its secret in the keychain, and unlocks from it', async () => {
    const dataDir = join(tmp.path, 'kc');
    const env = { ...isolatedEnv(), ...keyring.env };
    const child = startCli(['serve', ...EPHEMERAL, '--data-dir', dataDir], env);
    const printed = await waitForOutput(child, 'Ready.');
    assert.match(printed, /First run: creating profile \S+@localhost/);
    assert.match(printed, /secret: +OS keychain/);
    child.kill('SIGINT');
    assert.equal((await once(child, 'exit'))[0], 0);
    const profile = JSON.parse(readFileSync(join(dataDir, 'config.json'), 'utf8'));
    assert.equal(profile.secretStore, 'keychain');
    assert.equal(existsSync(join(dataDir, 'secret.json')), false);
    const stored = execFileSync('secret-tool', ['lookup', 'service', 'waxseal', 'username', profile.profileId], { env: keyring.env, encoding: 'utf8' });
    assert.equal(Buffer.from(stored.trim(), 'base64').length, 32);
    // A second start unlocks from the keychain with no passphrase anywhere.
    const again = startCli(['serve', ...EPHEMERAL, '--data-dir', dataDir], env);
    await waitForOutput(again, 'Ready.');
    again.kill('SIGTERM');
    assert.equal((await once(again, 'exit'))[0], 0);
  });
});
