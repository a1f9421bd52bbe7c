/**
 * The CouchDB harness against a real client: PouchDB replication both ways, the dump that
 * security tests grep, isolation between servers, and a stop() that really ends everything.
 */
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dumpAll, startCouchDB } from './couchdb.js';
import type { CouchDB } from './couchdb.js';
import { makeTempDir } from './tmp.js';
import type { TempDir } from './tmp.js';

// The narrow part of PouchDB these tests use (@types/pouchdb breaks Node's typings, see
// src/store/pouch.ts).
interface Doc {
  _id: string;
  _rev?: string;
  _deleted?: boolean;
  [field: string]: unknown;
}
interface Db {
  put(doc: Doc): Promise<{ rev: string }>;
  get(id: string, opts?: { conflicts?: boolean }): Promise<Doc & { _conflicts?: string[] }>;
  bulkDocs(docs: Doc[], opts?: { new_edits?: boolean }): Promise<unknown>;
  allDocs(opts: { include_docs: true }): Promise<{ rows: { id: string; doc?: Doc }[] }>;
  close(): Promise<void>;
}
type Replicate = (source: Db | string, target: Db | string) => Promise<{ ok: boolean; docs_written: number }>;
const PouchDB = createRequire(import.meta.url)('pouchdb') as (new (name: string) => Db) & { replicate: Replicate };

describe('couchdb harness', () => {
  let server: CouchDB;
  let local: TempDir; // the client side's LevelDB databases
  const open: Db[] = [];
  const db = (name: string) => {
    const handle = new PouchDB(name.startsWith('http') ? name : join(local.path, name));
    open.push(handle);
    return handle;
  };
  before(async () => {
    local = await makeTempDir('waxseal-couchdb-test-');
    server = await startCouchDB();
  });
  after(async () => {
    await Promise.all(open.map((h) => h.close().catch(() => {})));
    await server?.stop();
    await local?.cleanup();
  });

  it('replicates a local database to the server and back into another', async () => {
    const source = db('source');
    await source.put({ _id: 'doc-1', text: 'first' });
    await source.put({ _id: 'doc-2', text: 'second' });
    const pushed = await PouchDB.replicate(source, `${server.url}/sync`);
    assert.equal(pushed.docs_written, 2);
    const copy = db('copy');
    const pulled = await PouchDB.replicate(`${server.url}/sync`, copy);
    assert.equal(pulled.docs_written, 2);
    const rows = (await copy.allDocs({ include_docs: true })).rows;
    assert.deepEqual(rows.map((r) => [r.id, r.doc?.text]), [['doc-1', 'first'], ['doc-2', 'second']]);
  });

  it('lists only its own databases, not the ones the test process opens locally', async () => {
    // In-process, pouchdb-all-dbs would have listed 'source' and 'copy' here too.
    const names = (await (await fetch(`${server.url}/_all_dbs`)).json()) as string[];
    assert.deepEqual(names, ['sync']);
  });

  it('dumps every leaf revision: deleted, conflicting, and attachments decoded', async () => {
    const source = db('dump-source');
    await source.put({
      _id: 'with-attachment',
      _attachments: { 'note.txt': { content_type: 'text/plain', data: Buffer.from('attached plaintext').toString('base64') } },
    });
    const { rev } = await source.put({ _id: 'gone', secret: 'deleted plaintext' });
    await source.put({ _id: 'gone', _rev: rev, _deleted: true, secret: 'deleted plaintext' });
    // Two revisions written as if they came from two devices: a conflict.
    await source.bulkDocs(
      [
        { _id: 'split', _rev: '1-aaaa', side: 'left plaintext' },
        { _id: 'split', _rev: '1-bbbb', side: 'right plaintext' },
      ],
      { new_edits: false },
    );
    await PouchDB.replicate(source, `${server.url}/dumped`);
    const dump = await dumpAll(server.url);
    assert.match(dump, /=== database dumped ===/);
    assert.match(dump, /=== database sync ===/);
    for (const text of ['attached plaintext', 'deleted plaintext', 'left plaintext', 'right plaintext', 'second']) {
      assert.ok(dump.includes(text), `dump lacks ${text}`);
    }
  });

  it('runs two servers side by side without sharing databases', async (t) => {
    const other = await startCouchDB();
    t.after(() => other.stop());
    assert.notEqual(other.url, server.url);
    assert.notEqual(other.dataDir, server.dataDir);
    const res = await fetch(`${other.url}/only-here`, { method: 'PUT' });
    assert.equal(res.status, 201);
    assert.deepEqual(await (await fetch(`${other.url}/_all_dbs`)).json(), ['only-here']);
    assert.ok(!((await (await fetch(`${server.url}/_all_dbs`)).json()) as string[]).includes('only-here'));
  });

  it('rejects unknown options', async () => {
    await assert.rejects(startCouchDB({ prot: 1 } as never), /unknown option "prot"/);
  });
});

describe('couchdb harness: stop and restart', () => {
  it('stop() ends live _changes feeds at once, frees the port and removes its data', async () => {
    const server = await startCouchDB();
    assert.equal((await fetch(`${server.url}/feeds`, { method: 'PUT' })).status, 201);
    // A short heartbeat makes the server send headers at once, so both feeds are surely open.
    const responses = await Promise.all(
      ['continuous', 'longpoll'].map((feed) => fetch(`${server.url}/feeds/_changes?feed=${feed}&since=now&heartbeat=50`)),
    );
    const feeds = responses.map(async (res) => {
      assert.equal(res.status, 200);
      const reader = res.body?.getReader();
      assert.ok(reader);
      try {
        while (!(await reader.read()).done);
      } catch {
        // a reset connection is as good as a closed one
      }
      return Date.now();
    });
    const stopping = Date.now();
    await server.stop();
    for (const ended of await Promise.all(feeds)) assert.ok(ended - stopping < 1_000, `feed ended ${ended - stopping} ms after stop()`);
    await assert.rejects(fetch(`${server.url}/`), (err: Error & { cause?: { code?: string } }) => err.cause?.code === 'ECONNREFUSED');
    await assert.rejects(stat(server.dataDir), { code: 'ENOENT' });
    await server.stop(); // twice is harmless
  });

  it('restarts on a caller-owned data dir with the data intact, and leaves the dir', async (t) => {
    const dir = await makeTempDir('waxseal-couchdb-test-');
    t.after(() => dir.cleanup());
    const first = await startCouchDB({ dataDir: dir.path });
    await fetch(`${first.url}/kept`, { method: 'PUT' });
    const put = await fetch(`${first.url}/kept/doc`, { method: 'PUT', body: JSON.stringify({ v: 'survives' }), headers: { 'content-type': 'application/json' } });
    assert.equal(put.status, 201);
    await first.stop();
    await stat(dir.path); // still there
    const second = await startCouchDB({ dataDir: dir.path, port: first.port });
    t.after(() => second.stop());
    assert.equal(second.url, first.url);
    const doc = (await (await fetch(`${second.url}/kept/doc`)).json()) as { v?: string };
    assert.equal(doc.v, 'survives');
  });
});
