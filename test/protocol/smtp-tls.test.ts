/**
 * TLS on both sides of the outbox: a client submits over STARTTLS and over implicit TLS,
 * trusting the profile's certificate; Waxseal relays to a provider that requires STARTTLS,
 * and to one on implicit TLS (submissions, RFC 8314), trusting the provider's CA.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createTransport } from 'nodemailer';
import { startProvider, type Provider } from '../harness/provider.js';
import { startDaemon, type DaemonHarness } from '../harness/daemon.js';
import { waitForMaildir } from '../harness/maildir.js';

let provider: Provider;
before(async () => {
  provider = await startProvider({ tls: true, users: [{ user: 'me@example.org', password: 'upstream-pw' }, { user: 'bob@example.test', password: 'bob-pw' }] });
});
after(async () => provider?.stop());

async function sendThrough(w: DaemonHarness, how: 'starttls' | 'implicit', subject: string): Promise<void> {
  const ca = readFileSync(w.credentials.certificate!.file, 'utf8');
  const port = how === 'implicit' ? w.credentials.smtps!.port : w.credentials.smtp.port;
  const t = createTransport({ host: 'localhost', port, secure: how === 'implicit', requireTLS: how === 'starttls', tls: { ca: [ca] }, auth: { user: w.credentials.user, pass: w.credentials.password } });
  try {
    const info = await t.sendMail({ from: 'me@example.org', to: 'bob@example.test', subject, text: 'over TLS' });
    assert.match(String(info.response), /^250 2\.0\.0 Queued/);
  } finally {
    t.close();
  }
}

for (const relay of ['starttls', 'implicit'] as const) {
  test(`submitted over STARTTLS and implicit TLS, relayed with ${relay} TLS`, async () => {
    const w = await startDaemon({
      upstreamSmtp: {
        host: '127.0.0.1',
        port: relay === 'implicit' ? provider.postfix.submissionsPort! : provider.postfix.submissionPort,
        tls: relay,
        ca: provider.postfix.tls!.ca,
        user: 'me@example.org',
        password: () => 'upstream-pw',
      },
    });
    try {
      await sendThrough(w, 'starttls', `${relay}-a`);
      await sendThrough(w, 'implicit', `${relay}-b`);
      // Bob has no key: signed only, so the subjects are visible at the provider.
      await waitForMaildir(provider.dovecot.mailDir('bob@example.test'), (m) => [`${relay}-a`, `${relay}-b`].every((s) => m.some((x) => x.toString().includes(`Subject: ${s}\n`))));
      assert.equal((await w.daemon.outboxStatus())!.queued, 0);
    } finally {
      await w.stop();
    }
  });
}

test('a client that does not trust the profile certificate cannot submit over TLS', async () => {
  const w = await startDaemon();
  try {
    const t = createTransport({ host: 'localhost', port: w.credentials.smtps!.port, secure: true, auth: { user: w.credentials.user, pass: w.credentials.password } });
    await assert.rejects(t.sendMail({ from: 'me@example.org', to: 'me@example.org', subject: 'x', text: 'x' }), /self[- ]signed|certificate/i);
    t.close();
    assert.equal((await w.daemon.outboxStatus())!.queued, 0);
  } finally {
    await w.stop();
  }
});
