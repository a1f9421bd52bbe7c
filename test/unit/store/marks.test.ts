/**
 * Marks (store/marks.ts): a flag change to many entries is a few immutable documents that the
 * index merges into the entries it shows, a lasting layer consolidated when many pile up. What
 * a client sees must be exactly what entry revisions would have given: same flags, MODSEQs,
 * announcements; across a restart; on another device; merged with that device's edits; and
 * unchanged by a consolidation.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '../../../src/store/store.js';
import { PouchDB } from '../../../src/store/pouch.js';
import { deriveKeys, newRootSecret } from '../../../src/secrets/root.js';
import { type EntryMeta, liveFlags, mergeEntry, sameMeta } from '../../../src/store/kinds.js';
import { Sealer } from '../../../src/store/seal.js';
import { LiveMarks, MARKS_MIN, MARKS_PER_DOC, type Marked, type MarksMeta, consolidated, createdEntries, folded, markedEntries, withMarks } from '../../../src/store/marks.js';
import { CONSOLIDATE_AT, MarksConsolidation } from '../../../src/store/marks-consolidation.js';
import type { IndexChange } from '../../../src/store/uid-index.js';
import { sleep } from '../../../src/util/time.js';
import { type SpamGroup, spamAssassin } from '../../harness/corpus.js';
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

/**
 * Device A with INBOX and Archive and N messages of `corpus` in INBOX, and device B holding
 * the same root secret, empty. `open` opens either again (after a close).
 */
async function twoDevices(name: string, corpus: SpamGroup) {
  const root = newRootSecret();
  const open = (side: 'a' | 'b') => Store.open({ dir: join(dir.path, `${name}${side}`), keys: deriveKeys(root), device: `${name}${side}` });
  const a = await open('a');
  const b = await open('b');
  const inbox = (await a.createMailbox('INBOX')).logical;
  const archive = (await a.createMailbox('Archive')).logical;
  const ids = (await a.import(inbox, spamAssassin(corpus, N).map((m) => ({ raw: m.raw })))).map((i) => i.entry);
  return { root, open, a, b, inbox, archive, ids };
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

/** What marks documents set per entry, merged, and the entries they make, in a comparable form. */
function setBy(metas: MarksMeta[]): { marked: Record<string, unknown>; made: Record<string, unknown> } {
  const all = new Map<string, Marked>();
  for (const meta of metas) {
    for (const [logical, m] of markedEntries(meta)) {
      const had = all.get(logical);
      const base: EntryMeta = { mailbox: 'x', message: 'x', size: 0, date: 0, flags: had?.flags ?? {}, expunged: had?.expunged ?? [false, ''] };
      if (had?.moved !== undefined) base.moved = had.moved;
      const f = folded(base, m);
      all.set(logical, { flags: f.flags, expunged: f.expunged, ...(f.moved !== undefined ? { moved: f.moved } : {}) });
    }
  }
  const sorted = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
  const marked = sorted(Object.fromEntries([...all].map(([l, m]) => [l, { ...m, flags: sorted(m.flags) }])));
  const made = sorted(Object.fromEntries(metas.flatMap(createdEntries).map((c) => [c.logical, { ...c.meta, flags: sorted(c.meta.flags) }])));
  return { marked, made };
}

test('consolidated marks set what the marks they replace set, per entry and flag, and make the same entries', () => {
  const ids = Array.from({ length: 2600 }, (_, i) => `e${String(i).padStart(4, '0')}`);
  const sources: MarksMeta[] = [
    { stamp: 's1', flags: [['\\Seen', true, ids]] },
    { stamp: 's2', flags: [], created: ids.slice(0, 100).map((id) => [`c-${id}`, 'box', `m-${id}`, 10, 5, id < 'e0050' ? ['\\Answered'] : []]) },
    { stamp: 's3', flags: [['\\Seen', false, ids.slice(0, 1000)], ['\\Answered', false, ids.slice(0, 10).map((id) => `c-${id}`)]] },
    { stamp: 's0', flags: [['\\Seen', false, ids.slice(2000)], ['\\Flagged', true, ids.slice(2000)]], expunged: ids.slice(2500).map((id) => [id]) },
    { stamp: 's4', flags: [], expunged: [...ids.slice(100, 200).map((id): [string, string] => [id, `c-${id}`]), [`c-${ids[0]}`]] },
  ];
  const live = new LiveMarks();
  sources.forEach((m, i) => live.add(`doc${i}`, '1-a', m));
  const { marked, made } = live.snapshot();
  let n = 0;
  const out = consolidated(marked, made, () => `t${n++}`);
  assert.equal(out.length, 2, 'MARKS_PER_DOC entries a document');
  assert.deepEqual(setBy(out), setBy(sources));
  // Consolidating again changes nothing.
  const again = new LiveMarks();
  out.forEach((m, i) => again.add(`c${i}`, '1-a', m));
  const snap = again.snapshot();
  assert.deepEqual(setBy(consolidated(snap.marked, snap.made, () => 'u')), setBy(sources));
});

test('a marks document of a shape this version does not know is shown for what it knows, and never consolidated', () => {
  const live = new LiveMarks();
  for (let i = 0; i < CONSOLIDATE_AT; i++) live.add(`d${i}`, '1-a', { stamp: `s${String(i).padStart(2, '0')}`, flags: [['\\Seen', i % 2 === 0, ['e1', 'e2']]] });
  // Written by a later version, with a field this one cannot read (nor must drop).
  live.add('later', '1-a', { stamp: 's99', flags: [['\\Flagged', true, ['e1']]], renamed: [['e1', 'box2']] } as MarksMeta);
  assert.deepEqual(live.regs('e1')!.flags['\\Flagged'], [true, 's99'], 'shown for what it knows');
  assert.equal(live.consolidable, CONSOLIDATE_AT);
  const snap = live.snapshot();
  assert.deepEqual(snap.docs.map(([id]) => id).sort(), Array.from({ length: CONSOLIDATE_AT }, (_, i) => `d${i}`).sort(), 'only the documents it knows are replaced');
  assert.equal(snap.marked.get('e1')!.flags['\\Flagged'], undefined, 'and the later one\'s registers stay in it');
  assert.deepEqual(snap.marked.get('e1')!.flags['\\Seen'], [false, 's15']);
  live.replaced(snap.docs.map(([id]) => id));
  assert.deepEqual(live.list(), [['later', '1-a']]);
  assert.deepEqual(live.regs('e1')!.flags['\\Flagged'], [true, 's99']);
});

test('marks are consolidated only when that writes at most half as many documents as are live', () => {
  const due = (docs: MarksMeta[]) => {
    const live = new LiveMarks();
    docs.forEach((m, i) => live.add(`d${i}`, '1-a', m));
    return new MarksConsolidation({ marks: live, state: undefined as never, queued: async () => undefined }).due;
  };
  const ids = (from: number) => Array.from({ length: MARKS_PER_DOC }, (_, i) => `e${from + i}`);
  const over = (n: number, distinct: boolean) => Array.from({ length: n }, (_, i): MarksMeta => ({ stamp: `s${i}`, flags: [['\\Seen', i % 2 === 0, ids(distinct ? i * MARKS_PER_DOC : 0)]] }));
  assert.equal(due(over(CONSOLIDATE_AT - 1, false)), false);
  assert.equal(due(over(CONSOLIDATE_AT, false)), true, 'one STORE toggled back and forth');
  // One STORE on 40,000 messages is 20 documents naming 20 x MARKS_PER_DOC entries: as few as it gets.
  assert.equal(due(over(20, true)), false);
  assert.equal(due([...over(20, true), ...over(19, true)]), false);
  assert.equal(due([...over(20, true), ...over(20, true)]), true);
});

test('a STORE on many entries writes one marks document, shows and announces it like entry revisions, and keeps it live across a restart', async () => {
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

    // Closed and opened again: the live marks are listed with the feed position, read again
    // from that list (the feed is not read again from before them), and stay live.
    await s.close();
    s = await Store.open({ dir: path, keys, device: 'here' });
    assert.deepEqual(view(s, box), shown);
    assert.equal(s.index.liveMarks, 2, 'the marks are live again after the restart');
    assert.equal(s.index.loadStats.documentsRead, 0, 'read from the list, not by replaying the feed');
    // An update of one entry decides from what is shown, and writes it: the marks stay.
    assert.equal(await s.setFlags([entries[1]!], { remove: ['\\Flagged'] }), 1);
    assert.equal(await s.setFlags([entries[2]!], { add: ['\\Flagged'] }), 0, 'already shown flagged');
    assert.equal(s.index.liveMarks, 2);
    const expected = flagsOf(s, box);
    assert.equal(expected.filter((f) => f.endsWith(':')).length, 1);

    // A store rebuilt from the state database alone (no local index) shows the same.
    await s.close();
    rmSync(join(path, 'local'), { recursive: true, force: true });
    s = await Store.open({ dir: path, keys, device: 'here' });
    assert.equal(s.index.rebuilt, true);
    assert.deepEqual(flagsOf(s, box), expected);
    assert.equal(s.index.liveMarks, 2);
  } finally {
    await s.close();
  }
});

test('a MOVE of many entries is two marks documents, the copies and the expunges: announced once, linked, and kept across a restart and a rebuild', async () => {
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
    // A copy changed on its own: its first document is written then, the marks' registers in it.
    await s.setFlags([copies[2]!.entry], { add: ['\\Flagged'] });
    const copiesShown = shownCopies();
    assert.deepEqual(changes.filter((c) => c.mailbox === inbox).flatMap((c) => c.expunged).sort((a, b) => a - b), uids, 'each original is announced expunged once');
    // Expunging them again changes nothing.
    assert.equal(await s.expunge(moving.map((e) => e.logical)), 0);

    await s.close();
    s = await Store.open({ dir: path, keys, device: 'here' });
    assert.equal(s.index.mailbox(inbox)!.entries.size, keep.length, 'still expunged after a restart');
    assert.deepEqual(shownCopies(), copiesShown, 'the copies are the same after a restart');
    assert.equal(s.index.liveMarks, 2);
    assert.equal(s.index.loadStats.documentsRead, 0);

    // Rebuilt from the state database alone: the marks make and expunge the same entries.
    await s.close();
    rmSync(join(path, 'local'), { recursive: true, force: true });
    s = await Store.open({ dir: path, keys, device: 'here' });
    assert.equal(s.index.rebuilt, true);
    assert.equal(s.index.mailbox(inbox)!.entries.size, keep.length);
    assert.deepEqual(
      [...s.index.mailbox(archive)!.entries.values()].map((e) => `${e.logical}:${liveFlags(e.meta).join(',')}`).sort(),
      copiesShown.map((c) => c.slice(c.indexOf(':') + 1)).sort(),
    );
  } finally {
    await s.close();
  }
});

test('marks replicate to another device, merge with its own edits by stamp across a restart, and consolidate without a client seeing it', async () => {
  const { root, open, inbox: box, archive, ids, ...devices } = await twoDevices('x', 'easy-ham-2');
  let a = devices.a;
  const b = devices.b;
  const replayed: unknown[] = [];
  const watch = (s: Store) => s.index.on('replayed', (r) => replayed.push(r));
  watch(a);
  watch(b);
  try {
    await sync(a, 'replicate');
    await sync(b, 'replicate');
    assert.equal(b.index.mailbox(box)?.entries.size, N);

    // Apart: A marks every entry \Seen and moves all but the first ten to Archive (marks for
    // the copies and for the expunges), and restarts; B, later, reads and un-reads entry 5 and
    // flags entry 6, writing revisions without A's marks.
    await a.setFlags(ids, { add: ['\\Seen'] });
    const moving = ids.slice(10).map((id) => a.index.entry(id)!);
    const copies = await a.copyEntries(moving, archive);
    await a.expunge(moving.map((e) => e.logical), { movedTo: copies.map((c) => c.entry) });
    assert.equal(a.index.liveMarks, 3);
    await a.close();
    a = await open('a');
    watch(a);
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
    assert.deepEqual(flagsOf(a, box), expected, 'A, restarted, merges B\'s revisions with its marks');
    assert.deepEqual(flagsOf(b, box), expected, 'B shows A\'s marks');
    assert.deepEqual(flagsOf(a, archive), archived);
    assert.deepEqual(flagsOf(b, archive), archived, 'B shows the copies A\'s marks made');
    assert.equal(b.index.liveMarks, 3);
    assert.deepEqual(replayed, [], 'an entry written without the marks is not taken for a replay');

    // A labels and unlabels the copies until CONSOLIDATE_AT marks documents are live.
    for (let i = 0; a.index.liveMarks < CONSOLIDATE_AT; i++) await a.setFlags(copies.map((c) => c.entry), i % 2 ? { remove: ['$Work'] } : { add: ['$Work'] });
    assert.equal(a.index.liveMarks, CONSOLIDATE_AT);
    await sync(a, 'replicate');
    await sync(b, 'replicate');
    const labelled = flagsOf(a, archive);
    assert.deepEqual(flagsOf(b, archive), labelled);
    const aView = [...view(a, box), ...view(a, archive)];
    const bView = [...view(b, box), ...view(b, archive)];

    // One document replaces them; neither device shows anything new, nor moves a MODSEQ.
    const changes: IndexChange[] = [];
    for (const s of [a, b]) s.index.on('change', (c: IndexChange) => changes.push(c));
    await a.index.consolidateMarks();
    assert.equal(a.index.liveMarks, 1);
    for (let round = 0; round < 2; round++) {
      await sync(a, 'replicate');
      await sync(b, 'replicate');
    }
    assert.equal(b.index.liveMarks, 1, 'B holds the consolidation, not the marks it replaced');
    assert.deepEqual([...view(a, box), ...view(a, archive)], aView);
    assert.deepEqual([...view(b, box), ...view(b, archive)], bView);
    assert.deepEqual(changes.flatMap((c) => [...c.added, ...c.changed, ...c.expunged]), []);
    assert.equal((await kinds(b, deriveKeys(root))).filter((k) => k === 'marks').length, 1);
    await a.close();
    a = await open('a');
    assert.deepEqual([...view(a, box), ...view(a, archive)], aView, 'and across a restart');
    assert.equal(a.index.liveMarks, 1);
    assert.deepEqual(replayed, []);
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
  const { a, b, inbox: box, archive, ids } = await twoDevices('c', 'spam-1');
  try {
    await sync(a, 'carry');
    await sync(b, 'carry');
    const moving = ids.map((id) => a.index.entry(id)!);
    const copies = await a.copyEntries(moving, archive);
    await a.expunge(ids, { movedTo: copies.map((c) => c.entry) });
    await sleep(5);
    // B, apart and later, flags the first original. A pulls that revision, which says nothing
    // of the MOVE: live marks say the original is expunged and moved, so A carries the flag.
    await b.setFlags([ids[0]!], { add: ['\\Flagged'] });
    await sync(b, 'carry');
    await sync(a, 'carry');
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

test('marks piling up are consolidated by themselves: by a device that only pulled them, and by the writer once writing pauses', async () => {
  const { open, inbox: box, ids, ...devices } = await twoDevices('t', 'hard-ham-1');
  let a = devices.a;
  const b = devices.b;
  const toggle = (s: Store, ids: string[], i: number) => s.setFlags(ids, i % 2 ? { remove: ['\\Seen'] } : { add: ['\\Seen'] });
  try {
    await sync(a, 'timers');
    await sync(b, 'timers');
    // A marks every entry CONSOLIDATE_AT + 1 times and goes away at once (a close does not consolidate).
    for (let i = 0; i <= CONSOLIDATE_AT; i++) await toggle(a, ids, i);
    assert.equal(a.index.liveMarks, CONSOLIDATE_AT + 1);
    await sync(a, 'timers');
    await a.close();
    const last = flagsOf(b, box).map((f) => `${f.slice(0, f.indexOf(':'))}:\\Seen`);

    // B shows A's marks, and consolidates them itself once it is quiet, with no write of its own.
    await sync(b, 'timers');
    assert.deepEqual(flagsOf(b, box), last);
    await until('B consolidates marks another device left', () => b.index.liveMarks === 1, 15_000);
    assert.deepEqual(flagsOf(b, box), last);
    await sync(b, 'timers');

    // A, back, has its marks live again from its list, then learns they were consolidated.
    a = await open('a');
    assert.equal(a.index.liveMarks, CONSOLIDATE_AT + 1);
    await sync(a, 'timers');
    assert.equal(a.index.liveMarks, 1);
    assert.deepEqual(flagsOf(a, box), last);

    // Its own next marks are consolidated about five seconds after writing pauses, by nobody's call.
    for (let i = 1; i < CONSOLIDATE_AT; i++) await toggle(a, ids, i);
    assert.equal(a.index.liveMarks, CONSOLIDATE_AT);
    await until('A consolidates its own marks once quiet', () => a.index.liveMarks === 1, 15_000);
    assert.ok(flagsOf(a, box).every((f) => f.endsWith(':')));
  } finally {
    await a.close();
    await b.close();
  }
});

test('a consolidation does not show entries whose message has not arrived (they wait for it)', async () => {
  const { a, b, inbox, archive, ids } = await twoDevices('w', 'easy-ham-1');
  try {
    // A copies them all (marks making the copies) and flags the copies (a second marks document).
    const copies = await a.copyEntries(ids.map((id) => a.index.entry(id)!), archive);
    await a.setFlags(copies.map((c) => c.entry), { add: ['\\Flagged'] });
    assert.equal(a.index.liveMarks, 2);

    // B pulls the state before the content (they replicate separately): nothing is shown yet.
    await PouchDB.replicate(a.replicated().state, b.replicated().state);
    await b.index.catchUp();
    assert.equal(b.index.liveMarks, 2);
    assert.equal(b.index.mailbox(inbox)!.entries.size, 0, 'originals wait for their messages');
    assert.equal(b.index.mailbox(archive)!.entries.size, 0, 'copies wait for their messages');
    assert.ok(b.index.waitingForContent >= N);

    // B consolidates (by itself once 16 are live and it is quiet; forced here).
    await b.index.consolidateMarks(true);
    assert.equal(b.index.liveMarks, 1);
    const present = await b.content.has(copies.map((c) => c.message));
    const shown = [...b.index.mailbox(archive)!.entries.values()];
    assert.equal(present.size, 0, 'no message has arrived on B');
    assert.equal(shown.length, 0, `B shows ${shown.length} copies whose message it does not have (a FETCH would fail)`);
  } finally {
    await a.close();
    await b.close();
  }
});

test('a device that learns of a COPY only from a consolidation gives the copies UIDs in the order they were copied', async () => {
  const { a, b, archive, ids } = await twoDevices('o', 'easy-ham-2');
  try {
    const copies = await a.copyEntries(ids.map((id) => a.index.entry(id)!), archive);
    await a.setFlags(copies.map((c) => c.entry), { add: ['\\Flagged'] });
    const order = (s: Store) => [...s.index.mailbox(archive)!.entries.values()].map((e) => e.logical);
    assert.deepEqual(order(a), copies.map((c) => c.entry), 'A: in the order copied');
    await a.index.consolidateMarks(true);
    assert.equal(a.index.liveMarks, 1);

    // A new device (or A's index rebuilt) reads the consolidation only.
    for (const name of ['content', 'state'] as const) await PouchDB.replicate(a.replicated()[name], b.replicated()[name]);
    await b.index.catchUp();
    assert.equal(b.index.mailbox(archive)!.entries.size, N);
    assert.deepEqual(order(b), copies.map((c) => c.entry), 'B: copies in the order copied, like the original mailbox');
  } finally {
    await a.close();
    await b.close();
  }
});

test("a copy's own revision waiting for its message is not replaced by what a consolidation says of it", async () => {
  const { open, a, inbox, archive, ids, ...devices } = await twoDevices('r', 'hard-ham-1');
  let b = devices.b;
  try {
    const copies = await a.copyEntries(ids.map((id) => a.index.entry(id)!), archive);
    // One copy changed on its own: its first document is written, \Flagged in it (not in any marks).
    await a.setFlags([copies[0]!.entry], { add: ['\\Flagged'] });
    await a.setFlags(copies.map((c) => c.entry), { add: ['\\Seen'] });
    const shownOn = (s: Store) => liveFlags(s.index.entry(copies[0]!.entry)!.meta).sort();
    assert.deepEqual(shownOn(a), ['\\Flagged', '\\Seen']);

    // B pulls the state before the content (they replicate separately): the copy's document
    // and the marks wait for the messages. Meanwhile A consolidates; B pulls that too.
    await PouchDB.replicate(a.replicated().state, b.replicated().state);
    await b.index.catchUp();
    assert.equal(b.index.mailbox(archive)!.entries.size, 0);
    await a.index.consolidateMarks(true);
    assert.equal(a.index.liveMarks, 1);
    await PouchDB.replicate(a.replicated().state, b.replicated().state);
    await b.index.catchUp();
    await PouchDB.replicate(a.replicated().content, b.replicated().content);
    await b.index.contentArrived();
    assert.equal(b.index.mailbox(archive)!.entries.size, N);
    const before = shownOn(b);
    // A restart does not help: the feed position has passed the copy's document.
    await b.close();
    b = await open('b');
    assert.deepEqual({ before, after: shownOn(b) }, { before: ['\\Flagged', '\\Seen'], after: ['\\Flagged', '\\Seen'] }, 'B shows the copy as its own document and the marks say');
  } finally {
    await a.close();
    await b.close();
  }
});

test('a copy whose own revision arrives before the marks that made it, in one batch, keeps that revision', async () => {
  const { root, a, b, inbox, archive, ids } = await twoDevices('b', 'spam-2');
  try {
    const copies = await a.copyEntries(ids.map((id) => a.index.entry(id)!), archive);
    await a.setFlags([copies[0]!.entry], { add: ['\\Flagged'] });
    // B gets the state in one write, the copy's own document before the marks that made it
    // (a replicator does not keep the order of a batch), then the messages.
    const own = a.state.entryId(copies[0]!.entry);
    const docs = (await a.replicated().state.allDocs({ include_docs: true })).rows.map((r) => r.doc!);
    const marks = (await kinds(a, deriveKeys(root))).map((k, i) => (k === 'marks' ? docs[i]!._id : undefined)).filter((id) => id !== undefined);
    assert.equal(marks.length, 1);
    const last = [own, marks[0]!];
    await b.replicated().state.bulkDocs([...docs.filter((d) => !last.includes(d._id)), ...last.map((id) => docs.find((d) => d._id === id)!)], { new_edits: false });
    await b.index.catchUp();
    await PouchDB.replicate(a.replicated().content, b.replicated().content);
    await b.index.contentArrived();
    assert.equal(b.index.mailbox(archive)!.entries.size, N);
    const copy = b.index.entry(copies[0]!.entry)!;
    assert.deepEqual(liveFlags(copy.meta), ['\\Flagged']);
    assert.notEqual(copy.rev, '', 'shown at its own revision');
  } finally {
    await a.close();
    await b.close();
  }
});

test('an entry marked by a document whose deletion arrives before its consolidation keeps the flag across a restart', async () => {
  const keys = deriveKeys(newRootSecret());
  const path = join(dir.path, 'deleted-first');
  const sealer = new Sealer({ sealKey: keys.seal, idKey: keys.id });
  let s = await Store.open({ dir: path, keys, device: 'here' });
  try {
    const box = (await s.createMailbox('INBOX')).logical;
    const entries = (await s.import(box, spamAssassin('easy-ham-1', N).map((m) => ({ raw: m.raw })))).map((i) => i.entry);
    assert.equal(await s.setFlags(entries, { add: ['\\Seen'] }), N);
    assert.equal(s.index.liveMarks, 1);
    const shown = view(s, box);
    assert.ok(shown.every((v) => v.endsWith(':\\Seen')));

    // The marks document, as another device's consolidation deletes it; its deletion is
    // applied here before the consolidation document arrives (a later replication batch).
    const db = s.replicated().state;
    const all = await db.allDocs({ include_docs: true });
    const marksDoc = all.rows.map((r) => r.doc!).find((d) => s.state.open(d).kind === 'marks')!;
    const marksMeta = s.state.open(marksDoc).meta as MarksMeta;
    await db.bulkDocs([{ _id: marksDoc._id, _rev: marksDoc._rev!, _deleted: true }]);
    await s.index.catchUp();
    assert.equal(s.index.liveMarks, 0);
    assert.deepEqual(view(s, box), shown, 'still shown \\Seen before the restart');

    await s.close();
    s = await Store.open({ dir: path, keys, device: 'here' });
    const afterRestart = view(s, box);

    // The consolidation arrives (through the feed, as replication writes it).
    const [c] = consolidated(markedEntries(marksMeta), new Map(), () => marksMeta.stamp + 'z');
    await s.replicated().state.bulkDocs([sealer.seal({ kind: 'marks', logical: randomUUID(), meta: c! })]);
    await s.index.catchUp();
    assert.equal(s.index.liveMarks, 1);
    const afterConsolidation = view(s, box);
    // Journal rows rebuilt from the marks live at open would lack \Seen, at an unchanged MODSEQ.
    assert.deepEqual({ afterRestart, afterConsolidation }, { afterRestart: shown, afterConsolidation: shown });
  } finally {
    await s.close();
  }
});
