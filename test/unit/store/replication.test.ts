/**
 * Mutable documents are built for replication: two devices edit the same entries while
 * disconnected, reconnect through a CouchDB-protocol server, and converge to one state
 * decided by the deterministic merge (kinds.ts). The server sees only sealed documents.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Store } from '../../../src/store/store.js';
import { PouchDB } from '../../../src/store/pouch.js';
import { deriveKeys, newRootSecret } from '../../../src/secrets/root.js';
import { liveFlags } from '../../../src/store/kinds.js';
import { sleep } from '../../../src/util/time.js';
import { spamAssassin } from '../../harness/corpus.js';
import { startCouchDB, dumpAll, type CouchDB } from '../../harness/couchdb.js';
import { makeTempDir, type TempDir } from '../../harness/tmp.js';

let server: CouchDB;
let dir: TempDir;
before(async () => {
  server = await startCouchDB();
  dir = await makeTempDir('waxseal-repl-');
});
after(async () => {
  await server.stop();
  await dir.cleanup();
});

/** One-shot replication of both sealed databases, both ways, then let the index catch up. */
async function sync(store: Store): Promise<void> {
  const dbs = store.replicated();
  for (const [name, db] of Object.entries(dbs)) {
    const remote = `${server.url}/waxseal-${name}`;
    await PouchDB.replicate(db, remote);
    await PouchDB.replicate(remote, db);
  }
  await store.index.catchUp();
}

function view(store: Store, box: string) {
  return [...store.index.mailbox(box)!.entries.values()]
    .map((e) => `${e.logical}:${liveFlags(e.meta).sort().join(',')}`)
    .sort();
}

test('concurrent flag edits and expunges converge on both devices by the deterministic merge', async () => {
  const root = newRootSecret();
  const a = await Store.open({ dir: join(dir.path, 'a'), keys: deriveKeys(root), device: 'deva' });
  const b = await Store.open({ dir: join(dir.path, 'b'), keys: deriveKeys(root), device: 'devb' });
  try {
    const box = (await a.createMailbox('INBOX')).logical;
    const msgs = spamAssassin('easy-ham-1', 4);
    const ids = (await a.import(box, msgs.map((m) => ({ raw: m.raw })))).map((i) => i.entry);
    await sync(a);
    await sync(b);
    assert.equal(b.index.mailbox(box)?.entries.size, 4, 'B sees the 4 messages after the first sync');

    // Disconnected edits. Later stamps win per flag; expunge is a register like the flags.
    await a.setFlags([ids[0]!], { add: ['\\Seen'] });
    await b.setFlags([ids[0]!], { add: ['\\Flagged'] });
    await a.setFlags([ids[1]!], { add: ['$Later'] });
    await sleep(5);
    await b.setFlags([ids[1]!], { add: ['$Later'] });
    await b.setFlags([ids[1]!], { remove: ['$Later'] });
    await a.expunge([ids[2]!]);
    await b.setFlags([ids[2]!], { add: ['\\Answered'] });
    await b.setFlags([ids[3]!], { add: ['\\Draft'] });
    await sleep(5);
    await a.setFlags([ids[3]!], { set: [] });

    // Reconnect: two rounds carry each side's merge to the other.
    for (let round = 0; round < 2; round++) {
      await sync(a);
      await sync(b);
    }
    await sync(a);

    const expected = [
      `${ids[0]}:\\Flagged,\\Seen`,
      `${ids[1]}:`,
      `${ids[3]}:\\Draft`,
    ].sort();
    assert.deepEqual(view(a, box), expected);
    assert.deepEqual(view(b, box), expected);

    // No conflict is left behind on either side or on the server.
    for (const store of [a, b]) {
      const res = await store.replicated().state.allDocs({ include_docs: true, conflicts: true });
      assert.equal(res.rows.filter((r) => (r.doc?._conflicts?.length ?? 0) > 0).length, 0);
    }
    // The message content is never lost by a merge: the expunged message's document is still there.
    assert.ok((await b.content.has([(await a.import(box, [{ raw: msgs[2]!.raw }]))[0]!.message])).size === 1);

    // The server holds sealed documents only.
    const dump = await dumpAll(server.url);
    assert.ok(dump.length > 1000);
    for (const needle of ['INBOX', '\\Seen', '$Later', 'Subject:', msgs[0]!.raw.toString('latin1').match(/^From: .*$/m)![0]]) {
      assert.equal(dump.includes(needle), false, `server dump contains ${needle}`);
    }
  } finally {
    await a.close();
    await b.close();
  }
});

test('entries that arrive before their message wait for it, across a restart of the device', async () => {
  const root = newRootSecret();
  const a = await Store.open({ dir: join(dir.path, 'wa'), keys: deriveKeys(root), device: 'wa' });
  const bDir = join(dir.path, 'wb');
  let b = await Store.open({ dir: bDir, keys: deriveKeys(root), device: 'wb' });
  try {
    const box = (await a.createMailbox('Later')).logical;
    const msgs = spamAssassin('easy-ham-2', 3);
    const ids = (await a.import(box, msgs.map((m) => ({ raw: m.raw })))).map((i) => i.entry);
    await a.renameMailbox(box, 'Renamed'); // the mailbox document now comes after its entries
    const remote = (name: string) => `${server.url}/waiting-${name}`;
    for (const name of ['content', 'state'] as const) await PouchDB.replicate(a.replicated()[name], remote(name));
    // B gets the state only: the entries must not be shown without their messages.
    await PouchDB.replicate(remote('state'), b.replicated().state);
    await b.index.catchUp();
    assert.equal(b.index.mailbox(box)?.meta.name[0], 'Renamed');
    assert.equal(b.index.mailbox(box)?.entries.size, 0);
    assert.equal(b.index.waitingForContent, 3);
    await b.close();
    b = await Store.open({ dir: bDir, keys: deriveKeys(root), device: 'wb' });
    assert.equal(b.index.waitingForContent, 3, 'still waiting after a restart');
    await PouchDB.replicate(remote('content'), b.replicated().content);
    await b.index.contentArrived();
    assert.deepEqual([...b.index.mailbox(box)!.entries.values()].map((e) => e.logical).sort(), [...ids].sort());
    for (const e of b.index.mailbox(box)!.entries.values()) assert.ok((await b.read(e)).equals(await a.read(a.index.entry(e.logical)!)));
  } finally {
    await a.close();
    await b.close();
  }
});
