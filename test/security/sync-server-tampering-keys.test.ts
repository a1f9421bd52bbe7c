/**
 * A sync server that serves an older revision of a key record (the user's own key before a
 * revocation, a correspondent's record before a key change) as the newest one. The device
 * that pulls it refuses and reports it and keeps what it had; later genuine changes to the
 * same record still arrive.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Store } from '../../src/store/store.js';
import { deriveKeys, newRootSecret } from '../../src/secrets/root.js';
import { SyncController } from '../../src/sync/controller.js';
import { remoteDbName } from '../../src/sync/names.js';
import { startCouchDB, type CouchDB } from '../harness/couchdb.js';
import { makeTempDir, type TempDir } from '../harness/tmp.js';
import { until } from '../harness/until.js';

let couch: CouchDB;
let dir: TempDir;
before(async () => {
  couch = await startCouchDB();
  dir = await makeTempDir('waxseal-tamper-keys-');
});
after(async () => {
  await couch.stop();
  await dir.cleanup();
});

type Doc = Record<string, unknown> & { _id: string; _rev: string };
interface Peer {
  address: string;
  key: string;
}
const json = { 'content-type': 'application/json' };

test('an older key record replayed as the newest is refused and reported; later changes still arrive', async () => {
  const keys = deriveKeys(newRootSecret());
  const open = async (name: string) => {
    const store = await Store.open({ dir: join(dir.path, name), keys, device: name });
    const sync = new SyncController({ store, keys, server: { url: couch.url }, mergeRecord: (x) => x, backoffMinMs: 100, backoffMaxMs: 500 });
    return { store, sync };
  };
  const address = 'bob@example.org';
  const setKey = (store: Store, key: string) => store.records.update<Peer>('peer', address, () => ({ address, key }));
  const peerKey = async (store: Store) => (await store.records.get<Peer>('peer', address))?.value.key;

  const a = await open('a');
  await setKey(a.store, 'old key');
  await a.sync.start();
  await until('A pushed', () => a.sync.status().state === 'in-sync');
  const db = `${couch.url}/${remoteDbName(keys.id, 'keys')}`;
  const docs = async () => ((await (await fetch(`${db}/_all_docs?include_docs=true`)).json()) as { rows: Array<{ doc: Doc }> }).rows.map((r) => r.doc);
  // Ids are keyed: the one record on the server is the one just written.
  const [oldDoc] = await docs();
  assert.ok(oldDoc, 'the record is on the server');
  const get = async () => (await (await fetch(`${db}/${oldDoc._id}`)).json()) as Doc;

  await setKey(a.store, 'new key');
  await until('A pushed the new key', async () => (await get())._rev !== oldDoc._rev && a.sync.status().state === 'in-sync');

  const b = await open('b');
  await b.sync.start();
  await until('B has the new key', async () => (await peerKey(b.store)) === 'new key' && b.sync.status().state === 'in-sync');

  // The server serves the old record again, as a new revision on top of the current one.
  const replayed = await (await fetch(`${db}/${oldDoc._id}`, { method: 'PUT', headers: json, body: JSON.stringify({ ...oldDoc, _rev: (await get())._rev }) })).json();
  assert.equal((replayed as { ok?: boolean }).ok, true);

  await until('B reports the replay', () => b.sync.status().refused.some((r) => r.db === 'keys' && r.id === oldDoc._id));
  assert.match(b.sync.status().refused.find((r) => r.id === oldDoc._id)!.reason, /older revision/);
  assert.equal(await peerKey(b.store), 'new key', 'B keeps the key it had');

  // A genuine change made after the replay still reaches B.
  await setKey(a.store, 'newest key');
  await until('B has the newest key', async () => (await peerKey(b.store)) === 'newest key');
  for (const d of [a, b]) {
    await d.sync.stop();
    await d.store.close();
  }
});
