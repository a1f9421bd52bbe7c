/**
 * The provider harness against real clients: raw IMAP over node:net/tls, LMTP, and swaks for
 * SMTP. These tests guard what every protocol and e2e test relies on: mail really flows,
 * refusals really happen, and stop() really leaves nothing behind.
 */
import { execFile } from 'node:child_process';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import { startDovecot, startPostfix, startProvider } from './provider.js';
import type { Provider } from './provider.js';

const ALICE = { user: 'alice@example.test', password: 'alice-pw' };
const BOB = { user: 'bob@example.org', password: 'bob-pw' };
const GHOST = 'ghost@example.test'; // accepted by Postfix, unknown to Dovecot

describe('provider: one Dovecot + Postfix', () => {
  let provider: Provider;
  before(async () => {
    provider = await startProvider({ users: [ALICE, BOB], undeliverable: [GHOST] });
  });
  after(() => provider?.stop());

  it('delivers by LMTP and serves the message over IMAP', async () => {
    const token = randomUUID();
    await provider.dovecot.deliver(ALICE.user, `Subject: lmtp ${token}\r\n\r\n.dot-stuffed line\r\nbody\r\n`);
    const transcript = await imap(provider.dovecot.imapPort, [
      `LOGIN ${ALICE.user} ${ALICE.password}`,
      'SELECT INBOX',
      'UID FETCH 1:* (BODY.PEEK[])',
    ]);
    assert.match(transcript, new RegExp(`Subject: lmtp ${token}`));
    // LMTP dot-stuffing must round-trip: the stored line starts with one dot, not two.
    assert.match(transcript, /\r\n\.dot-stuffed line\r\n/);
  });

  it('refuses LMTP delivery to a user Dovecot does not know', async () => {
    await assert.rejects(provider.dovecot.deliver('nobody@example.test', 'Subject: x\r\n\r\nx\r\n'), /550 5\.1\.1/);
  });

  it('refuses an IMAP login with a wrong password', async () => {
    const transcript = await imap(provider.dovecot.imapPort, [`LOGIN ${ALICE.user} wrong`]);
    assert.match(transcript, /^A1 NO /m);
  });

  it('delivers authenticated submission to the recipient mailbox', async () => {
    const token = randomUUID();
    const out = await swaks(provider.postfix.submissionPort, ['--from', ALICE.user, '--to', BOB.user,
      '--auth', 'PLAIN', '--auth-user', ALICE.user, '--auth-password', ALICE.password, '--header', `Subject: sub ${token}`]);
    assert.equal(out.code, 0, out.text);
    assert.match(out.text, /235 2\.7\.0/);
    const message = await waitForMail(provider.dovecot.mailDir(BOB.user), token);
    assert.match(message, /^Subject: sub /m);
  });

  it('refuses submission without AUTH', async () => {
    const out = await swaks(provider.postfix.submissionPort, ['--from', ALICE.user, '--to', BOB.user]);
    assert.notEqual(out.code, 0);
    assert.match(out.text, /<\*\* 554 5\.7\.1 .*Access denied/);
    assert.doesNotMatch(out.text, /queued as/);
  });

  it('refuses AUTH with a wrong password', async () => {
    const out = await swaks(provider.postfix.submissionPort, ['--from', ALICE.user, '--to', BOB.user,
      '--auth', 'PLAIN', '--auth-user', ALICE.user, '--auth-password', 'wrong']);
    assert.notEqual(out.code, 0);
    assert.match(out.text, /<\*\* 535 /);
  });

  it('refuses an unknown recipient at RCPT time', async () => {
    const out = await swaks(provider.postfix.submissionPort, ['--from', ALICE.user, '--to', 'nobody@example.test',
      '--auth', 'PLAIN', '--auth-user', ALICE.user, '--auth-password', ALICE.password]);
    assert.notEqual(out.code, 0);
    assert.match(out.text, /<\*\* 550 5\.1\.1 <nobody@example\.test>/);
  });

  it('refuses mail to domains outside the provider', async () => {
    const out = await swaks(provider.postfix.submissionPort, ['--from', ALICE.user, '--to', 'someone@elsewhere.invalid',
      '--auth', 'PLAIN', '--auth-user', ALICE.user, '--auth-password', ALICE.password]);
    assert.notEqual(out.code, 0);
    assert.match(out.text, /<\*\* 5\d\d /);
  });

  it('bounces to the sender what the mailbox server refuses after acceptance', async () => {
    const token = randomUUID();
    const out = await swaks(provider.postfix.submissionPort, ['--from', ALICE.user, '--to', GHOST,
      '--auth', 'PLAIN', '--auth-user', ALICE.user, '--auth-password', ALICE.password, '--header', `Subject: bounce ${token}`]);
    assert.equal(out.code, 0, out.text);
    const bounce = await waitForMail(provider.dovecot.mailDir(ALICE.user), token);
    assert.match(bounce, /^From: .*<MAILER-DAEMON@/m);
    assert.match(bounce, /^Subject: Undelivered Mail Returned to Sender/m);
    assert.match(bounce, /<ghost@example\.test>.*User doesn't exist/);
  });

  it('accepts mail for its domains on the SMTP port without AUTH, but relays nothing', async () => {
    const token = randomUUID();
    const ok = await swaks(provider.postfix.smtpPort, ['--from', 'stranger@elsewhere.invalid', '--to', ALICE.user,
      '--header', `Subject: mx ${token}`]);
    assert.equal(ok.code, 0, ok.text);
    await waitForMail(provider.dovecot.mailDir(ALICE.user), token);
    const relay = await swaks(provider.postfix.smtpPort, ['--from', ALICE.user, '--to', 'someone@elsewhere.invalid']);
    assert.match(relay.text, /<\*\* 554 5\.7\.1 .*Relay access denied/);
  });
});

describe('provider: TLS', () => {
  let provider: Provider;
  before(async () => {
    provider = await startProvider({ users: [ALICE, BOB], tls: true });
  });
  after(() => provider?.stop());

  it('serves IMAP over implicit TLS and STARTTLS with its self-signed certificate', async () => {
    const { imapsPort, imapPort, tls } = provider.dovecot;
    assert.ok(imapsPort && tls);
    const implicit = await imap(imapsPort, [`LOGIN ${ALICE.user} ${ALICE.password}`], { ca: tls.ca });
    assert.match(implicit, /^A1 OK /m);
    const upgraded = await imap(imapPort, [`LOGIN ${ALICE.user} ${ALICE.password}`], { ca: tls.ca, starttls: true });
    assert.match(upgraded, /^A1 OK /m);
  });

  it('accepts submission over STARTTLS and implicit TLS, verifying the certificate', async () => {
    const { submissionPort, submissionsPort, tls } = provider.postfix;
    assert.ok(submissionsPort && tls);
    for (const [port, mode] of [[submissionPort, '--tls'], [submissionsPort, '--tls-on-connect']] as const) {
      const token = randomUUID();
      const out = await swaks(port, [mode, '--tls-verify', '--tls-ca-path', tls.certFile, '--from', ALICE.user, '--to', BOB.user,
        '--auth', 'PLAIN', '--auth-user', ALICE.user, '--auth-password', ALICE.password, '--header', `Subject: tls ${token}`]);
      assert.equal(out.code, 0, out.text);
      await waitForMail(provider.dovecot.mailDir(BOB.user), token);
    }
  });
});

describe('provider: isolation and cleanup', () => {
  it('runs two providers at once without sharing ports, users or mail', async (t) => {
    const [one, two] = await Promise.all([
      startProvider({ users: [ALICE] }),
      startProvider({ users: [ALICE, BOB] }),
    ]);
    t.after(() => Promise.all([one.stop(), two.stop()]));
    const ports = [one, two].flatMap((p) => [p.dovecot.imapPort, p.dovecot.lmtpPort, p.postfix.smtpPort, p.postfix.submissionPort]);
    assert.equal(new Set(ports).size, ports.length);
    const tokens = [randomUUID(), randomUUID()] as const;
    await one.dovecot.deliver(ALICE.user, `Subject: ${tokens[0]}\r\n\r\none\r\n`);
    await two.dovecot.deliver(ALICE.user, `Subject: ${tokens[1]}\r\n\r\ntwo\r\n`);
    const seen = await Promise.all([one, two].map((p) =>
      imap(p.dovecot.imapPort, [`LOGIN ${ALICE.user} ${ALICE.password}`, 'SELECT INBOX', 'UID FETCH 1:* (BODY.PEEK[HEADER])'])));
    assert.match(seen[0] as string, new RegExp(tokens[0]));
    assert.doesNotMatch(seen[0] as string, new RegExp(tokens[1]));
    assert.match(seen[1] as string, new RegExp(tokens[1]));
    assert.doesNotMatch(seen[1] as string, new RegExp(tokens[0]));
    // Bob exists only in the second provider, in Dovecot and in Postfix.
    await assert.rejects(one.dovecot.deliver(BOB.user, 'Subject: x\r\n\r\nx\r\n'), /550/);
    const out = await swaks(one.postfix.smtpPort, ['--from', ALICE.user, '--to', BOB.user]);
    assert.match(out.text, /<\*\* 550 5\.1\.1/);
  });

  it('stop() closes every port, ends every process and removes the temp dirs', async () => {
    const provider = await startProvider({ users: [ALICE], tls: true });
    const { dovecot, postfix } = provider;
    const ports = [dovecot.imapPort, dovecot.imapsPort, dovecot.lmtpPort, postfix.smtpPort, postfix.submissionPort, postfix.submissionsPort];
    const dirs = [dovecot.dir, postfix.dir];
    assert.ok((await processesIn(dirs)).length > 0, 'the daemons should be visible before stop()');
    await provider.stop();
    await provider.stop(); // twice is harmless
    for (const port of ports) {
      assert.ok(port);
      assert.equal(await connectError(port), 'ECONNREFUSED', `port ${port} still accepts connections`);
    }
    assert.deepEqual(await processesIn(dirs), []);
    for (const dir of dirs) await assert.rejects(stat(dir), { code: 'ENOENT' });
  });

  it('reports a failed start with the server log', async () => {
    await assert.rejects(
      startDovecot({ users: [ALICE], config: 'no_such_setting = 1' }),
      (err: Error) => /startDovecot failed/.test(err.message) && /no_such_setting/.test(err.message),
    );
    const dovecot = await startDovecot({ users: [ALICE] });
    try {
      await assert.rejects(
        startPostfix({ dovecot, config: { inet_interfaces: '192.0.2.1' } }),
        (err: Error) => /startPostfix failed/.test(err.message) && /192\.0\.2\.1/.test(err.message),
      );
    } finally {
      await dovecot.stop();
    }
  });

  it('rejects unknown options', async () => {
    await assert.rejects(startDovecot({ users: [ALICE], tsl: true } as never), /unknown option "tsl"/);
  });
});

// --- tiny clients -------------------------------------------------------------------------

/** Runs tagged IMAP commands (A1, A2, ...) one after another and returns the transcript. */
async function imap(port: number, commands: string[], opts: { ca?: string; starttls?: boolean } = {}): Promise<string> {
  let socket: Socket | TLSSocket =
    opts.ca && !opts.starttls
      ? tlsConnect({ host: '127.0.0.1', port, ca: opts.ca, servername: 'localhost' })
      : connect(port, '127.0.0.1');
  let transcript = '';
  let waiting: { done: () => boolean; resolve: () => void; reject: (e: Error) => void } | undefined;
  const listen = (s: Socket | TLSSocket) => {
    s.on('data', (chunk: Buffer) => {
      transcript += chunk.toString('latin1');
      if (waiting?.done()) waiting.resolve();
    });
    s.on('error', (err) => waiting?.reject(err));
  };
  const until = (pattern: RegExp) =>
    new Promise<void>((resolve, reject) => {
      waiting = { done: () => pattern.test(transcript), resolve, reject };
      if (pattern.test(transcript)) resolve();
    });
  socket.setTimeout(10_000, () => socket.destroy(new Error('IMAP timeout')));
  listen(socket);
  try {
    await until(/^\* OK/m);
    if (opts.starttls) {
      socket.write('S1 STARTTLS\r\n');
      await until(/^S1 OK/m);
      socket.removeAllListeners('data');
      socket = tlsConnect({ socket, ca: opts.ca, servername: 'localhost' });
      listen(socket);
      await new Promise<void>((resolve, reject) => {
        socket.once('secureConnect', resolve);
        socket.once('error', reject);
      });
    }
    for (const [i, command] of commands.entries()) {
      socket.write(`A${i + 1} ${command}\r\n`);
      await until(new RegExp(`^A${i + 1} (OK|NO|BAD)`, 'm'));
    }
    socket.write('Z LOGOUT\r\n');
    return transcript;
  } finally {
    socket.end();
  }
}

async function swaks(port: number, args: string[]): Promise<{ code: number; text: string }> {
  return new Promise((resolve) => {
    execFile('swaks', ['--server', `127.0.0.1:${port}`, '--timeout', '10', ...args], (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, text: `${stdout}${stderr}` });
    });
  });
}

/** The first message in the Maildir's INBOX containing `needle`, waiting up to 10 s. */
async function waitForMail(maildir: string, needle: string): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    for (const sub of ['new', 'cur']) {
      const names = await readdir(join(maildir, sub)).catch(() => [] as string[]);
      for (const name of names) {
        const text = await readFile(join(maildir, sub, name), 'utf8').catch(() => '');
        if (text.includes(needle)) return text;
      }
    }
    if (Date.now() > deadline) throw new Error(`no message containing ${needle} in ${maildir}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function connectError(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** Live processes whose working directory is inside one of `dirs` (both daemons chdir there). */
async function processesIn(dirs: string[]): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cwd = (await readlink(`/proc/${name}/cwd`).catch(() => '')).replace(/ \(deleted\)$/, '');
    if (dirs.some((d) => cwd === d || cwd.startsWith(`${d}/`))) found.push(Number(name));
  }
  return found;
}
