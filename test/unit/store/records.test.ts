import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { openPouch, type PouchDb } from '../../../src/store/pouch.js';
import { RecordRepo, replayReason } from '../../../src/store/records.js';
import { Sealer, type SealedDoc } from '../../../src/store/seal.js';
import { makeTempDir, type TempDir } from '../../harness/tmp.js';

let dir: TempDir;
before(async () => {
  dir = await makeTempDir('waxseal-records-');
});
after(async () => {
  await dir.cleanup();
});

const sealer = new Sealer({ sealKey: randomBytes(32), idKey: randomBytes(32) });
let n = 0;
const repo = (): { db: PouchDb; records: RecordRepo } => {
  const db = openPouch(join(dir.path, `db${n++}`), { revsLimit: 100, autoCompaction: true });
  return { db, records: new RecordRepo(db, sealer, { kinds: ['peer'], name: 'key' }) };
};

/** Whether the winning revision of `logical` carries the generation it sits at. */
async function sealedAtItsRevision(db: PouchDb, logical: string): Promise<string | undefined> {
  const doc = await db.get(sealer.docId('peer', logical));
  return replayReason(sealer.open(doc as unknown as SealedDoc).meta, doc._rev!) ?? 'ok';
}

test('every way of writing a record seals the generation of the revision it becomes', async () => {
  const { db, records } = repo();
  await records.update('peer', 'a', () => ({ v: 1 }));
  assert.equal(await sealedAtItsRevision(db, 'a'), 'ok');
  await records.update('peer', 'a', () => ({ v: 2 }));
  assert.equal(await sealedAtItsRevision(db, 'a'), 'ok');

  // Removed, then made again: PouchDB continues the deleted history (generation 4, not 1).
  assert.ok(await records.remove('peer', 'a'));
  await records.update('peer', 'a', () => ({ v: 3 }));
  assert.match((await db.get(sealer.docId('peer', 'a')))._rev!, /^4-/);
  assert.equal(await sealedAtItsRevision(db, 'a'), 'ok');

  // put, with and without a known revision, also over a deleted one.
  const rev = await records.put('peer', 'b', { v: 1 });
  await records.put('peer', 'b', { v: 2 }, rev);
  assert.equal(await sealedAtItsRevision(db, 'b'), 'ok');
  assert.ok(await records.remove('peer', 'b'));
  await records.put('peer', 'b', { v: 3 });
  assert.equal(await sealedAtItsRevision(db, 'b'), 'ok');
  assert.deepEqual((await records.get('peer', 'b'))?.value, { v: 3 });

  // updateMany (ingest's batched "seen from this sender"): new, changed and re-made records.
  assert.ok(await records.remove('peer', 'b'));
  await records.updateMany('peer', ['b', 'c', 'd'], () => ({ v: 4 }));
  await records.updateMany('peer', ['c', 'd'], () => ({ v: 5 }));
  for (const l of ['b', 'c', 'd']) assert.equal(await sealedAtItsRevision(db, l), 'ok', `record ${l}`);
  await db.close();
});

test('a merged conflict is sealed at its revision; an old body at a newer revision is told apart', async () => {
  const { db, records } = repo();
  await records.update('peer', 'c', () => ({ v: 1 }));
  const first = await db.get(sealer.docId('peer', 'c'));
  await records.update('peer', 'c', () => ({ v: 2 }));
  // Another device's edit of revision 1, arriving as a conflicting revision 2.
  const other = sealer.seal({ kind: 'peer', logical: 'c', meta: { value: { v: 9 }, gen: 2 } });
  const [hash] = first._rev!.split('-').slice(1);
  await db.bulkDocs({ docs: [{ ...other, _rev: '2-ffffffffffffffffffffffffffffffff', _revisions: { start: 2, ids: ['ffffffffffffffffffffffffffffffff', hash!] } }], new_edits: false } as never);
  assert.ok(await records.resolve(sealer.docId('peer', 'c'), (a: { v: number }, b: { v: number }) => ({ v: Math.max(a.v, b.v) + 100 })));
  assert.equal(await sealedAtItsRevision(db, 'c'), 'ok');
  assert.deepEqual((await records.get('peer', 'c'))?.value, { v: 109 });

  // What the door sees when a server replays revision 1's body as revision 4.
  assert.match(replayReason(sealer.open(first as unknown as SealedDoc).meta, '4-abc')!, /older revision \(1\).*\(4\)/);
  assert.match(replayReason({}, '1-abc')!, /without its revision generation/);
  await db.close();
});
