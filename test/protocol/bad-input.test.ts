import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startImap, type ImapHarness } from '../harness/imap.js';
import { RawImap } from '../harness/raw-imap.js';
import { spamAssassin } from '../harness/corpus.js';

let h: ImapHarness;
let seeded: Buffer;
before(async () => {
  h = await startImap({ maxMessageBytes: 100_000, preAuthTimeoutMs: 1500 });
  seeded = spamAssassin('easy-ham-1', 1)[0]!.raw;
  const c = await h.client();
  await c.append('INBOX', seeded);
});
after(() => h.stop());

async function loggedIn(): Promise<RawImap> {
  const c = await RawImap.open(h.port);
  assert.match(await c.command('L', `LOGIN ${h.user} "${h.password}"`), /^L OK/m);
  return c;
}

const inboxCount = () => h.store.mailboxByName('INBOX')!.entries.size;

test('malformed, unknown and out-of-state commands get a tagged BAD and the session carries on', async () => {
  const c = await RawImap.open(h.port);
  assert.match(await c.command('a1', 'SELECT INBOX'), /^a1 BAD .*before logging in/m);
  assert.match(await c.command('a2', 'FROBNICATE'), /^a2 BAD Unknown command/m);
  assert.match(await c.command('a3', 'LOGIN onlyuser'), /^a3 BAD/m);
  assert.match(await c.command('a4', `LOGIN ${h.user} "${h.password}"`), /^a4 OK/m);
  assert.match(await c.command('a5', 'FETCH 1 FLAGS'), /^a5 BAD .*without a selected mailbox/m);
  assert.match(await c.command('a6', 'SELECT INBOX'), /^a6 OK \[READ-WRITE\]/m);
  assert.match(await c.command('a7', 'FETCH 1:* (FLAGS BODY[HEADER.FIELDS (SUBJECT)'), /^a7 BAD/m);
  assert.match(await c.command('a8', 'FETCH 99 FLAGS'), /^a8 BAD .*out of range/m);
  assert.match(await c.command('a9', 'STORE 1 +FLAGS (\\Recent)'), /^a9 BAD/m);
  assert.match(await c.command('a10', 'NOOP'), /^a10 OK/m);
  c.close();
});

test('an over-long line is refused and the next command works', async () => {
  const c = await loggedIn();
  assert.match(await c.command('b1', `NOOP ${'x'.repeat(200_000)}`), /^b1 BAD/m);
  assert.match(await c.command('b2', 'NOOP'), /^b2 OK/m);
  c.close();
});

test('an APPEND literal over the cap gets NO [TOOBIG] and stores nothing', async () => {
  const c = await loggedIn();
  const before = inboxCount();
  assert.match(await c.command('c1', 'APPEND INBOX {200000}'), /^c1 NO \[TOOBIG\]/m);
  assert.match(await c.command('c2', 'NOOP'), /^c2 OK/m);
  assert.equal(inboxCount(), before);
  c.close();
});

test('a client that disconnects in the middle of a literal leaves the store intact', async () => {
  const before = inboxCount();
  const c = await loggedIn();
  c.write(`d1 APPEND INBOX {${seeded.length}}\r\n`);
  await c.until(/^\+ /m);
  c.write(seeded.subarray(0, seeded.length >> 1));
  c.close();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(inboxCount(), before);
  const d = await loggedIn();
  assert.match(await d.command('d2', 'STATUS INBOX (MESSAGES)'), new RegExp(`MESSAGES ${before}\\)`));
  d.close();
});

test('a wrong password is refused clearly and the next try is slowed down', async () => {
  const c = await RawImap.open(h.port);
  assert.match(await c.command('e1', `LOGIN ${h.user} wrong`), /^e1 NO \[AUTHENTICATIONFAILED\]/m);
  const t = Date.now();
  assert.match(await c.command('e2', `LOGIN ${h.user} wrong`), /^e2 NO/m);
  assert.ok(Date.now() - t >= 400, 'the second failure was not throttled');
  assert.match(await c.command('e3', `LOGIN ${h.user} "${h.password}"`, 10_000), /^e3 OK/m);
  c.close();
});

test('AUTHENTICATE PLAIN with SASL-IR and with a continuation', async () => {
  const token = Buffer.from(`\0${h.user}\0${h.password}`).toString('base64');
  const a = await RawImap.open(h.port);
  assert.match(await a.command('f1', `AUTHENTICATE PLAIN ${token}`), /^f1 OK/m);
  a.close();
  const b = await RawImap.open(h.port);
  b.write('f2 AUTHENTICATE PLAIN\r\n');
  await b.until(/^\+ ?\r\n/m);
  b.buffer = '';
  b.write(`${token}\r\n`);
  await b.until(/^f2 OK/m);
  b.close();
});

test('a client that says nothing before logging in is logged out', async () => {
  const c = await RawImap.open(h.port);
  await c.until(/^\* BYE Autologout/m, 4000);
});
