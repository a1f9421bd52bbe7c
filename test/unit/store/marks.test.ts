/**
 * Marks (store/marks.ts): a flag change to many entries is a few immutable documents that the
 * index merges into the entries it shows, folded into the entries later. What a client sees
 * must be exactly what entry revisions would have given: same flags, MODSEQs, announcements;
 * across a restart before the fold; on another device; and merged with that device's edits.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '../../../src/store/store.js';
import { PouchDB } from '../../../src/store/pouch.js';
import { deriveKeys, newRootSecret } from '../../../src/secrets/root.js';
import { type EntryMeta, liveFlags, mergeEntry, sameMeta } from '../../../src/store/kinds.js';
import { Sealer } from '../../../src/store/seal.js';
import { MARKS_MIN, type MarksMeta, folded, markedEntries, withMarks } from '../../../src/store/marks.js';
import type { IndexChange } from '../../../src/store/uid-index.js';
import { sleep } from '../../../src/util/time.js';
import { spamAssassin } from '../../harness/corpus.js';
import { startCouchDB, type CouchDB } from '../../harness/couchdb.js';
import { makeTempDir, type TempDir } from '../../harness/tmp.js';
import { until } from '../../harness/until.js';

const N = MARKS_MIN * 2 + 10;
let server: CouchDB;
let dir: TempDir;
before(async () => {
  server = await startCouchDB();
  dir = await makeTempDir('waxseal-marks-');
});
after(async () => {
  await server.stop();
  await dir.cleanup();
});

const view = (s: Store, box: string) => [...s.index.mailbox(box)!.entries.values()].map((e) => `${e.uid}:${e.modseq}:${liveFlags(e.meta).sort().join(',')}`);
const flagsOf = (s: Store, box: string) =>
  [...s.index.mailbox(box)!.entries.values()].map((e) => `${e.logical}:${liveFlags(e.meta).sort().join(',')}`).sort();

/** Every state document's kind, opened with the store's keys. */
async function kinds(s: Store, keys: ReturnType<typeof deriveKeys>): Promise<string[]> {
  const sealer = new Sealer({ sealKey: keys.seal, idKey: keys.id });
  const res = await s.replicated().state.allDocs({ include_docs: true });
  return res.rows.map((r) => sealer.open(r.doc as never).kind);
}

/** Both ways through the server's databases `prefix`-*: one set per test, each has its own keys. */
async function sync(store: Store, prefix: string): Promise<void> {
  for (const [name, db] of Object.entries(store.replicated())) {
    const remote = `${server.url}/${prefix}-${name}`;
    await PouchDB.replicate(db, remote);
    await PouchDB.replicate(remote, db);
  }
  await store.index.catchUp();
}

test('merging marks into an entry gives what merging the same registers as an entry revision gives', () => {
  const base: EntryMeta = { mailbox: 'm', message: 'x', size: 1, date: 0, flags: { '\\Seen': [true, 's2'], $A: [false, 's5'] }, expunged: [false, 's1'] };
  const cases: MarksMeta[] = [
    { stamp: 's3', flags: [['\\Seen', false, ['e']]] },
    { stamp: 's1', flags: [['\\Seen', false, ['e']], ['\\Flagged', true, ['e']]] },
    { stamp: 's5', flags: [['$A', true, ['e']]] },
    { stamp: 's4', flags: [], expunged: [['e', 'copy']] },
    { stamp: 's0', flags: [], expunged: [['e']] },
  ];
  for (const meta of [base, { ...base, expunged: [true, 's9'] as [boolean, string], moved: 'b-copy' }]) {
    for (const marks of cases) {
      const m = markedEntries(marks).get('e')!;
      const asRevision: EntryMeta = { ...meta, flags: m.flags, expunged: m.expunged ?? meta.expunged };
      if (m.moved !== undefined) asRevision.moved = m.moved;
      else delete asRevision.moved;
      const expected = mergeEntry(meta, asRevision);
      assert.ok(sameMeta(folded(meta, m), expected), `${JSON.stringify(marks)} on ${JSON.stringify(meta)}`);
      assert.ok(sameMeta(withMarks(meta, m), expected));
      assert.equal(withMarks(expected, m), expected, 'marks already merged add nothing');
    }
  }
});

test('a STORE on many entries writes one marks document, shows and announces it like entry revisions, and survives a restart before the fold', async () => {
  const keys = deriveKeys(newRootSecret());
  const path = join(dir.path, 'local');
  let s = await Store.open({ dir: path, keys, device: 'here' });
  try {
    const box = (await s.createMailbox('INBOX')).logical;
    const imported = await s.import(box, spamAssassin('easy-ham-1', N).map((m) => ({ raw: m.raw })));
    const entries = imported.map((i) => i.entry);
    await s.setFlags([entries[0]!], { add: ['\\Seen'] });
    const seqBefore = (await s.replicated().state.info()).update_seq as number;
    const modseqBefore = s.index.mailbox(box)!.highestModseq;

    const changes: IndexChange[] = [];
    s.index.on('change', (c: IndexChange) => changes.push(c));
    const changed = await s.setFlags(entries, { add: ['\\Seen'] }, 'session-1');
    assert.equal(changed, N - 1, 'the entry already \\Seen is not changed');
    assert.equal((await s.replicated().state.info()).update_seq, seqBefore + 1, 'one document written for the whole STORE');
    assert.ok((await kinds(s, keys)).includes('marks'));
    assert.equal(s.index.liveMarks, 1);

    // Shown and announced exactly as entry revisions would be: each changed entry once, with a
    // new MODSEQ, and the origin the IMAP session passed (it answers its own STORE itself).
    const all = [...s.index.mailbox(box)!.entries.values()];
    assert.ok(all.every((e) => e.meta.flags['\\Seen']?.[0] === true));
    assert.deepEqual(
      changes.flatMap((c) => c.changed).sort((a, b) => a - b),
      all.slice(1).map((e) => e.uid),
    );
    assert.ok(changes.every((c) => c.origin === 'session-1'));
    assert.ok(all[0]!.modseq <= modseqBefore, 'the unchanged entry keeps its MODSEQ');
    assert.ok(all.slice(1).every((e) => e.modseq > modseqBefore));

    // The same STORE again changes nothing; a FLAGS replace on all of them is marks too.
    assert.equal(await s.setFlags(entries, { add: ['\\Seen'] }), 0);
    assert.equal(await s.setFlags(entries, { set: ['\\Flagged'] }), N);
    assert.equal(s.index.liveMarks, 2);
    const shown = view(s, box);
    assert.ok(flagsOf(s, box).every((f) => f.endsWith(':\\Flagged')));

    // Closed before the fold: the marks are read again on open, nothing changes for a client.
    await s.close();
    s = await Store.open({ dir: path, keys, device: 'here' });
    assert.deepEqual(view(s, box), shown);
    assert.equal(s.index.liveMarks, 2, 'the marks are live again after the restart');

    // The fold writes them into the entries and deletes them, without a MODSEQ moving.
    const folded: IndexChange[] = [];
    s.index.on('change', (c: IndexChange) => folded.push(c));
    await s.index.foldMarks(); // written here before the restart: due without waiting
    assert.equal(s.index.liveMarks, 0);
    assert.deepEqual(view(s, box), shown);
    assert.deepEqual(folded.flatMap((c) => [...c.added, ...c.changed, ...c.expunged]), []);
    assert.ok(!(await kinds(s, keys)).includes('marks'), 'the marks documents are deleted');

    // The entry documents themselves now hold the flags: a store rebuilt from the state
    // database alone (no local index) shows the same.
    await s.close();
    rmSync(join(path, 'local'), { recursive: true, force: true });
    s = await Store.open({ dir: path, keys, device: 'here' });
    assert.equal(s.index.rebuilt, true);
    assert.ok(flagsOf(s, box).every((f) => f.endsWith(':\\Flagged')));
  } finally {
    await s.close();
  }
});

test('a MOVE of many entries is two marks documents, the copies and the expunges: announced once, linked, folded, and carried over a restart', async () => {
  const keys = deriveKeys(newRootSecret());
  const path = join(dir.path, 'move');
  let s = await Store.open({ dir: path, keys, device: 'here' });
  try {
    const inbox = (await s.createMailbox('INBOX')).logical;
    const archive = (await s.createMailbox('Archive')).logical;
    const imported = await s.import(inbox, spamAssassin('easy-ham-1', N).map((m) => ({ raw: m.raw })));
    const keep = imported.slice(0, 3);
    await s.setFlags([imported[3]!.entry, imported[4]!.entry], { add: ['\\Answered'] });
    const moving = imported.slice(3).map((i) => s.index.entry(i.entry)!);
    const uids = moving.map((e) => e.uid);
    const changes: IndexChange[] = [];
    s.index.on('change', (c: IndexChange) => changes.push(c));

    const seqBefore = (await s.replicated().state.info()).update_seq as number;
    const copies = await s.copyEntries(moving, archive);
    assert.equal(await s.expunge(moving.map((e) => e.logical), { movedTo: copies.map((c) => c.entry) }), moving.length);
    assert.equal((await s.replicated().state.info()).update_seq, seqBefore + 2, 'one document for the copies, one for the expunges');
    assert.deepEqual([...s.index.mailbox(inbox)!.entries.values()].map((e) => e.logical), keep.map((i) => i.entry));
    const shownCopies = () => [...s.index.mailbox(archive)!.entries.values()].map((e) => `${e.uid}:${e.logical}:${liveFlags(e.meta).join(',')}`);
    assert.deepEqual(
      shownCopies(),
      copies.map((c, i) => `${i + 1}:${c.entry}:${i < 2 ? '\\Answered' : ''}`),
      'the copies have UIDs in order and the originals\' flags',
    );
    assert.deepEqual(copies.map((c) => c.uid), copies.map((_, i) => i + 1));
    assert.deepEqual(changes.filter((c) => c.mailbox === archive).flatMap((c) => c.added), copies.map((c) => c.uid));
    // A copy changed before the fold: its document is written then, and the fold still works.
    await s.setFlags([copies[2]!.entry], { add: ['\\Flagged'] });
    const copiesShown = shownCopies();
    assert.deepEqual(changes.filter((c) => c.mailbox === inbox).flatMap((c) => c.expunged).sort((a, b) => a - b), uids, 'each original is announced expunged once');
    // Expunging them again changes nothing.
    assert.equal(await s.expunge(moving.map((e) => e.logical)), 0);

    await s.close();
    s = await Store.open({ dir: path, keys, device: 'here' });
    assert.equal(s.index.mailbox(inbox)!.entries.size, keep.length, 'still expunged after a restart before the fold');
    assert.deepEqual(shownCopies(), copiesShown, 'the copies are the same after a restart before the fold');
    await s.index.foldMarks(); // written here before the restart: due without waiting
    assert.deepEqual(shownCopies(), copiesShown);
    assert.equal(s.index.liveMarks, 0);
    assert.ok(!(await kinds(s, keys)).includes('marks'));

    // The entry documents hold the expunge and the link to the copy (what carries a flag
    // change made meanwhile on another device over to the copy).
    const sealer = new Sealer({ sealKey: keys.seal, idKey: keys.id });
    const doc = await s.replicated().state.get(s.state.entryId(moving[0]!.logical));
    const meta = sealer.open<{ expunged: [boolean, string]; moved?: string }>(doc as never).meta;
    assert.equal(meta.expunged[0], true);
    assert.equal(meta.moved, copies[0]!.entry);
    await s.close();
    rmSync(join(path, 'local'), { recursive: true, force: true });
    s = await Store.open({ dir: path, keys, device: 'here' });
    assert.equal(s.index.mailbox(inbox)!.entries.size, keep.length);
    assert.deepEqual(
      [...s.index.mailbox(archive)!.entries.values()].map((e) => `${e.logical}:${liveFlags(e.meta).join(',')}`).sort(),
      copiesShown.map((c) => c.slice(c.indexOf(':') + 1)).sort(),
      'the copies\' own documents hold them',
    );
  } finally {
    await s.close();
  }
});

test('marks replicate to another device, merge with its own edits by stamp, and are folded once', async () => {
  const root = newRootSecret();
  const a = await Store.open({ dir: join(dir.path, 'a'), keys: deriveKeys(root), device: 'deva' });
  const b = await Store.open({ dir: join(dir.path, 'b'), keys: deriveKeys(root), device: 'devb' });
  const replayed: unknown[] = [];
  for (const s of [a, b]) s.index.on('replayed', (r) => replayed.push(r));
  try {
    const box = (await a.createMailbox('INBOX')).logical;
    const archive = (await a.createMailbox('Archive')).logical;
    const ids = (await a.import(box, spamAssassin('easy-ham-2', N).map((m) => ({ raw: m.raw })))).map((i) => i.entry);
    await sync(a, 'replicate');
    await sync(b, 'replicate');
    assert.equal(b.index.mailbox(box)?.entries.size, N);

    // Apart: A marks every entry \Seen and moves all but the first ten to Archive (marks for
    // the copies and for the expunges); B, later, reads and un-reads entry 5 and flags entry 6.
    await a.setFlags(ids, { add: ['\\Seen'] });
    const moving = ids.slice(10).map((id) => a.index.entry(id)!);
    const copies = await a.copyEntries(moving, archive);
    await a.expunge(moving.map((e) => e.logical), { movedTo: copies.map((c) => c.entry) });
    assert.equal(a.index.liveMarks, 3);
    await sleep(5);
    await b.setFlags([ids[5]!], { add: ['\\Seen'] });
    await b.setFlags([ids[5]!], { remove: ['\\Seen'] });
    await b.setFlags([ids[6]!], { add: ['\\Flagged'] });

    for (let round = 0; round < 2; round++) {
      await sync(a, 'replicate');
      await sync(b, 'replicate');
    }
    const expected = ids.slice(0, 10).map((id, i) => `${id}:${i === 5 ? '' : i === 6 ? '\\Flagged,\\Seen' : '\\Seen'}`).sort();
    const archived = copies.map((c) => `${c.entry}:\\Seen`).sort();
    assert.deepEqual(flagsOf(a, box), expected);
    assert.deepEqual(flagsOf(b, box), expected, 'B shows A\'s marks before any fold');
    assert.deepEqual(flagsOf(a, archive), archived);
    assert.deepEqual(flagsOf(b, archive), archived, 'B shows the copies A\'s marks made');
    assert.equal(b.index.liveMarks, 3);

    // A folds its marks; B learns of the fold and keeps showing the same, with nothing to fold.
    const bView = [...view(b, box), ...view(b, archive)];
    await a.index.foldMarks();
    assert.equal(a.index.liveMarks, 0);
    for (let round = 0; round < 2; round++) {
      await sync(a, 'replicate');
      await sync(b, 'replicate');
    }
    assert.equal(b.index.liveMarks, 0, 'the deleted marks are no longer live on B');
    assert.deepEqual(flagsOf(a, box), expected);
    assert.deepEqual(flagsOf(b, box), expected);
    assert.deepEqual(flagsOf(b, archive), archived);
    assert.deepEqual([...view(b, box), ...view(b, archive)], bView, 'A\'s fold moves no MODSEQ on B');
    assert.deepEqual(replayed, [], 'an entry written without the marks is not taken for a replay');
    for (const s of [a, b]) {
      const res = await s.replicated().state.allDocs({ include_docs: true, conflicts: true });
      assert.equal(res.rows.filter((r) => (r.doc?._conflicts?.length ?? 0) > 0).length, 0, 'no conflict left behind');
    }
  } finally {
    await a.close();
    await b.close();
  }
});

test('a flag set on another device on a message a MOVE (as marks) took away follows it to the copy', async () => {
  const root = newRootSecret();
  const a = await Store.open({ dir: join(dir.path, 'ca'), keys: deriveKeys(root), device: 'deva' });
  const b = await Store.open({ dir: join(dir.path, 'cb'), keys: deriveKeys(root), device: 'devb' });
  try {
    const box = (await a.createMailbox('INBOX')).logical;
    const archive = (await a.createMailbox('Archive')).logical;
    const ids = (await a.import(box, spamAssassin('spam-1', N).map((m) => ({ raw: m.raw })))).map((i) => i.entry);
    await sync(a, 'carry');
    await sync(b, 'carry');
    const moving = ids.map((id) => a.index.entry(id)!);
    const copies = await a.copyEntries(moving, archive);
    await a.expunge(ids, { movedTo: copies.map((c) => c.entry) });
    await sleep(5);
    // B, apart and later, flags the first original; A pulls that before folding its marks,
    // so A's fold writes on top of B's revision: no conflict, nothing merged.
    await b.setFlags([ids[0]!], { add: ['\\Flagged'] });
    await sync(b, 'carry');
    await sync(a, 'carry');
    await a.index.foldMarks();
    for (let round = 0; round < 3; round++) {
      await sync(a, 'carry');
      await sync(b, 'carry');
    }
    for (const s of [a, b]) {
      const shown = [...s.index.mailbox(archive)!.entries.values()];
      assert.deepEqual(liveFlags(shown.find((e) => e.logical === copies[0]!.entry)!.meta), ['\\Flagged'], 'the copy carries the flag');
      assert.deepEqual(shown.filter((e) => liveFlags(e.meta).length > 0).length, 1, 'and no other copy gains one');
      assert.equal(s.index.mailbox(box)!.entries.size, 0);
    }
  } finally {
    await a.close();
    await b.close();
  }
});

test('marks naming an entry the index holds no state for (first seen expunged) are folded from its document', async () => {
  const keys = deriveKeys(newRootSecret());
  const path = join(dir.path, 'stuck');
  let s = await Store.open({ dir: path, keys, device: 'here' });
  try {
    const box = (await s.createMailbox('INBOX')).logical;
    const ids = (await s.import(box, spamAssassin('spam-2', N).map((m) => ({ raw: m.raw })))).map((i) => i.entry);
    await s.setFlags(ids, { add: ['\\Seen'] });
    await s.expunge([ids[0]!]);
    await s.close();
    rmSync(join(path, 'local'), { recursive: true, force: true });
    s = await Store.open({ dir: path, keys, device: 'here' });
    assert.equal(s.index.liveMarks, 1);
    await s.index.foldMarks(); // written here before the restart: due without waiting
    assert.equal(s.index.liveMarks, 0, 'folded, so the feed position is no longer held');
    assert.ok(flagsOf(s, box).every((f) => f.endsWith(':\\Seen')));
    assert.equal(s.index.mailbox(box)!.entries.size, N - 1);
  } finally {
    await s.close();
  }
});


test('marks fold by themselves: another device\'s once they stay live a while, this device\'s once writing pauses', async () => {
  const root = newRootSecret();
  const aDir = join(dir.path, 'ta');
  let a = await Store.open({ dir: aDir, keys: deriveKeys(root), device: 'ta' });
  const b = await Store.open({ dir: join(dir.path, 'tb'), keys: deriveKeys(root), device: 'tb', foreignFoldMs: 1500 });
  try {
    const box = (await a.createMailbox('INBOX')).logical;
    const ids = (await a.import(box, spamAssassin('hard-ham-1', N).map((m) => ({ raw: m.raw })))).map((i) => i.entry);
    await sync(a, 'timers');
    await sync(b, 'timers');
    // A marks every entry and goes away before folding (a close does not fold).
    await a.setFlags(ids, { add: ['\\Seen'] });
    await sync(a, 'timers');
    await a.close();

    // B shows A's marks, and folds them itself once they have stayed live for foreignFoldMs.
    await sync(b, 'timers');
    assert.equal(b.index.liveMarks, 1);
    await until('B folds marks another device left', () => b.index.liveMarks === 0, 10_000);
    assert.ok(flagsOf(b, box).every((f) => f.endsWith(':\\Seen')));
    await sync(b, 'timers');

    // A, back, reads its marks again, then learns they were folded elsewhere.
    a = await Store.open({ dir: aDir, keys: deriveKeys(root), device: 'ta' });
    assert.equal(a.index.liveMarks, 1);
    await sync(a, 'timers');
    assert.equal(a.index.liveMarks, 0);
    assert.deepEqual(flagsOf(a, box), flagsOf(b, box));

    // Its own next marks are folded about five seconds after writing pauses, by nobody's call.
    await a.setFlags(ids, { add: ['\\Flagged'] });
    assert.equal(a.index.liveMarks, 1);
    await until('A folds its own marks once quiet', () => a.index.liveMarks === 0, 15_000);
    assert.ok(!(await kinds(a, deriveKeys(root))).includes('marks'));
    assert.ok(flagsOf(a, box).every((f) => f.endsWith(':\\Flagged,\\Seen')));
  } finally {
    await a.close();
    await b.close();
  }
});
