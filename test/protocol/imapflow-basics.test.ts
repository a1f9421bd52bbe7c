import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startImap, type ImapHarness } from '../harness/imap.js';
import { spamAssassin } from '../harness/corpus.js';

let h: ImapHarness;
before(async () => {
  h = await startImap();
});
after(() => h.stop());

test('login, LIST with special-use, APPEND and FETCH back byte-exact', async () => {
  const c = await h.client();
  const boxes = await c.list();
  assert.deepEqual(boxes.map((b) => b.path).sort(), ['Archive', 'Drafts', 'INBOX', 'Junk', 'Sent', 'Trash']);
  assert.equal(boxes.find((b) => b.path === 'Sent')?.specialUse, '\\Sent');
  const msgs = spamAssassin('easy-ham-1', 5);
  for (const m of msgs) await c.append('INBOX', m.raw, ['\\Seen']);
  const lock = await c.getMailboxLock('INBOX');
  try {
    assert.equal((c.mailbox as { exists: number }).exists, 5);
    let i = 0;
    for await (const m of c.fetch('1:*', { uid: true, flags: true, envelope: true, bodyStructure: true, source: true })) {
      assert.ok(m.source!.equals(msgs[i]!.raw), `message ${i + 1} differs`);
      assert.ok(m.flags!.has('\\Seen'));
      assert.equal(typeof m.envelope!.subject, 'string');
      i++;
    }
    assert.equal(i, 5);
  } finally {
    lock.release();
  }
});

test('STORE flags, SEARCH, COPY and MOVE with UIDPLUS, EXPUNGE', async () => {
  const c = await h.client();
  await c.mailboxCreate('Work/Projects');
  const msgs = spamAssassin('easy-ham-1', 6).slice(0);
  const lock = await c.getMailboxLock('Work/Projects');
  try {
    for (const m of msgs) await c.append('Work/Projects', m.raw);
    await c.noop();
    assert.equal((c.mailbox as { exists: number }).exists, 6);
    assert.equal(await c.messageFlagsAdd('1:2', ['\\Flagged', '$Important']), true);
    assert.deepEqual(await c.search({ flagged: true }), [1, 2]);
    assert.deepEqual(await c.search({ keyword: '$Important' }), [1, 2]);
    assert.deepEqual(await c.search({ seen: false }), [1, 2, 3, 4, 5, 6]);
    const copied = await c.messageCopy('1:3', 'Archive', { uid: false });
    assert.equal(copied && (copied as { uidMap: Map<number, number> }).uidMap.size, 3);
    const moved = await c.messageMove('4', 'Trash');
    assert.ok(moved && (moved as { uidMap: Map<number, number> }).uidMap.size === 1);
    assert.equal((c.mailbox as { exists: number }).exists, 5);
    await c.messageFlagsAdd('1', ['\\Deleted']);
    await c.messageDelete('1'); // EXPUNGE via UID EXPUNGE (UIDPLUS)
    assert.equal((c.mailbox as { exists: number }).exists, 4);
  } finally {
    lock.release();
  }
  const status = await c.status('Archive', { messages: true, unseen: true, uidNext: true });
  assert.ok(status);
  assert.equal(status.messages, 3);
  assert.equal(status.unseen, 3);
  const trash = await c.status('Trash', { messages: true });
  assert.ok(trash);
  assert.equal(trash.messages, 1);
});

test('another connection\'s APPEND, STORE and EXPUNGE reach an idling client', async () => {
  const watcher = await h.client();
  const actor = await h.client();
  await watcher.mailboxOpen('Drafts');
  const events: string[] = [];
  watcher.on('exists', (e: { count: number }) => events.push(`exists ${e.count}`));
  watcher.on('flags', (e: { seq: number; flags: Set<string> }) => events.push(`flags ${e.seq} ${[...e.flags].join(',')}`));
  watcher.on('expunge', (e: { seq: number }) => events.push(`expunge ${e.seq}`));
  const idling = watcher.idle();
  await new Promise((r) => setTimeout(r, 100));
  const raw = spamAssassin('easy-ham-1', 1)[0]!.raw;
  await actor.append('Drafts', raw);
  await actor.append('Drafts', raw);
  await actor.mailboxOpen('Drafts');
  await actor.messageFlagsAdd('1', ['\\Answered']);
  await actor.messageFlagsAdd('2', ['\\Deleted']);
  await actor.messageDelete('2');
  const deadline = Date.now() + 5000;
  while (events.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.ok(events.some((e) => e.startsWith('exists 2')) || events.includes('exists 1'), events.join('; '));
  assert.ok(events.includes('flags 1 \\Answered'), events.join('; '));
  assert.ok(events.includes('expunge 2'), events.join('; '));
  void idling;
});

test('CONDSTORE: HIGHESTMODSEQ moves with changes; CHANGEDSINCE returns only what changed', async () => {
  const c = await h.client();
  await c.mailboxCreate('Cond');
  for (const m of spamAssassin('easy-ham-1', 3)) await c.append('Cond', m.raw);
  const box = await c.mailboxOpen('Cond');
  const start = BigInt((box as { highestModseq?: bigint }).highestModseq ?? 0n);
  assert.ok(start > 0n);
  await c.messageFlagsAdd('2', ['\\Seen']);
  const changed: number[] = [];
  for await (const m of c.fetch('1:*', { flags: true }, { changedSince: start })) changed.push(m.seq);
  assert.deepEqual(changed, [2]);
});

test('CREATE, RENAME with children, DELETE, SUBSCRIBE', async () => {
  const c = await h.client();
  await c.mailboxCreate('A/B/C');
  await c.mailboxRename('A', 'Z');
  const names = (await c.list()).map((b) => b.path);
  assert.ok(names.includes('Z/B/C') && names.includes('Z/B') && !names.includes('A'), names.join(','));
  await c.mailboxDelete('Z/B/C');
  assert.ok(!(await c.list()).some((b) => b.path === 'Z/B/C'));
  await assert.rejects(c.mailboxDelete('INBOX'));
  await c.mailboxUnsubscribe('Z');
  const lsub = await c.list({ statusQuery: { messages: true } });
  assert.notEqual(lsub.find((b) => b.path === 'Z')?.subscribed, true);
  assert.equal(lsub.find((b) => b.path === 'Sent')?.subscribed, true);
  assert.equal(lsub.find((b) => b.path === 'INBOX')?.status?.messages, 5);
});

test('STORE, COPY and MOVE on a hundred messages (written as marks) answer as for a few, reach an idling client, and survive a consolidation', async () => {
  const box = await h.store.createMailbox('Bulk');
  await h.store.import(box.logical, spamAssassin('easy-ham-2', 100).map((m) => ({ raw: m.raw })));
  const watcher = await h.client();
  const actor = await h.client();
  await watcher.mailboxOpen('Bulk');
  const flagged = new Set<number>();
  let expunged = 0;
  watcher.on('flags', (e: { seq: number; flags: Set<string> }) => e.flags.has('\\Seen') && flagged.add(e.seq));
  watcher.on('expunge', () => expunged++);
  const idling = watcher.idle();
  await new Promise((r) => setTimeout(r, 100));

  const opened = await actor.mailboxOpen('Bulk');
  const modseq = BigInt((opened as { highestModseq?: bigint }).highestModseq ?? 0n);
  assert.equal(await actor.messageFlagsAdd('1:*', ['\\Seen']), true);
  const seen: Array<[number, boolean, bigint]> = [];
  for await (const m of actor.fetch('1:*', { uid: true, flags: true }, { changedSince: modseq })) seen.push([m.uid, m.flags!.has('\\Seen'), m.modseq!]);
  assert.equal(seen.length, 100, 'every message changed since the STORE');
  assert.ok(seen.every(([, s, ms]) => s && ms > modseq));

  const copied = await actor.messageCopy('1:80', 'Archive');
  assert.equal(copied && copied.uidMap?.size, 80);
  await actor.mailboxCreate('Bulk/Moved');
  const moved = await actor.messageMove('1:70', 'Bulk/Moved');
  assert.equal(moved && moved.uidMap?.size, 70);
  const bulk = await actor.status('Bulk', { messages: true, unseen: true });
  assert.ok(bulk);
  assert.deepEqual([bulk.messages, bulk.unseen], [30, 0]);
  const target = await actor.status('Bulk/Moved', { messages: true, unseen: true });
  assert.ok(target);
  assert.deepEqual([target.messages, target.unseen], [70, 0], 'the moved messages keep their flags');

  const deadline = Date.now() + 5000;
  while ((flagged.size < 100 || expunged < 70) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(flagged.size, 100, 'the idling client is told of every flag change');
  assert.equal(expunged, 70, 'and of every message moved away');

  // Consolidated into one document: nothing changes for either client.
  assert.ok(h.store.index.liveMarks > 1);
  const before: string[] = [];
  for await (const m of actor.fetch('1:*', { uid: true, flags: true })) before.push(`${m.uid}:${[...m.flags!].join()}:${m.modseq}`);
  await h.store.index.consolidateMarks(true);
  assert.equal(h.store.index.liveMarks, 1);
  const after: string[] = [];
  for await (const m of actor.fetch('1:*', { uid: true, flags: true })) after.push(`${m.uid}:${[...m.flags!].join()}:${m.modseq}`);
  assert.deepEqual(after, before);
  assert.equal(expunged, 70);
  void idling;
});
