import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { openPouch, type PouchDb, type PouchDocument } from '../../../src/store/pouch.js';
import { RecordRepo } from '../../../src/store/records.js';
import { Sealer } from '../../../src/store/seal.js';
import { makeTempDir, type TempDir } from '../../harness/tmp.js';

interface Peer {
  seen: number[];
}

let dir: TempDir;
let db: PouchDb;
const sealer = new Sealer({ sealKey: randomBytes(32), idKey: randomBytes(32) });
before(async () => {
  dir = await makeTempDir('waxseal-records-');
  db = openPouch(join(dir.path, 'keys'), { revsLimit: 100, autoCompaction: true });
});
after(async () => {
  await db?.close();
  await dir?.cleanup();
});

test('updateMany creates, changes and leaves records as update would, one by one', async () => {
  const repo = new RecordRepo(db, sealer, { kinds: ['peer'], name: 'key' });
  await repo.update<Peer>('peer', 'a', () => ({ seen: [1] }));
  await repo.update<Peer>('peer', 'b', () => ({ seen: [1] }));
  const asked: Array<[string, Peer | undefined]> = [];
  await repo.updateMany<Peer>('peer', ['a', 'b', 'c', 'a'], (logical, cur) => {
    asked.push([logical, cur]);
    return logical === 'b' ? undefined : { seen: [...(cur?.seen ?? []), 2] };
  });
  assert.deepEqual(asked, [['a', { seen: [1] }], ['b', { seen: [1] }], ['c', undefined]], 'each record once, with its current value');
  assert.deepEqual((await repo.get<Peer>('peer', 'a'))?.value, { seen: [1, 2] });
  assert.deepEqual((await repo.get<Peer>('peer', 'b'))?.value, { seen: [1] });
  assert.deepEqual((await repo.get<Peer>('peer', 'c'))?.value, { seen: [2] });
});

test('updateMany re-reads a record changed between its read and its write, and loses neither change', async () => {
  const base = new RecordRepo(db, sealer, { kinds: ['peer'], name: 'key' });
  await base.update<Peer>('peer', 'x', () => ({ seen: [1] }));
  await base.update<Peer>('peer', 'y', () => ({ seen: [1] }));
  // Another writer (another ingest, the sync layer) changes x just before the bulk write lands.
  const racing = new Proxy(db, {
    get(target, prop) {
      if (prop === 'bulkDocs') {
        return async (docs: PouchDocument[], opts?: { new_edits?: boolean }) => {
          await base.update<Peer>('peer', 'x', (cur) => ({ seen: [...cur!.seen, 99] }));
          return target.bulkDocs(docs, opts);
        };
      }
      const v = Reflect.get(target, prop) as unknown;
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  const repo = new RecordRepo(racing, sealer, { kinds: ['peer'], name: 'key' });
  await repo.updateMany<Peer>('peer', ['x', 'y'], (_, cur) => ({ seen: [...(cur?.seen ?? []), 2] }));
  assert.deepEqual((await base.get<Peer>('peer', 'x'))?.value, { seen: [1, 99, 2] });
  assert.deepEqual((await base.get<Peer>('peer', 'y'))?.value, { seen: [1, 2] });
});
