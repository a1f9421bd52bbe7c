/**
 * The replication controller between two stores through the harness's CouchDB-protocol
 * server: what one device writes reaches the other's index (and so its IMAP), entries wait
 * for their message, and documents the server tampers with are refused and reported while
 * everything else keeps syncing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Store } from '../../../src/store/store.js';
import { deriveKeys, newRootSecret } from '../../../src/secrets/root.js';
import { SyncController } from '../../../src/sync/controller.js';
import { remoteDbName } from '../../../src/sync/names.js';
import { liveFlags } from '../../../src/store/kinds.js';
import { spamAssassin } from '../../harness/corpus.js';
import { startCouchDB, type CouchDB } from '../../harness/couchdb.js';
import { makeTempDir, type TempDir } from '../../harness/tmp.js';
import { until } from '../../harness/until.js';

let server: CouchDB;
let dir: TempDir;
before(async () => {
  server = await startCouchDB();
  dir = await makeTempDir('waxseal-sync-');
});
after(async () => {
  await server.stop();
  await dir.cleanup();
});

async function device(name: string, root: Buffer) {
  const keys = deriveKeys(root);
  const store = await Store.open({ dir: join(dir.path, name), keys, device: name });
  const sync = new SyncController({ store, keys, server: { url: server.url }, mergeRecord: (a) => a, backoffMinMs: 100, backoffMaxMs: 500 });
  return { store, sync, keys };
}

test('a message and a flag change made on one device reach the other, and tampered documents are refused', async () => {
  const root = newRootSecret();
  const a = await device('deva', root);
  const b = await device('devb', root);
  try {
    const box = (await a.store.createMailbox('INBOX')).logical;
    const msgs = spamAssassin('easy-ham-1', 5);
    const imported = await a.store.import(box, msgs.map((m) => ({ raw: m.raw })));
    await a.sync.start();
    await b.sync.start();
    const seen: number[] = [];
    b.store.index.on('change', (c) => seen.push(...c.added));
    await until('B sees 5 messages', () => b.store.index.mailbox(box)?.entries.size === 5);
    const entry = [...b.store.index.mailbox(box)!.entries.values()][0]!;
    assert.ok((await b.store.read(entry)).equals(await a.store.read(a.store.index.entry(entry.logical)!)));
    assert.equal(seen.length, 5);

    await a.store.setFlags([imported[1]!.entry], { add: ['\\Seen'] });
    await until('B sees the flag', () => liveFlags(b.store.index.entry(imported[1]!.entry)!.meta).includes('\\Seen'));

    // The server swaps the bodies of two state documents and damages a content document.
    const stateDb = `${server.url}/${remoteDbName(a.keys.id, 'state')}`;
    const all = (await (await fetch(`${stateDb}/_all_docs?include_docs=true`)).json()) as { rows: Array<{ doc: Record<string, unknown> }> };
    const [x, y] = all.rows.map((r) => r.doc);
    await fetch(`${stateDb}/${x!._id}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...y, _id: x!._id, _rev: x!._rev }) });
    await until('B refuses the swapped document', () => b.sync.status().refused.some((r) => r.id === x!._id));
    assert.equal(b.sync.status().refused.find((r) => r.id === x!._id)!.db, 'state');

    // The rest keeps syncing.
    await a.store.setFlags([imported[2]!.entry], { add: ['\\Flagged'] });
    await until('B sees the later flag', () => liveFlags(b.store.index.entry(imported[2]!.entry)!.meta).includes('\\Flagged'));
    assert.equal(b.store.index.mailbox(box)!.entries.size, 5);
  } finally {
    await a.sync.stop();
    await b.sync.stop();
    await a.store.close();
    await b.store.close();
  }
});

test("a key revoked on one device is revoked in the other's running keyring at once", async () => {
  const { Keyring } = await import('../../../src/mail/keyring.js');
  const { describeKey } = await import('../../../src/openpgp/keys.js');
  const keys = deriveKeys(newRootSecret());
  const merge = (x: unknown, y: unknown, kind: string) => (kind === 'ownkey' ? Keyring.mergeOwn(x as never, y as never) : Keyring.mergePeer(x as never, y as never));
  const open = async (name: string) => {
    const store = await Store.open({ dir: join(dir.path, `k-${name}`), keys, device: name });
    const keyring = new Keyring({ records: store.records });
    const sync = new SyncController({ store, keys, server: { url: server.url }, mergeRecord: merge, backoffMinMs: 100, backoffMaxMs: 500 });
    sync.on('records', () => keyring.reload());
    await sync.start();
    return { store, keyring, sync };
  };
  const a = await open('ka');
  const b = await open('kb');
  try {
    const made = await a.keyring.generate({ email: 'keys-sync@example.org' });
    await until('B has the key', async () => (await b.keyring.ownKeys()).length === 1);
    await a.keyring.revoke(made.fingerprint, 'retired');
    await until('B sees it revoked', async () => (await describeKey((await b.keyring.ownKeys())[0]!)).revoked);
  } finally {
    for (const d of [a, b]) {
      await d.sync.stop();
      await d.store.close();
    }
  }
});
