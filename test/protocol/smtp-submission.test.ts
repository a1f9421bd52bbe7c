/**
 * SMTP submission end to end against the harness's Postfix and Dovecot: swaks and msmtp
 * submit to Waxseal; the message reaches the recipient's Dovecot mailbox PGP/MIME-encrypted
 * and gpg decrypts and verifies it; the Sent copy appears over Waxseal's IMAP; a recipient
 * the provider refuses becomes a bounce in INBOX while the others are delivered.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ImapFlow } from 'imapflow';
import { startProvider, type Provider } from '../harness/provider.js';
import { startGpg, type Gpg } from '../harness/gpg.js';
import { startDaemon, type DaemonHarness } from '../harness/daemon.js';
import { maildirMessages, waitForMaildir } from '../harness/maildir.js';
import { parseMime } from '../../src/mime/tree.js';

const run = promisify(execFile);
let provider: Provider;
let gpg: Gpg;
let bobFpr: string;
let w: DaemonHarness;
let myFpr: string;

before(async () => {
  provider = await startProvider({
    users: [
      { user: 'me@example.org', password: 'upstream-pw' },
      { user: 'bob@example.test', password: 'bob-pw' },
      { user: 'carol@example.test', password: 'carol-pw' },
    ],
  });
  gpg = await startGpg();
  bobFpr = await gpg.generate('Bob <bob@example.test>');
  w = await startDaemon({
    email: 'me@example.org',
    name: 'Me',
    upstreamSmtp: { host: '127.0.0.1', port: provider.postfix.submissionPort, tls: 'none', user: 'me@example.org', password: () => 'upstream-pw' },
  });
  await w.daemon.keyring.import(await gpg.exportPublic(bobFpr));
  myFpr = (await w.daemon.keyring.ownKeys())[0]!.getFingerprint().toUpperCase();
  await gpg.importKey(await w.daemon.keyring.export({}));
});
after(async () => {
  await w?.stop();
  await gpg?.stop();
  await provider?.stop();
});

const swaks = (args: string[]) =>
  run('swaks', ['--server', '127.0.0.1', '--port', String(w.credentials.smtp.port), '--auth', 'PLAIN', '--auth-user', w.credentials.user, '--auth-password', w.credentials.password, '--from', 'me@example.org', ...args], { timeout: 30_000 }).catch((e) => e as { stdout: string; stderr: string; code: number });

async function imap(): Promise<ImapFlow> {
  const c = new ImapFlow({ host: '127.0.0.1', port: w.credentials.imap.port, secure: false, doSTARTTLS: false, auth: { user: w.credentials.user, pass: w.credentials.password }, logger: false } as never);
  await c.connect();
  return c;
}

async function waitForMailbox(name: string, subject: RegExp, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  const c = await imap();
  try {
    for (;;) {
      await c.noop(); // an open mailbox learns of new mail at the next command
      const lock = await c.getMailboxLock(name);
      try {
        if ((c.mailbox as { exists: number }).exists > 0) {
          for await (const m of c.fetch('1:*', { source: true })) {
            const text = m.source!.toString('utf8');
            if (subject.test(text)) return text;
          }
        }
      } finally {
        lock.release();
      }
      if (Date.now() > deadline) throw new Error(`no message matching ${subject} in ${name}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await c.logout();
  }
}

describe('submission through Waxseal to the provider', () => {
  test('swaks: delivered encrypted to Bob, gpg decrypts and verifies, Sent copy over IMAP', async () => {
    const r = await swaks(['--to', 'bob@example.test', '--header', 'Subject: Lunch plans', '--body', 'Noon at the usual place.']);
    assert.match(r.stdout, /<-\s+250 2\.0\.0 Queued/);
    const [msg] = await waitForMaildir(provider.dovecot.mailDir('bob@example.test'), (m) => m.length >= 1);
    const text = msg!.toString('latin1');
    assert.match(text, /^Content-Type: multipart\/encrypted; protocol="application\/pgp-encrypted"/m);
    assert.match(text, /^Subject: \[\.\.\.\]$/m);
    assert.doesNotMatch(text, /Lunch plans|Noon at the usual place/);
    assert.match(text, /^Autocrypt: addr=me@example\.org; prefer-encrypt=mutual; keydata=/m);
    const tree = parseMime(msg!);
    const res = await gpg.decrypt(msg!.subarray(tree.children[1]!.bodyStart, tree.children[1]!.end));
    assert.equal(res.decrypted, true, res.stderr);
    assert.deepEqual(res.signatures.map((s) => [s.status, s.fpr]), [['GOOD', myFpr]]);
    assert.match(res.plaintext.toString('utf8'), /^Subject: Lunch plans\r?$/m);
    assert.match(res.plaintext.toString('utf8'), /Noon at the usual place\./);
    const sent = await waitForMailbox('Sent', /Subject: Lunch plans/);
    assert.match(sent, /^X-Waxseal-Encryption: encrypted$/m);
    assert.match(sent, /Noon at the usual place\./);
  });

  test('msmtp: submitted, and signed only to a recipient without a key', async () => {
    const conf = join(w.dir.path, 'msmtprc');
    writeFileSync(conf, ['defaults', 'auth plain', 'tls off', 'account waxseal', 'host 127.0.0.1', `port ${w.credentials.smtp.port}`, 'from me@example.org', `user ${w.credentials.user}`, `password ${w.credentials.password}`, 'account default : waxseal', ''].join('\n'), { mode: 0o600 });
    const mail = 'From: Me <me@example.org>\r\nTo: carol@example.test\r\nSubject: From msmtp\r\n\r\nHello Carol.\r\n';
    let stderr = '';
    const child = execFile('msmtp', ['-C', conf, 'carol@example.test'], (_e, _o, err) => (stderr = err));
    child.stdin!.end(mail);
    const code = await new Promise<number | null>((r) => child.once('close', r));
    assert.equal(code, 0, stderr);
    const [msg] = await waitForMaildir(provider.dovecot.mailDir('carol@example.test'), (m) => m.length >= 1);
    const text = msg!.toString('latin1');
    assert.match(text, /^Content-Type: multipart\/signed; micalg=pgp-sha256; protocol="application\/pgp-signature"/m);
    const tree = parseMime(msg!);
    // Dovecot's Maildir keeps LF line ends; the signature is over the CRLF form (RFC 3156).
    const signed = Buffer.from(msg!.subarray(tree.children[0]!.start, tree.children[0]!.end).toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
    const sigs = await gpg.verifyDetached(signed, msg!.subarray(tree.children[1]!.bodyStart, tree.children[1]!.end));
    assert.deepEqual(sigs.map((s) => [s.status, s.fpr]), [['GOOD', myFpr]]);
    const sent = await waitForMailbox('Sent', /Subject: From msmtp/);
    assert.match(sent, /^X-Waxseal-Encryption: none; reason="signed only: not every recipient has a key"$/m);
  });

  test('a recipient the provider refuses is bounced to INBOX; the others are delivered', async () => {
    const before = (await maildirMessages(provider.dovecot.mailDir('bob@example.test'))).length;
    const r = await swaks(['--to', 'bob@example.test,nobody@example.test', '--header', 'Subject: Partly deliverable', '--body', 'hi']);
    assert.match(r.stdout, /<-\s+250 2\.0\.0 Queued/);
    await waitForMaildir(provider.dovecot.mailDir('bob@example.test'), (m) => m.length > before);
    const bounce = await waitForMailbox('INBOX', /Undelivered Mail Returned to Sender/);
    assert.match(bounce, /nobody@example\.test/);
    assert.match(bounce, /Final-Recipient: rfc822; nobody@example\.test/);
    assert.match(bounce, /550 5\.1\.1/, "the provider's answer is quoted");
    assert.doesNotMatch(bounce, /Final-Recipient: rfc822; bob@/);
  });
});

/** Send lines (CRLF added) one at a time, waiting for each reply; returns every reply. */
async function rawSmtp(lines: string[]): Promise<string> {
  const { connect } = await import('node:net');
  const socket = connect(w.credentials.smtp.port, '127.0.0.1');
  let buf = '';
  const replies: string[] = [];
  const next = () =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const m = /(?:^|\r\n)(\d{3}) [^\r\n]*\r\n$/.exec(buf);
        if (!m) return;
        socket.off('data', onData);
        const r = buf;
        buf = '';
        resolve(r);
      };
      const onData = (d: Buffer) => {
        buf += d.toString('latin1');
        check();
      };
      socket.on('data', onData);
      socket.once('error', reject);
      check();
    });
  try {
    replies.push(await next());
    for (const line of lines) {
      socket.write(`${line}\r\n`);
      replies.push(await next());
    }
  } finally {
    socket.destroy();
  }
  return replies.join('');
}

describe('bad submissions get clear answers and queue nothing', () => {
  const queued = async () => (await w.daemon.outboxStatus())!.queued;

  test('unauthenticated, wrong password, foreign From, smuggling, oversized', async () => {
    const q0 = await queued();
    const noAuth = await run('swaks', ['--server', '127.0.0.1', '--port', String(w.credentials.smtp.port), '--from', 'me@example.org', '--to', 'bob@example.test'], { timeout: 30_000 }).catch((e) => e);
    assert.match(noAuth.stdout, /530 5\.7\.0 Authentication required/);
    const wrong = await run('swaks', ['--server', '127.0.0.1', '--port', String(w.credentials.smtp.port), '--auth', 'PLAIN', '--auth-user', w.credentials.user, '--auth-password', 'nope', '--to', 'bob@example.test'], { timeout: 30_000 }).catch((e) => e);
    assert.match(wrong.stdout, /535 5\.7\.8 Authentication failed/);
    const foreignEnvelope = await swaks(['--from', 'ceo@example.com', '--to', 'bob@example.test']).catch((e) => e);
    assert.match(foreignEnvelope.stdout, /553 5\.7\.1 This profile sends as me@example\.org only/);
    const foreignHeader = await swaks(['--to', 'bob@example.test', '--header', 'From: CEO <ceo@example.com>']);
    assert.match(foreignHeader.stdout, /553 5\.7\.1 From: ceo@example\.com is not an address of this profile/);
    const badRcpt = await swaks(['--to', 'not an address']);
    assert.match(badRcpt.stdout, /501 Error: Bad recipient address syntax/);
    // SMTP smuggling: "\n.\r\n" inside the data, then a smuggled transaction. swaks would
    // fix the line ends, so this one is written by hand.
    for (const marker of ['\n.\r\n', '\r\n.\n', '\n.\n', '\r.\r']) {
      const reply = await rawSmtp([
        'EHLO test',
        `AUTH PLAIN ${Buffer.from(`\0${w.credentials.user}\0${w.credentials.password}`).toString('base64')}`,
        'MAIL FROM:<me@example.org>',
        'RCPT TO:<bob@example.test>',
        'DATA',
        `From: me@example.org\r\nTo: bob@example.test\r\nSubject: innocent\r\n\r\ninnocent${marker}MAIL FROM:<ceo@example.com>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.`,
      ]);
      assert.match(reply, /554 5\.6\.0 Bare CR or LF next to a "\." line/, JSON.stringify(marker));
    }
    // SIZE follows what Postfix announces (its default message_size_limit, 10,240,000),
    // learnt in the background after start: wait for it, then go over it.
    const limit = (await import('../../src/mail/submission.js')).submissionLimit(10_240_000);
    const deadline = Date.now() + 10_000;
    while (!(await rawSmtp(['EHLO test'])).includes(`250 SIZE ${limit}\r\n`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const line = `${'x'.repeat(998)}\r\n`;
    const big = await rawSmtp([
      'EHLO test',
      `AUTH PLAIN ${Buffer.from(`\0${w.credentials.user}\0${w.credentials.password}`).toString('base64')}`,
      'MAIL FROM:<me@example.org>',
      'RCPT TO:<bob@example.test>',
      'DATA',
      `From: me@example.org\r\nSubject: big\r\n\r\n${line.repeat(Math.ceil((limit + 1000) / line.length))}.`,
    ]);
    assert.match(big, /552 5\.3\.4 Message too big: at most \d+ bytes/);
    assert.match((await rawSmtp(['EHLO test'])), new RegExp(`250 SIZE ${limit}\r\n`), 'SIZE tells the truth');
    assert.equal(await queued(), q0, 'nothing was queued');
  });
});
