/**
 * The embedded default, as the README walks a new user through it: `waxseal serve` with no
 * provider, send yourself a message with swaks, read it over IMAP — sealed, encrypted to you,
 * decrypted on arrival, labelled. Mail to anyone else bounces with a clear reason.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { isolatedEnv, killStartedClis, runCli, startCli, waitForOutput } from '../harness/cli.js';
import { makeTempDir, type TempDir } from '../harness/tmp.js';

const run = promisify(execFile);
let tmp: TempDir;
before(async () => {
  tmp = await makeTempDir('waxseal-embedded-');
});
after(async () => {
  await killStartedClis();
  await tmp?.cleanup();
});

async function messages(creds: { user: string; password: string; imap: { port: number } }, box: string, want: number): Promise<string[]> {
  const c = new ImapFlow({ host: '127.0.0.1', port: creds.imap.port, secure: false, doSTARTTLS: false, auth: { user: creds.user, pass: creds.password }, logger: false } as never);
  await c.connect();
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      await c.noop(); // an open mailbox learns of new mail at the next command
      const lock = await c.getMailboxLock(box);
      const out: string[] = [];
      try {
        if ((c.mailbox as { exists: number }).exists > 0) for await (const m of c.fetch('1:*', { source: true })) out.push(m.source!.toString('utf8'));
      } finally {
        lock.release();
      }
      if (out.length >= want || Date.now() > deadline) return out;
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await c.logout();
  }
}

test('send yourself an encrypted message with swaks and read it over IMAP', async () => {
  const env = isolatedEnv({ WAXSEAL_PASSPHRASE: 'embedded passphrase' });
  const dataDir = join(tmp.path, 'profile');
  const daemon = startCli(['serve', '--email', 'me@example.org', '--imap', '127.0.0.1:0', '--smtp', '127.0.0.1:0', '--data-dir', dataDir], env);
  const banner = await waitForOutput(daemon, 'Ready.');
  assert.match(banner, /sending: no provider configured: mail to yourself is delivered locally/);
  const creds = JSON.parse((await runCli(['credentials', '--json', '--data-dir', dataDir], env)).stdout);
  const swaks = (to: string, subject: string) =>
    run('swaks', ['--server', '127.0.0.1', '--port', String(creds.smtp.port), '--auth', 'PLAIN', '--auth-user', creds.user, '--auth-password', creds.password, '--from', creds.user, '--to', to, '--header', `Subject: ${subject}`, '--body', 'Hello from the embedded default.']);
  await swaks('me@example.org', 'Note to self');
  const [inbox] = await messages(creds, 'INBOX', 1);
  assert.match(inbox!, /^X-Waxseal-Encryption: encrypted$/m);
  assert.match(inbox!, /^X-Waxseal-Signature: valid; signer=[0-9A-F]{40}$/m);
  assert.match(inbox!, /^Subject: Note to self$/m, 'the protected subject is restored');
  assert.match(inbox!, /Hello from the embedded default\./);
  const sent = await messages(creds, 'Sent', 1);
  assert.equal(sent.length, 1);

  await swaks('someone@example.net', 'Goes nowhere');
  const after = await messages(creds, 'INBOX', 2);
  const bounce = after.find((m) => /Undelivered Mail Returned to Sender/.test(m));
  assert.ok(bounce, 'a bounce arrived');
  assert.match(bounce!, /someone@example\.net/);
  assert.match(bounce!, /No mail provider is configured/);
  const status = JSON.parse((await runCli(['status', '--json', '--data-dir', dataDir], env)).stdout);
  assert.equal(status.daemon.outbox.queued, 0);
  assert.equal(status.daemon.services.smtp.state, 'running');
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
});

test('mail to another local profile is handed to its daemon, encrypted to its key', async () => {
  const { startDaemon } = await import('../harness/daemon.js');
  const registryDir = join(tmp.path, 'run');
  const alice = await startDaemon({ email: 'alice@localhost', registryDir, dir: await makeTempDir('waxseal-alice-') });
  const bob = await startDaemon({ email: 'bob@localhost', registryDir, dir: await makeTempDir('waxseal-bob-') });
  try {
    await run('swaks', ['--server', '127.0.0.1', '--port', String(alice.credentials.smtp.port), '--auth', 'PLAIN', '--auth-user', alice.credentials.user, '--auth-password', alice.credentials.password, '--from', 'alice@localhost', '--to', 'bob@localhost', '--header', 'Subject: Between profiles', '--body', 'Hi Bob.']);
    const [got] = await messages(bob.credentials, 'INBOX', 1);
    assert.match(got!, /^X-Waxseal-Encryption: encrypted$/m, 'encrypted to Bob\'s key');
    assert.match(got!, /^X-Waxseal-Signature: valid; signer=/m, "Alice's key came with her Autocrypt header");
    assert.match(got!, /^Subject: Between profiles$/m);
    assert.equal((await messages(alice.credentials, 'Sent', 1)).length, 1);
  } finally {
    await bob.stop();
    await alice.stop();
    await bob.dir.cleanup();
    await alice.dir.cleanup();
  }
});
