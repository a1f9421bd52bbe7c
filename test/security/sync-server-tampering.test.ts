/**
 * A sync server that tampers with what it stores: changed bytes, a document moved to another
 * id, an old revision served again as the newest, content deleted or given a second
 * revision. Each is refused and reported by the device that pulls it; nothing it already
 * had is undone or lost, a replayed state is written over, and later genuine changes keep
 * arriving.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Store } from '../../src/store/store.js';
import { deriveKeys, newRootSecret } from '../../src/secrets/root.js';
import { SyncController } from '../../src/sync/controller.js';
import { remoteDbName } from '../../src/sync/names.js';
import { liveFlags, type EntryMeta } from '../../src/store/kinds.js';
import { Sealer, type SealedDoc } from '../../src/store/seal.js';
import { spamAssassin } from '../harness/corpus.js';
import { startCouchDB, type CouchDB } from '../harness/couchdb.js';
import { makeTempDir, type TempDir } from '../harness/tmp.js';
import { until } from '../harness/until.js';

let couch: CouchDB;
let dir: TempDir;
before(async () => {
  couch = await startCouchDB();
  dir = await makeTempDir('waxseal-tamper-');
});
after(async () => {
  await couch.stop();
  await dir.cleanup();
});

type Doc = Record<string, unknown> & { _id: string; _rev: string };
const json = { 'content-type': 'application/json' };

test('changed bytes, swapped ids, replayed revisions and deleted content are refused and reported; the rest keeps syncing', async () => {
  const root = newRootSecret();
  const keys = deriveKeys(root);
  const open = async (name: string) => {
    const store = await Store.open({ dir: join(dir.path, name), keys, device: name });
    const sync = new SyncController({ store, keys, server: { url: couch.url }, mergeRecord: (x) => x, backoffMinMs: 100, backoffMaxMs: 500 });
    return { store, sync };
  };
  const a = await open('a');
  const box = (await a.store.createMailbox('INBOX')).logical;
  const msgs = spamAssassin('easy-ham-1', 6);
  const ids = (await a.store.import(box, msgs.map((m) => ({ raw: m.raw })))).map((i) => i.entry);
  await a.sync.start();
  await until('A pushed', () => a.sync.status().state === 'in-sync');

  const db = (name: 'content' | 'state') => `${couch.url}/${remoteDbName(keys.id, name)}`;
  const get = async (name: 'content' | 'state', id: string, q = '') => (await (await fetch(`${db(name)}/${id}${q}`)).json()) as Doc;
  const put = (name: 'content' | 'state', doc: unknown, q = '') => fetch(`${db(name)}/${(doc as Doc)._id}${q}`, { method: 'PUT', headers: json, body: JSON.stringify(doc) });
  // The server keeps entry 0 as it was before \Seen, to serve it again later.
  const e0 = a.store.state.entryId(ids[0]!);
  const oldDoc = await get('state', e0);
  await a.store.setFlags([ids[0]!], { add: ['\\Seen'] });
  await until('A pushed the flag', async () => (await get('state', e0))._rev !== oldDoc._rev && a.sync.status().state === 'in-sync');

  // B pulls everything first; then the server starts lying.
  const b = await open('b');
  await b.sync.start();
  await until('B in sync', () => b.store.index.mailbox(box)?.entries.size === 6 && b.sync.status().state === 'in-sync');
  const seenBefore = liveFlags(b.store.index.entry(ids[0]!)!.meta);
  assert.deepEqual(seenBefore, ['\\Seen']);

  // 1. Replay: entry 0's state before \Seen, served as a new revision on top of the current one.
  await put('state', { ...oldDoc, _rev: (await get('state', e0))._rev });
  // 2. Changed bytes in entry 1's ciphertext.
  const e1 = await get('state', a.store.state.entryId(ids[1]!));
  const ct = Buffer.from(e1.ct as string, 'base64');
  ct[20]! ^= 0x40;
  await put('state', { ...e1, ct: ct.toString('base64') });
  // 3. Entry 3's ciphertext under entry 2's id.
  const [e2, e3] = [await get('state', a.store.state.entryId(ids[2]!)), await get('state', a.store.state.entryId(ids[3]!))];
  await put('state', { ...e3, _id: e2._id, _rev: e2._rev });
  // 4. A content document deleted, and another given a second revision with damaged bytes.
  const m4 = await get('content', a.store.content.messageDocId(a.store.index.entry(ids[4]!)!.meta.message));
  await fetch(`${db('content')}/${m4._id}?rev=${m4._rev}`, { method: 'DELETE' });
  const m5 = await get('content', a.store.content.messageDocId(a.store.index.entry(ids[5]!)!.meta.message));
  await put('content', { ...m5, iv: Buffer.alloc(12, 1).toString('base64') });

  await until('B reports five refusals', () => b.sync.status().refusedTotal >= 5);
  const refused = b.sync.status().refused;
  for (const id of [e1._id, e2._id, m4._id, m5._id]) assert.ok(refused.some((r) => r.id === id), `refused ${id}`);
  assert.ok(refused.some((r) => r.id === e0 && /older state/.test(r.reason)));
  assert.match(refused.find((r) => r.id === m4._id)!.reason, /never deleted/);

  // Nothing B had was undone or lost: \Seen stays, every message still reads byte-exact.
  assert.deepEqual(liveFlags(b.store.index.entry(ids[0]!)!.meta), ['\\Seen']);
  // And the replay is written over: the server's newest revision of entry 0 holds \Seen again.
  const sealer = new Sealer({ sealKey: keys.seal, idKey: keys.id });
  const serverFlags = async () => liveFlags(sealer.open<EntryMeta>((await get('state', e0)) as unknown as SealedDoc, 'entry').meta);
  await until('the replay is repaired on the server', async () => (await serverFlags()).includes('\\Seen'));
  assert.equal(b.store.index.mailbox(box)!.entries.size, 6);
  for (const [i, logical] of ids.entries()) assert.ok((await b.store.read(b.store.index.entry(logical)!)).equals(msgs[i]!.raw));

  // And genuine changes still come through.
  await a.store.setFlags([ids[3]!], { add: ['\\Flagged'] });
  await until('B sees the new flag', () => liveFlags(b.store.index.entry(ids[3]!)!.meta).includes('\\Flagged'));
  for (const d of [a, b]) {
    await d.sync.stop();
    await d.store.close();
  }
});
