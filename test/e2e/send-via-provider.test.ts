/**
 * Sending through the provider as a user sets it up: `account set` (IMAP and SMTP of the
 * harness's Dovecot and Postfix), `serve`, then a message submitted with swaks reaches the
 * recipient's mailbox at the provider, signed, and the Sent copy shows over IMAP. The
 * provider password comes from WAXSEAL_UPSTREAM_PASSWORD, as for fetching.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { isolatedEnv, killStartedClis, runCli, startCli, waitForOutput } from '../harness/cli.js';
import { startProvider, type Provider } from '../harness/provider.js';
import { waitForMaildir } from '../harness/maildir.js';
import { makeTempDir, type TempDir } from '../harness/tmp.js';

const run = promisify(execFile);
const ME = { user: 'me@example.org', password: 'me-provider-pw' };
let tmp: TempDir;
let provider: Provider;

before(async () => {
  [tmp, provider] = await Promise.all([makeTempDir('waxseal-e2e-send-'), startProvider({ users: [ME, { user: 'bob@example.test', password: 'bob-pw' }] })]);
});
after(async () => {
  await killStartedClis();
  await Promise.all([provider?.stop(), tmp?.cleanup()]);
});

test('account set, serve, submit: delivered by the provider; the Sent copy is kept', async () => {
  const env = isolatedEnv({ WAXSEAL_PASSPHRASE: 'send via provider', WAXSEAL_UPSTREAM_PASSWORD: ME.password });
  const dataDir = join(tmp.path, 'profile');
  assert.equal((await runCli(['init', '--email', ME.user, '--data-dir', dataDir], env)).code, 0);
  const set = await runCli(['account', 'set', '--imap-host', '127.0.0.1', '--imap-port', String(provider.dovecot.imapPort), '--tls', 'none', '--smtp-port', String(provider.postfix.submissionPort), '--user', ME.user, '--data-dir', dataDir], env);
  assert.equal(set.code, 0, set.stderr);
  const daemon = startCli(['serve', '--imap', '127.0.0.1:0', '--smtp', '127.0.0.1:0', '--data-dir', dataDir], env);
  const banner = await waitForOutput(daemon, 'Ready.');
  assert.match(banner, /sending: through your provider/);
  const creds = JSON.parse((await runCli(['credentials', '--json', '--data-dir', dataDir], env)).stdout);
  const r = await run('swaks', ['--server', '127.0.0.1', '--port', String(creds.smtp.port), '--auth', 'PLAIN', '--auth-user', creds.user, '--auth-password', creds.password, '--from', ME.user, '--to', 'bob@example.test', '--header', 'Subject: via the provider', '--body', 'relayed']);
  assert.match(r.stdout, /250 2\.0\.0 Queued/);
  const [msg] = await waitForMaildir(provider.dovecot.mailDir('bob@example.test'), (m) => m.some((x) => x.toString().includes('Subject: via the provider')));
  assert.ok(msg);
  const got = (await waitForMaildir(provider.dovecot.mailDir('bob@example.test'), () => true)).find((x) => x.toString().includes('via the provider'))!.toString();
  assert.match(got, /^Content-Type: multipart\/signed; micalg=pgp-sha256/m, 'Bob has no key: signed');
  assert.match(got, /^Autocrypt: addr=me@example\.org/m);
  const status = JSON.parse((await runCli(['status', '--json', '--data-dir', dataDir], env)).stdout);
  assert.equal(status.daemon.outbox.relay, 'provider');
  daemon.kill('SIGTERM');
  await new Promise((res) => daemon.once('exit', res));
});
