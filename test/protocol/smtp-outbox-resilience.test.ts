/**
 * The outbox keeps every accepted message through provider outages and crashes:
 * - provider down → messages accepted and queued → provider back → each delivered once;
 * - kill -9 of the daemon with 50 queued → restart → all 50 delivered, none lost (a repeat
 *   is allowed only with the same Message-ID).
 * The provider "goes down" as a real outage looks from here: its port refuses connections
 * (a loopback forwarder in front of the harness's Postfix is closed and reopened).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTransport } from 'nodemailer';
import { startProvider, type Provider } from '../harness/provider.js';
import { startDaemon, initDaemonProfile, startDaemonProcess } from '../harness/daemon.js';
import { startTcpProxy, type TcpProxy } from '../harness/tcp-proxy.js';
import { maildirMessages, waitForMaildir } from '../harness/maildir.js';
import { makeTempDir, type TempDir } from '../harness/tmp.js';

let provider: Provider;
let proxy: TcpProxy;
let tmp: TempDir;

before(async () => {
  provider = await startProvider({ users: [{ user: 'me@example.org', password: 'upstream-pw' }, { user: 'bob@example.test', password: 'bob-pw' }] });
  proxy = await startTcpProxy({ port: provider.postfix.submissionPort }, { startDown: true });
  tmp = await makeTempDir('waxseal-outbox-');
});
after(async () => {
  await proxy?.close();
  await provider?.stop();
  await tmp?.cleanup();
});

const messageIds = (msgs: Buffer[]) => msgs.map((m) => /^Message-ID: (.*)$/im.exec(m.toString('latin1'))?.[1]?.trim() ?? '');

async function submitAll(port: number, user: string, pass: string, n: number, tag: string): Promise<string[]> {
  const t = createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, auth: { user, pass }, pool: true, maxConnections: 4 });
  try {
    const ids: string[] = [];
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const id = `<${tag}-${i}@example.org>`;
        ids.push(id);
        await t.sendMail({ from: 'me@example.org', to: 'bob@example.test', subject: `${tag} ${i}`, text: `message ${i}`, messageId: id });
      }),
    );
    return ids;
  } finally {
    t.close();
  }
}

test('provider down: accepted and queued; provider back: each delivered exactly once', async () => {
  const bobDir = provider.dovecot.mailDir('bob@example.test');
  const w = await startDaemon({
    dir: await makeTempDir('waxseal-outage-'),
    upstreamSmtp: { host: '127.0.0.1', port: proxy.port, tls: 'none', user: 'me@example.org', password: () => 'upstream-pw', timeoutMs: 2000 },
    outbox: { retryBaseMs: 300 },
  });
  try {
    const ids = await submitAll(w.credentials.smtp.port, w.credentials.user, w.credentials.password, 3, 'outage');
    // Queued, with the reason visible in status, while the provider is away.
    const deadline = Date.now() + 10_000;
    let status = await w.daemon.outboxStatus();
    while (!status?.lastError && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      status = await w.daemon.outboxStatus();
    }
    assert.equal(status!.queued, 3);
    assert.match(status!.lastError!, /ECONNREFUSED|connect/i);
    assert.equal((await maildirMessages(bobDir)).filter((m) => /outage/.test(m.toString())).length, 0);
    await proxy.up();
    const msgs = await waitForMaildir(bobDir, (m) => messageIds(m).filter((id) => ids.includes(id)).length >= 3);
    // Give a duplicate a chance to show up before counting.
    await new Promise((r) => setTimeout(r, 1000));
    const seen = messageIds(await maildirMessages(bobDir)).filter((id) => ids.includes(id));
    assert.deepEqual(seen.sort(), [...ids].sort(), 'each exactly once');
    assert.equal((await w.daemon.outboxStatus())!.queued, 0);
    void msgs;
  } finally {
    await w.stop();
    await proxy.down();
  }
});

test('kill -9 with 50 queued, restart: all 50 delivered, none lost', async () => {
  const bobDir = provider.dovecot.mailDir('bob@example.test');
  const dataDir = await initDaemonProfile(tmp);
  const upstreamSmtp = { host: '127.0.0.1', port: proxy.port, tls: 'none' as const, user: 'me@example.org', password: 'upstream-pw', timeoutMs: 2000 };
  const first = await startDaemonProcess(dataDir, { upstreamSmtp, outbox: { retryBaseMs: 60_000 } });
  const ids = await submitAll(first.credentials.smtp.port, first.credentials.user, first.credentials.password, 50, 'crash');
  await first.kill9();
  await proxy.up();
  const second = await startDaemonProcess(dataDir, { upstreamSmtp, outbox: { retryBaseMs: 300 } });
  try {
    await waitForMaildir(bobDir, (m) => new Set(messageIds(m).filter((id) => ids.includes(id))).size >= 50, 60_000);
    const seen = messageIds(await maildirMessages(bobDir)).filter((id) => ids.includes(id));
    assert.equal(new Set(seen).size, 50, 'every accepted message arrived');
    // Any repeat carries a Message-ID of an accepted message (checked by the filter above).
  } finally {
    await second.stop();
  }
});
