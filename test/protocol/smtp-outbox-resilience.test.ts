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
import { ImapFlow } from 'imapflow';
import { connect } from 'node:net';
import { submissionLimit } from '../../src/mail/submission.js';

let provider: Provider;
let proxy: TcpProxy;
let tmp: TempDir;

before(async () => {
  provider = await startProvider({
    users: [{ user: 'me@example.org', password: 'upstream-pw' }, { user: 'bob@example.test', password: 'bob-pw' }],
    postfixConfig: { message_size_limit: '10240000' },
  });
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
    await proxy.down();
  }
});

async function ehloSize(port: number): Promise<number> {
  const socket = connect(port, '127.0.0.1');
  let buf = '';
  try {
    return await new Promise<number>((resolve) => {
      socket.on('data', (d) => {
        buf += d.toString();
        if (buf.startsWith('220') && !buf.includes('EHLO-SENT')) {
          buf += 'EHLO-SENT';
          socket.write('EHLO t\r\n');
        }
        const m = /250 SIZE (\d+)\r\n/.exec(buf);
        if (m) resolve(Number(m[1]));
      });
    });
  } finally {
    socket.destroy();
  }
}

test('SIZE follows the provider: its limit less what encryption adds', async () => {
  const w = await startDaemon({ upstreamSmtp: { host: '127.0.0.1', port: provider.postfix.submissionPort, tls: 'none', user: 'me@example.org', password: () => 'upstream-pw' } });
  try {
    const want = submissionLimit(10240000);
    const deadline = Date.now() + 10_000;
    let size = await ehloSize(w.credentials.smtp.port);
    while (size !== want && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      size = await ehloSize(w.credentials.smtp.port);
    }
    assert.equal(size, want);
    assert.ok(want < 10240000 / 1.3, 'room for base64 armor and headers');
  } finally {
    await w.stop();
  }
});

test('offline: accepted and kept, no connection to the provider; online again: sent', async () => {
  await proxy.up();
  const before = proxy.connections;
  const dir = await makeTempDir('waxseal-offline-');
  const upstreamSmtp = { host: '127.0.0.1', port: proxy.port, tls: 'none' as const, user: 'me@example.org', password: () => 'upstream-pw' };
  const off = await startDaemon({ dir, upstreamSmtp, offline: true });
  const ids = await submitAll(off.credentials.smtp.port, off.credentials.user, off.credentials.password, 2, 'offline');
  await new Promise((r) => setTimeout(r, 1000));
  const status = (await off.daemon.outboxStatus())!;
  assert.deepEqual([status.queued, status.offline], [2, true]);
  assert.equal(proxy.connections, before, 'no network use while offline');
  await off.stop();
  const on = await startDaemon({ dir, upstreamSmtp });
  try {
    await waitForMaildir(provider.dovecot.mailDir('bob@example.test'), (m) => ids.every((id) => messageIds(m).includes(id)));
  } finally {
    await on.stop();
    await dir.cleanup();
    await proxy.down();
  }
});

test('still undelivered after the maximum age: a bounce in INBOX with the last error', async () => {
  const w = await startDaemon({
    upstreamSmtp: { host: '127.0.0.1', port: proxy.port, tls: 'none', user: 'me@example.org', password: () => 'upstream-pw', timeoutMs: 1000 },
    outbox: { retryBaseMs: 200, maxAgeMs: 1500 },
  });
  try {
    await submitAll(w.credentials.smtp.port, w.credentials.user, w.credentials.password, 1, 'too-old');
    const c = new ImapFlow({ host: '127.0.0.1', port: w.credentials.imap.port, secure: false, doSTARTTLS: false, auth: { user: w.credentials.user, pass: w.credentials.password }, logger: false } as never);
    await c.connect();
    try {
      const deadline = Date.now() + 20_000;
      let text = '';
      while (!text && Date.now() < deadline) {
        await c.noop(); // an open mailbox learns of new mail at the next command
        const lock = await c.getMailboxLock('INBOX');
        try {
          if ((c.mailbox as { exists: number }).exists > 0) for await (const m of c.fetch('1:*', { source: true })) text = m.source!.toString();
        } finally {
          lock.release();
        }
        if (!text) await new Promise((r) => setTimeout(r, 200));
      }
      assert.match(text, /Undelivered Mail Returned to Sender/);
      assert.match(text, /bob@example\.test/);
      assert.match(text, /not delivered after \d+ hours; last error: .*ECONNREFUSED/);
    } finally {
      await c.logout();
    }
    assert.equal((await w.daemon.outboxStatus())!.queued, 0);
  } finally {
    await w.stop();
  }
});
