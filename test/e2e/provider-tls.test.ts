/**
 * A provider that speaks TLS, as real ones do: `account set` with STARTTLS (IMAP 143-style,
 * submission 587-style) and with implicit TLS (993/465-style). Mail sent to yourself through
 * Waxseal goes out over TLS to the provider's Postfix, comes back into the provider's
 * Dovecot, and is fetched over TLS into Waxseal's INBOX. The provider's certificate is
 * trusted the standard Node way, NODE_EXTRA_CA_CERTS, as a user with a private CA would.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { isolatedEnv, killStartedClis, runCli, startCli, waitForOutput } from '../harness/cli.js';
import { startProvider, type Provider } from '../harness/provider.js';
import { makeTempDir, type TempDir } from '../harness/tmp.js';

const run = promisify(execFile);
const ME = { user: 'me@example.org', password: 'me-provider-pw' };
let tmp: TempDir;
let provider: Provider;
let caFile: string;

before(async () => {
  [tmp, provider] = await Promise.all([makeTempDir('waxseal-e2e-tls-'), startProvider({ tls: true, users: [ME] })]);
  caFile = join(tmp.path, 'provider-ca.pem');
  writeFileSync(caFile, `${provider.dovecot.tls!.ca}\n${provider.postfix.tls!.ca}\n`);
});
after(async () => {
  await killStartedClis();
  await Promise.all([provider?.stop(), tmp?.cleanup()]);
});

for (const mode of ['starttls', 'implicit'] as const) {
  test(`${mode}: sent through the provider and fetched back over TLS`, async () => {
    const env = isolatedEnv({ WAXSEAL_PASSPHRASE: 'tls provider', WAXSEAL_UPSTREAM_PASSWORD: ME.password, NODE_EXTRA_CA_CERTS: caFile });
    const dataDir = join(tmp.path, mode);
    assert.equal((await runCli(['init', '--email', ME.user, '--data-dir', dataDir], env)).code, 0);
    const imapPort = mode === 'implicit' ? provider.dovecot.imapsPort! : provider.dovecot.imapPort;
    const smtpPort = mode === 'implicit' ? provider.postfix.submissionsPort! : provider.postfix.submissionPort;
    const set = await runCli(['account', 'set', '--imap-host', 'localhost', '--imap-port', String(imapPort), '--tls', mode, '--smtp-port', String(smtpPort), '--smtp-tls', mode, '--user', ME.user, '--poll', '1', '--data-dir', dataDir], env);
    assert.equal(set.code, 0, set.stderr);
    const daemon = startCli(['serve', '--imap', '127.0.0.1:0', '--smtp', '127.0.0.1:0', '--data-dir', dataDir], env);
    await waitForOutput(daemon, 'Ready.');
    try {
      const creds = JSON.parse((await runCli(['credentials', '--json', '--data-dir', dataDir], env)).stdout);
      await run('swaks', ['--server', '127.0.0.1', '--port', String(creds.smtp.port), '--auth', 'PLAIN', '--auth-user', creds.user, '--auth-password', creds.password, '--from', ME.user, '--to', ME.user, '--header', `Subject: round trip ${mode}`, '--body', 'over TLS both ways']);
      const c = new ImapFlow({ host: '127.0.0.1', port: creds.imap.port, secure: false, doSTARTTLS: false, auth: { user: creds.user, pass: creds.password }, logger: false } as never);
      await c.connect();
      try {
        const deadline = Date.now() + 60_000;
        let found = '';
        while (!found && Date.now() < deadline) {
          await c.noop();
          const lock = await c.getMailboxLock('INBOX');
          try {
            if ((c.mailbox as { exists: number }).exists > 0) {
              for await (const m of c.fetch('1:*', { source: true })) if (m.source!.toString().includes(`Subject: round trip ${mode}`)) found = m.source!.toString();
            }
          } finally {
            lock.release();
          }
          if (!found) await new Promise((r) => setTimeout(r, 250));
        }
        assert.ok(found, 'the message came back through the provider');
        assert.match(found, /^X-Waxseal-Encryption: encrypted$/m, 'it travelled encrypted to ourselves');
        assert.match(found, /^X-Waxseal-Signature: valid; signer=/m);
        assert.match(found, /over TLS both ways/);
      } finally {
        await c.logout();
      }
    } finally {
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon.once('exit', r));
    }
  });
}
