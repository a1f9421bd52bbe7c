/**
 * Fetching from the provider through the `waxseal` command, as a user runs it: `account set`
 * refuses a wrong password or an unreachable server and saves nothing; `serve` fetches a
 * 2,000-message mailbox; `kill -9` in the middle of that first sync and a restart leave
 * exactly 2,000 messages; `status` shows the progress; `offline on|off` stops and resumes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { ImapFlow } from 'imapflow';
import { isolatedEnv, killStartedClis, runCli, startCli, waitForOutput } from '../harness/cli.js';
import { startGpg, type Gpg } from '../harness/gpg.js';
import { startProvider, type Provider } from '../harness/provider.js';
import { appendMany } from '../harness/fill.js';
import { mixedMailbox } from '../harness/mail-mix.js';
import { freePort, makeTempDir, type TempDir } from '../harness/tmp.js';
import type { DaemonStatus } from '../../src/daemon/daemon.js';

const ALICE = { user: 'alice@example.org', password: 'alice-provider-pw' };
const PASS = 'correct horse battery staple';
const EPHEMERAL = ['--imap', '127.0.0.1:0', '--imaps', '127.0.0.1:0', '--smtp', '127.0.0.1:0'];
const TOTAL = 2000;

let tmp: TempDir;
let provider: Provider;
let gpg: Gpg;
let dataDir: string;

before(async () => {
  [tmp, provider, gpg] = await Promise.all([makeTempDir('waxseal-e2e-upstream-'), startProvider({ users: [ALICE] }), startGpg()]);
  dataDir = join(tmp.path, 'profile');
  const r = await runCli(['init', '--email', ALICE.user, '--data-dir', dataDir], env());
  assert.equal(r.code, 0, r.stderr);
});
after(async () => {
  await killStartedClis();
  await Promise.all([provider?.stop(), gpg?.stop(), tmp?.cleanup()]);
});

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return isolatedEnv({ WAXSEAL_PASSPHRASE: PASS, ...extra });
}

function accountArgs(port = provider.dovecot.imapPort): string[] {
  return ['account', 'set', '--imap-host', '127.0.0.1', '--imap-port', String(port), '--tls', 'none', '--user', ALICE.user, '--poll', '1', '--data-dir', dataDir];
}

const config = () => JSON.parse(readFileSync(join(dataDir, 'config.json'), 'utf8')) as { account: unknown };

async function daemonStatus(): Promise<DaemonStatus | undefined> {
  try {
    const info = JSON.parse(readFileSync(join(dataDir, 'control.json'), 'utf8')) as { port: number };
    const token = readFileSync(join(dataDir, 'control.token'), 'utf8').trim();
    const res = await fetch(`http://127.0.0.1:${info.port}/v1/status`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5000) });
    return (await res.json()) as DaemonStatus;
  } catch {
    return undefined;
  }
}

async function untilStatus(pred: (s: DaemonStatus) => boolean, what: string, timeoutMs = 300_000): Promise<DaemonStatus> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = await daemonStatus();
    if (s && pred(s)) return s;
    if (Date.now() > end) throw new Error(`no "${what}" within ${timeoutMs} ms: ${JSON.stringify(s?.upstream)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function serve(): Promise<ChildProcess> {
  const child = startCli(['serve', ...EPHEMERAL, '--data-dir', dataDir], env());
  await waitForOutput(child, 'Ready.');
  return child;
}

test('account set: a wrong password and an unreachable server are refused clearly, and nothing is saved', async () => {
  const wrong = await runCli(accountArgs(), env({ WAXSEAL_UPSTREAM_PASSWORD: 'not-the-password' }));
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /refused the login for alice@example\.org: wrong user name or password/);
  assert.doesNotMatch(wrong.stderr, /not-the-password|\n\s+at /, 'no password and no stack trace');
  assert.equal(config().account, null);
  const nowhere = await runCli(accountArgs(await freePort()), env({ WAXSEAL_UPSTREAM_PASSWORD: ALICE.password }));
  assert.equal(nowhere.code, 1);
  assert.match(nowhere.stderr, /Could not connect to 127\.0\.0\.1:\d+: connection refused/);
  assert.equal(config().account, null);
  const noPassword = await runCli(accountArgs(), env());
  assert.equal(noPassword.code, 2);
  assert.match(noPassword.stderr, /WAXSEAL_UPSTREAM_PASSWORD/);
  const badTls = await runCli([...accountArgs(), '--tls', 'sometimes'], env({ WAXSEAL_UPSTREAM_PASSWORD: ALICE.password }));
  assert.equal(badTls.code, 2);
  assert.match(badTls.stderr, /"sometimes" is not starttls, implicit or none/);
});

test('account set logs in and saves the account without its password; account show prints it', async () => {
  const r = await runCli(accountArgs(), env({ WAXSEAL_UPSTREAM_PASSWORD: ALICE.password }));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Logged in to 127\.0\.0\.1:\d+ as alice@example\.org; the account is saved/);
  const saved = readFileSync(join(dataDir, 'config.json'), 'utf8');
  assert.doesNotMatch(saved, new RegExp(ALICE.password));
  assert.deepEqual(config().account, {
    imap: { host: '127.0.0.1', port: provider.dovecot.imapPort, tls: 'none' },
    smtp: { host: '127.0.0.1', port: 587, tls: 'none' },
    user: ALICE.user,
    afterIngest: { action: 'leave' },
    pollSeconds: 1,
  });
  const show = await runCli(['account', 'show', '--data-dir', dataDir], env());
  assert.match(show.stdout, /IMAP: 127\.0\.0\.1:\d+ \(none\)/);
});

test('kill -9 during the first sync, restart: exactly 2,000 messages, none twice', async () => {
  const exported = await runCli(['keys', 'export', '--data-dir', dataDir], env());
  assert.equal(exported.code, 0, exported.stderr);
  await gpg.importKey(exported.stdout);
  await gpg.generate('Bob <bob@example.net>');
  const mix = await mixedMailbox({ gpg, sender: 'bob@example.net', to: ALICE.user, recipient: ALICE.user, plain: TOTAL - 100, encrypted: 100 });
  await appendMany({ port: provider.dovecot.imapPort, user: ALICE.user, password: ALICE.password, messages: mix.map((m) => m.raw) });

  const first = await serve();
  const mid = await untilStatus((s) => (s.upstream?.progress.done ?? 0) >= 250, 'the first batches stored');
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  assert.ok(mid.upstream!.progress.done < TOTAL, `killed in the middle (${mid.upstream!.progress.done} of ${TOTAL} done)`);
  assert.equal(mid.upstream!.progress.total, TOTAL);
  assert.equal(mid.upstream!.firstSync, true);

  const second = await serve();
  const status = await runCli(['status', '--data-dir', dataDir], env());
  assert.match(status.stdout, /fetching: /);
  const done = await untilStatus((s) => s.upstream?.state === 'idle' && !s.upstream.firstSync, 'first sync finished');
  assert.equal(done.upstream!.counters.undecryptable, 0);
  assert.equal(done.mailboxes.find((m) => m.name === 'INBOX')!.messages, TOTAL);

  const creds = JSON.parse((await runCli(['credentials', '--json', '--data-dir', dataDir], env())).stdout) as { user: string; password: string; imap: { port: number } };
  const client = new ImapFlow({ host: '127.0.0.1', port: creds.imap.port, secure: false, doSTARTTLS: false, auth: { user: creds.user, pass: creds.password }, logger: false } as never);
  await client.connect();
  try {
    await client.mailboxOpen('INBOX');
    const digests = new Set<string>();
    for await (const m of client.fetch('1:*', { source: true })) {
      const body = m.source!.toString('latin1').replace(/^X-Waxseal-Encryption: [^\r\n]*\r\nX-Waxseal-Signature: [^\r\n]*\r\n/, '');
      digests.add(createHash('sha256').update(body, 'latin1').digest('hex'));
    }
    assert.equal(digests.size, TOTAL, 'every message once');
  } finally {
    await client.logout();
  }

  const off = await runCli(['offline', 'on', '--data-dir', dataDir], env());
  assert.equal(off.code, 0, off.stderr);
  await untilStatus((s) => s.upstream?.state === 'offline', 'offline');
  await provider.dovecot.deliver(ALICE.user, 'From: x@example.net\r\nSubject: while offline\r\nMessage-ID: <e2e-offline@x>\r\n\r\nhi\r\n');
  assert.equal((await runCli(['offline', 'off', '--data-dir', dataDir], env())).code, 0);
  await untilStatus((s) => s.mailboxes.find((m) => m.name === 'INBOX')!.messages === TOTAL + 1, 'fetched once back online');
  second.kill('SIGTERM');
  await new Promise((r) => second.once('exit', r));
});
