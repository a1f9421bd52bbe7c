import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '../../../src/store/store.js';
import { deriveKeys, newRootSecret } from '../../../src/secrets/root.js';
import type { IndexChange } from '../../../src/store/uid-index.js';
import { spamAssassin } from '../../harness/corpus.js';
import { makeTempDir } from '../../harness/tmp.js';
import { sleep } from '../../../src/util/time.js';
import { Sealer } from '../../../src/store/seal.js';
import { PouchDB } from '../../../src/store/pouch.js';
import { isWaxsealError } from '../../../src/util/errors.js';

const keysByPath = new Map<string, ReturnType<typeof deriveKeys>>();
const keysOf = (path: string) => keysByPath.get(path)!;

async function withStore(fn: (open: () => Promise<Store>, path: string) => Promise<void>) {
  const dir = await makeTempDir('waxseal-index-');
  const keys = deriveKeys(newRootSecret());
  const path = join(dir.path, 'store');
  keysByPath.set(path, keys);
  try {
    await fn(() => Store.open({ dir: path, keys }), path);
  } finally {
    await dir.cleanup();
  }
}

const snapshot = (s: Store, box: string) => {
  const m = s.index.mailbox(box)!;
  return {
    uidValidity: m.uidValidity,
    uidNext: m.uidNext,
    highestModseq: m.highestModseq,
    entries: [...m.entries.values()].map((e) => [e.uid, e.modseq, e.logical, Object.keys(e.meta.flags).sort().join()]),
  };
};

test('UIDs ascend in import order and, with MODSEQs, survive a restart unchanged', () =>
  withStore(async (open) => {
    const s = await open();
    const box = (await s.createMailbox('INBOX')).logical;
    const imported = await s.import(box, spamAssassin('easy-ham-1', 20).map((m) => ({ raw: m.raw })));
    assert.deepEqual(imported.map((i) => i.uid), Array.from({ length: 20 }, (_, i) => i + 1));
    await s.setFlags([imported[3]!.entry], { add: ['\\Seen'] });
    const before = snapshot(s, box);
    assert.equal(before.uidNext, 21);
    await s.close();
    const again = await open();
    assert.deepEqual(snapshot(again, box), before);
    assert.equal(again.index.rebuilt, false);
    await again.close();
  }));

test('flag changes and expunges bump MODSEQ and are announced once', () =>
  withStore(async (open) => {
    const s = await open();
    const box = (await s.createMailbox('INBOX')).logical;
    const imported = await s.import(box, spamAssassin('easy-ham-1', 3).map((m) => ({ raw: m.raw })));
    const events: IndexChange[] = [];
    s.index.on('change', (c: IndexChange) => events.push(c));
    const m0 = s.index.mailbox(box)!.highestModseq;
    await s.setFlags([imported[0]!.entry, imported[1]!.entry], { add: ['\\Flagged'] });
    assert.equal(await s.setFlags([imported[0]!.entry], { add: ['\\Flagged'] }), 0, 'setting a set flag is no change');
    await s.expunge([imported[2]!.entry]);
    const m = s.index.mailbox(box)!;
    assert.equal(m.highestModseq, m0 + 3);
    assert.deepEqual([...m.entries.keys()], [1, 2]);
    assert.deepEqual(events, [
      { mailbox: box, added: [], changed: [1, 2], expunged: [] },
      { mailbox: box, added: [], changed: [], expunged: [3] },
    ]);
    await s.setFlags([imported[1]!.entry], { set: ['$Label1'] });
    assert.deepEqual(
      Object.entries(s.index.mailbox(box)!.entries.get(2)!.meta.flags).filter(([, r]) => r[0]).map(([f]) => f),
      ['$Label1'],
    );
    await s.close();
  }));

test('a lost index is rebuilt from the store with a new UIDVALIDITY; nothing is lost', () =>
  withStore(async (open, path) => {
    const s = await open();
    const box = (await s.createMailbox('INBOX')).logical;
    const msgs = spamAssassin('easy-ham-1', 10);
    const imported = await s.import(box, msgs.map((m) => ({ raw: m.raw, flags: ['\\Seen'] })));
    await s.expunge([imported[0]!.entry]);
    const before = snapshot(s, box);
    await s.close();
    rmSync(join(path, 'local'), { recursive: true });
    await sleep(1100); // UIDVALIDITY comes from the clock, in seconds
    const rebuilt = await open();
    assert.equal(rebuilt.index.rebuilt, true);
    const after = snapshot(rebuilt, box);
    assert.notEqual(after.uidValidity, before.uidValidity);
    assert.equal(after.entries.length, 9);
    const back = await Promise.all([...rebuilt.index.mailbox(box)!.entries.values()].map((e) => rebuilt.read(e)));
    assert.deepEqual(back.map((b) => b.toString('latin1')), msgs.slice(1).map((m) => m.raw.toString('latin1')));
    await rebuilt.close();
  }));

test('a section is served from its own part documents only', async () => {
  const dir = await makeTempDir('waxseal-section-');
  const keys = deriveKeys(newRootSecret());
  const path = join(dir.path, 'store');
  try {
    const s = await Store.open({ dir: path, keys, bodiesMaxBytes: 0 }); // the content road
    const box = (await s.createMailbox('INBOX')).logical;
    const a = 'A'.repeat(20_000);
    const b = 'B'.repeat(30_000);
    const raw = Buffer.from(
      `Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\n${a}\r\n--x\r\nContent-Type: application/octet-stream\r\n\r\n${b}\r\n--x--\r\n`,
    );
    await s.import(box, [{ raw }]);
    await s.close();
    // Remove the first part's document: reading the second part must not need it.
    const sealer = new Sealer({ sealKey: keys.seal, idKey: keys.id });
    const db = new PouchDB(join(path, 'content'));
    const partA = await db.get(sealer.docId('part', sealer.contentKey(Buffer.from(a))));
    await db.put({ _id: partA._id, _rev: partA._rev, _deleted: true });
    await db.close();
    const again = await Store.open({ dir: path, keys, bodiesMaxBytes: 0 });
    const entry = [...again.index.mailbox(box)!.entries.values()][0]!;
    const start = raw.indexOf(b);
    assert.equal((await again.read(entry, start, start + b.length)).toString(), b);
    assert.equal((await again.read(entry, 0, 50)).toString(), raw.subarray(0, 50).toString(), 'headers come from the skeleton');
    await assert.rejects(again.read(entry), (err) => isWaxsealError(err, 'EMISSING'));
    await again.close();
  } finally {
    await dir.cleanup();
  }
});

test('ENVELOPE and BODYSTRUCTURE are cached in the sealed message document at import', () =>
  withStore(async (open) => {
    const s = await open();
    const box = (await s.createMailbox('INBOX')).logical;
    const raw = Buffer.from(
      'From: Ann <ann@example.org>\r\nSubject: cached\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=k\r\n\r\n--k\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhi\r\n--k\r\nContent-Type: image/png\r\n\r\nPNG\r\n--k--\r\n',
    );
    const [imported] = await s.import(box, [{ raw }]);
    await s.close();
    const again = await open();
    const { meta } = await again.content.message(imported!.message);
    assert.equal(meta.envelope?.subject, 'cached');
    assert.deepEqual(meta.envelope?.from, [{ name: 'Ann', adl: null, mailbox: 'ann', host: 'example.org' }]);
    assert.equal(meta.body?.kind, 'multipart');
    assert.deepEqual(meta.body?.kind === 'multipart' ? meta.body.parts.map((p) => `${p.kind}:${p.subtype}`) : [], ['text:plain', 'basic:png']);
    await again.close();
  }));

test('superseded flag revisions are compacted away in the background; the current state stays', async () => {
  const dir = await makeTempDir('waxseal-compact-');
  let compacted = 0;
  const keys = deriveKeys(newRootSecret());
  const s = await Store.open({ dir: join(dir.path, 'store'), keys, compactAfter: 10, compactDelayMs: 50, onCompacted: () => compacted++ });
  try {
    const box = (await s.createMailbox('INBOX')).logical;
    const [m] = await s.import(box, spamAssassin('easy-ham-1', 1).map((x) => ({ raw: x.raw })));
    const entry = () => s.index.mailbox(box)!.entries.get(m!.uid!)!;
    const firstRev = entry().rev;
    for (let i = 0; i < 12; i++) await s.setFlags([m!.entry], i % 2 ? { remove: ['\\Seen'] } : { add: ['\\Seen'] });
    assert.equal(compacted, 0, 'compacted in the middle of a burst of writes');
    const deadline = Date.now() + 5000;
    while (compacted === 0 && Date.now() < deadline) await sleep(20);
    assert.equal(compacted, 1);
    const db = s.replicated().state;
    await assert.rejects(db.get(entry().id, { rev: firstRev }), (err: { status?: number }) => err.status === 404);
    assert.equal(entry().meta.flags['\\Seen']?.[0], false);
    assert.deepEqual(Object.keys((await db.get(entry().id)) as object).sort(), ['_id', '_rev', 'ct', 'iv', 'v']);
  } finally {
    await s.close();
    await dir.cleanup();
  }
});

test('a restart loads the index from its journal and reads only what changed while closed', () =>
  withStore(async (open, path) => {
    const s = await open();
    const box = (await s.createMailbox('INBOX')).logical;
    const imported = await s.import(box, spamAssassin('easy-ham-1', 200).map((m) => ({ raw: m.raw })));
    await s.setFlags(imported.slice(0, 50).map((i) => i.entry), { add: ['\\Seen'] });
    await s.expunge([imported[7]!.entry]);
    const before = snapshot(s, box);
    await s.close();

    const again = await open();
    assert.equal(again.index.loadStats.fromJournal, true);
    assert.equal(again.index.loadStats.documentsRead, 0, 'nothing changed while closed, so nothing is read');
    assert.deepEqual(snapshot(again, box), before);
    await again.close();

    // A change that arrives while closed (replicated from another device) is read on start.
    const other = `${path}-other`;
    mkdirSync(other, { recursive: true });
    for (const name of ['content', 'state']) await PouchDB.replicate(new PouchDB(join(path, name)), new PouchDB(join(other, name)));
    const device = await Store.open({ dir: other, keys: keysOf(path) });
    const target = [...device.index.mailbox(box)!.entries.values()].find((e) => e.logical === imported[3]!.entry)!;
    await device.setFlags([target.logical], { add: ['\\Flagged'] });
    await device.close();
    await PouchDB.replicate(new PouchDB(join(other, 'state')), new PouchDB(join(path, 'state')));
    const fourth = await open();
    assert.equal(fourth.index.loadStats.fromJournal, true);
    assert.equal(fourth.index.loadStats.documentsRead, 1);
    const flaggedNow = [...fourth.index.mailbox(box)!.entries.values()].find((e) => e.logical === imported[3]!.entry)!;
    assert.equal(flaggedNow.meta.flags['\\Flagged']?.[0], true);
    assert.ok(flaggedNow.modseq > before.highestModseq);
    await fourth.close();
    void path;
  }));

test('the journals of many single imports are replaced by one snapshot on close, and the index survives it', () =>
  withStore(async (open, path) => {
    const s = await open();
    const box = (await s.createMailbox('INBOX')).logical;
    const messages = spamAssassin('easy-ham-2', 300);
    const imported = [];
    for (const m of messages) imported.push(...(await s.import(box, [{ raw: m.raw }])));
    await s.setFlags(imported.slice(0, 10).map((i) => i.entry), { add: ['\\Answered'] });
    const countLocal = async () => {
      const db = new PouchDB(join(path, 'local'));
      const n = (await db.allDocs()).rows.length;
      await db.close();
      return n;
    };
    const before = snapshot(s, box);
    await s.close();
    const docs = await countLocal();
    assert.ok(docs < 10, `${docs} documents left in the local index`);
    const again = await open();
    assert.equal(again.index.loadStats.fromJournal, true);
    assert.deepEqual(snapshot(again, box), before);
    // Writes after a snapshot land in new journals and survive too.
    await again.setFlags([imported[20]!.entry], { add: ['\\Flagged'] });
    const after = snapshot(again, box);
    await again.close();
    const third = await open();
    assert.deepEqual(snapshot(third, box), after);
    await third.close();
  }));

test('a snapshot of more slots than one journal holds is written in chunks and loads whole', () =>
  withStore(async (open, path) => {
    const s = await open();
    const box = (await s.createMailbox('INBOX')).logical;
    // 300 imports of 5: enough journals to compact, and 1,500 slots, more than one chunk.
    const messages = spamAssassin('easy-ham-1', 1500);
    for (let i = 0; i < messages.length; i += 5) await s.import(box, messages.slice(i, i + 5).map((m) => ({ raw: m.raw })));
    await s.setFlags([[...s.index.mailbox(box)!.entries.values()].at(-10)!.logical], { add: ['\\Flagged'] });
    const before = snapshot(s, box);
    await s.close();
    const db = new PouchDB(join(path, 'local'));
    const docs = (await db.allDocs()).rows.length;
    await db.close();
    assert.ok(docs < 10, `${docs} documents left in the local index`);
    const again = await open();
    assert.equal(again.index.loadStats.fromJournal, true);
    assert.deepEqual(snapshot(again, box), before);

    // A STORE on all 1,500 (as marks) changes 1,500 slots at once: journaled in chunks too.
    await again.setFlags([...again.index.mailbox(box)!.entries.values()].map((e) => e.logical), { add: ['\\Seen'] });
    const stored = snapshot(again, box);
    await again.close();
    const db2 = new PouchDB(join(path, 'local'));
    assert.equal((await db2.allDocs()).rows.length, docs + 2, 'two journals for 1,500 rows');
    await db2.close();
    const third = await open();
    assert.equal(third.index.loadStats.fromJournal, true);
    assert.deepEqual(snapshot(third, box), stored);
    await third.close();
  }));
