/**
 * Folders and what happens at the provider after ingest, against the harness's Dovecot:
 * special-use folders land in our mailbox of that kind whatever it is called, other folders
 * keep their path (hierarchy included), provider flags come along; then each after-ingest
 * choice (seen, move to a folder, delete after N days) as the provider sees it afterwards.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ImapFlow } from 'imapflow';
import { Keyring } from '../../src/mail/keyring.js';
import { liveFlags } from '../../src/store/kinds.js';
import type { AfterIngest } from '../../src/upstream/port.js';
import { startImap, type ImapHarness } from '../harness/imap.js';
import { startDovecot, type Dovecot } from '../harness/provider.js';
import { startFetcher, synced, testAccount, type FetcherRig } from '../harness/upstream.js';

const USERS = ['folders', 'seen', 'move', 'delete'].map((u) => ({ user: `${u}@example.org`, password: `${u}-pw` }));
let dovecot: Dovecot;
const running: Array<{ h: ImapHarness; rig: FetcherRig }> = [];

before(async () => {
  dovecot = await startDovecot({ users: USERS });
});
after(async () => {
  for (const r of running) {
    await r.rig.fetcher.stop();
    await r.h.stop();
  }
  await dovecot?.stop();
});

async function provider(user: string): Promise<ImapFlow> {
  const c = new ImapFlow({ host: dovecot.host, port: dovecot.imapPort, secure: false, doSTARTTLS: false, auth: { user, pass: USERS.find((u) => u.user === user)!.password }, logger: false } as never);
  await c.connect();
  return c;
}

const msg = (id: string) => Buffer.from(`From: sender@example.net\r\nSubject: ${id}\r\nMessage-ID: <${id}@x>\r\n\r\nbody of ${id}\r\n`);

async function fetchAll(user: string, afterIngest: AfterIngest = { action: 'leave' }, prepare?: (h: ImapHarness) => Promise<void>): Promise<{ h: ImapHarness; rig: FetcherRig }> {
  const h = await startImap();
  await prepare?.(h);
  const keyring = new Keyring({ records: h.store.records });
  const rig = startFetcher({ h, keyring, account: testAccount(dovecot, user, { afterIngest }), password: USERS.find((u) => u.user === user)!.password });
  running.push({ h, rig });
  await rig.until(synced, 'first sync');
  return { h, rig };
}

async function count(p: ImapFlow, mailbox: string): Promise<number> {
  const s = await p.status(mailbox, { messages: true });
  return s ? (s.messages ?? -1) : -1;
}

test('special-use folders map to ours by kind, others keep their path; flags come along', async () => {
  const p = await provider('folders@example.org');
  await p.mailboxCreate('Lists/Debian');
  await p.append('INBOX', msg('in-1'), ['\\Seen', '\\Flagged']);
  await p.append('Sent', msg('sent-1'), ['\\Seen']);
  await p.append('Lists/Debian', msg('list-1'));
  await p.append('Lists/Debian', msg('list-2'), ['$Important']);
  await p.logout();
  const { h } = await fetchAll('folders@example.org', { action: 'leave' }, async (h) => {
    // Our \Sent mailbox under another name: the provider's "Sent" must still land in it.
    await h.store.renameMailbox(h.store.mailboxByName('Sent')!.logical, 'Sent Messages');
  });
  const box = (name: string) => h.store.mailboxByName(name);
  assert.equal(box('Sent'), undefined, 'no second Sent mailbox was made');
  assert.equal(box('Sent Messages')!.entries.size, 1);
  assert.equal(box('Lists/Debian')!.entries.size, 2);
  assert.ok(box('Lists'), 'the superior is made too');
  const inbox = [...box('INBOX')!.entries.values()];
  assert.equal(inbox.length, 1);
  assert.deepEqual(liveFlags(inbox[0]!.meta).sort(), ['\\Flagged', '\\Seen']);
  const listFlags = [...box('Lists/Debian')!.entries.values()].map((e) => liveFlags(e.meta));
  assert.deepEqual(listFlags, [[], ['$Important']]);
});

test('after ingest "seen": the provider shows the fetched messages as read', async () => {
  const p = await provider('seen@example.org');
  for (const id of ['s1', 's2', 's3']) await p.append('INBOX', msg(id));
  const { h } = await fetchAll('seen@example.org', { action: 'seen' });
  assert.equal(h.store.mailboxByName('INBOX')!.entries.size, 3);
  // Our copies keep the provider's flags as they were when fetched (unread).
  assert.ok([...h.store.mailboxByName('INBOX')!.entries.values()].every((e) => !liveFlags(e.meta).includes('\\Seen')));
  const s = await p.status('INBOX', { messages: true, unseen: true });
  assert.equal(s && s.unseen, 0);
  await p.logout();
});

test('after ingest "move": fetched messages go to the named folder, which is itself never fetched', async () => {
  const p = await provider('move@example.org');
  await p.mailboxCreate('Fetched');
  for (const id of ['m1', 'm2']) await p.append('INBOX', msg(id));
  await p.append('Sent', msg('sent-stays'));
  const { h, rig } = await fetchAll('move@example.org', { action: 'move', folder: 'Fetched' });
  assert.equal(h.store.mailboxByName('INBOX')!.entries.size, 2);
  assert.equal(h.store.mailboxByName('Fetched'), undefined);
  assert.equal(await count(p, 'INBOX'), 0);
  assert.equal(await count(p, 'Fetched'), 2);
  assert.equal(await count(p, 'Sent'), 1, 'only INBOX mail is moved');
  assert.equal(h.store.mailboxByName('Sent')!.entries.size, 1);
  // New mail is moved too, and stored once.
  await dovecot.deliver('move@example.org', msg('m3'));
  await rig.until((s) => s.counters.fetched === 4, 'the new message fetched (with Sent\'s one, four in all)');
  await rig.until(synced, 'synced');
  assert.equal(h.store.mailboxByName('INBOX')!.entries.size, 3);
  await p.logout();
});

test('after ingest "delete after N days": only fetched messages older than N days are deleted at the provider', async () => {
  const p = await provider('delete@example.org');
  const old = new Date(Date.now() - 5 * 86400_000);
  await p.append('INBOX', msg('old-1'), [], old);
  await p.append('INBOX', msg('old-2'), [], old);
  await p.append('INBOX', msg('new-1'));
  await p.append('Archive', msg('archived-old'), [], old);
  const { h } = await fetchAll('delete@example.org', { action: 'delete', days: 2 });
  assert.equal(h.store.mailboxByName('INBOX')!.entries.size, 3, 'all three are stored here');
  const deadline = Date.now() + 30_000;
  let left = -1;
  while (Date.now() < deadline) {
    left = await count(p, 'INBOX');
    if (left === 1) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(left, 1, 'the two old ones are gone from the provider, the new one stays');
  assert.equal(await count(p, 'Archive'), 1, 'folders other than INBOX are left alone');
  await p.logout();
});
