import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startImap, type ImapHarness } from '../harness/imap.js';
import { RawImap } from '../harness/raw-imap.js';

let h: ImapHarness;
let c: RawImap;
const msg = (id: string, subject: string, date: string, extra = '') =>
  Buffer.from(`Message-ID: <${id}@example.org>\r\nDate: ${date}\r\nFrom: ${id} <${id}@example.org>\r\nSubject: ${subject}\r\n${extra}\r\nbody ${id}\r\n`);

before(async () => {
  h = await startImap();
  const client = await h.client();
  await client.append('INBOX', msg('a', 'Zebra plans', 'Mon, 1 Jan 2024 10:00:00 +0000'));
  await client.append('INBOX', msg('b', 'Re: Zebra plans', 'Tue, 2 Jan 2024 10:00:00 +0000', 'In-Reply-To: <a@example.org>\r\nReferences: <a@example.org>\r\n'));
  await client.append('INBOX', msg('c', 'apple pie', 'Wed, 3 Jan 2024 10:00:00 +0000'));
  await client.append('INBOX', msg('d', 'Re: Re: Zebra plans', 'Thu, 4 Jan 2024 10:00:00 +0000', 'References: <a@example.org> <b@example.org>\r\n'));
  c = await RawImap.open(h.port);
  await c.command('l', `LOGIN ${h.user} "${h.password}"`);
  await c.command('s', 'SELECT INBOX');
});
after(async () => {
  c.close();
  await h.stop();
});

test('SORT by subject (base subject, RFC 5256), by reverse date, and UID SORT with a search', async () => {
  assert.match(await c.command('t1', 'SORT (SUBJECT) UTF-8 ALL'), /^\* SORT 3 1 2 4\r$/m);
  assert.match(await c.command('t2', 'SORT (REVERSE DATE) UTF-8 ALL'), /^\* SORT 4 3 2 1\r$/m);
  assert.match(await c.command('t3', 'UID SORT (FROM) UTF-8 SUBJECT zebra'), /^\* SORT 1 2 4\r$/m);
  assert.match(await c.command('t4', 'SORT (SUBJECT) KOI8-R ALL'), /^t4 NO \[BADCHARSET/m);
  assert.match(await c.command('t5', 'SORT (BOGUS) UTF-8 ALL'), /^t5 BAD/m);
});

test('THREAD REFERENCES links replies; ORDEREDSUBJECT groups by base subject', async () => {
  assert.match(await c.command('u1', 'THREAD REFERENCES UTF-8 ALL'), /^\* THREAD \(1 2 4\)\(3\)\r$/m);
  // Later messages of a subject are children of its first; threads ordered by first date.
  assert.match(await c.command('u2', 'THREAD ORDEREDSUBJECT UTF-8 ALL'), /^\* THREAD \(1 \(2\)\(4\)\)\(3\)\r$/m);
});
