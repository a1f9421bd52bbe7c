/**
 * A CouchDB-protocol server for sync tests: express-pouchdb over PouchDB/LevelDB in a temp dir,
 * on an ephemeral loopback port.
 *
 * It runs in a child node process, not in the test process. PouchDB keeps one global event
 * emitter per module instance, and pouchdb-all-dbs registers every database any PouchDB in
 * the process creates: in-process, the test's own local databases (and those of a second
 * server) showed up in this server's /_all_dbs. A child also makes stop() final: every socket,
 * including long-poll and continuous _changes feeds, dies with it.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { withDefaults } from '../../src/util/options.js';
import { makeTempDir } from './tmp.js';

export interface CouchDBOptions {
  /**
   * Serve this existing dir instead of a fresh temp dir, e.g. to restart a server on the data
   * a stopped one left. The caller owns it: stop() leaves it in place.
   */
  dataDir?: string;
  /** Listen on this port (a restart at the same URL); 0 picks a free one. */
  port?: number;
}

export interface CouchDB {
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** Close every connection at once, close the databases, and remove a harness-made dataDir. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

// CommonJS for `node -e`. argv: [node, requireBase, dataDir, port, removeOnOrphan].
const SERVER = String.raw`
'use strict';
const [, base, dataDir, port, removeOnOrphan] = process.argv;
const req = require('node:module').createRequire(base);
const http = require('node:http');
const fs = require('node:fs');
const PouchDB = req('pouchdb').defaults({ prefix: dataDir + '/' });
// minimumForPouchDB leaves out config and log files (which would land in the cwd) and the
// admin/auth machinery; inMemoryConfig/logPath are belt and braces in case a part asks.
const app = req('express-pouchdb')(PouchDB, {
  mode: 'minimumForPouchDB',
  inMemoryConfig: true,
  logPath: dataDir + '/express-pouchdb.log',
});
const server = http.createServer(app);
server.on('error', (err) => {
  process.send({ error: err.message, code: err.code }, () => process.exit(1));
});
server.listen(Number(port), '127.0.0.1', () => process.send({ port: server.address().port }));
let stopping;
function stop(orphaned) {
  stopping = stopping || (async () => {
    server.close();
    server.closeAllConnections();
    const cached = PouchDB.__dbCacheMap; // express-pouchdb's open databases
    const dbs = cached ? Array.from(cached.values()) : [];
    await Promise.race([
      Promise.all(dbs.map((db) => db.close().catch(() => {}))),
      new Promise((resolve) => setTimeout(resolve, 2000)),
    ]);
    if (orphaned && removeOnOrphan === '1') fs.rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  })();
}
process.on('message', (m) => { if (m === 'stop') stop(false); });
// The test process died without stop(): do not outlive it.
process.on('disconnect', () => stop(true));
`;

export async function startCouchDB(options: CouchDBOptions = {}): Promise<CouchDB> {
  const opts = withDefaults('startCouchDB', { dataDir: '', port: 0 }, options);
  const tmp = opts.dataDir ? undefined : await makeTempDir('waxseal-couchdb-');
  const dataDir = opts.dataDir || (tmp?.path as string);
  // Resolve pouchdb and express-pouchdb from this file, i.e. the repo's node_modules.
  const base = fileURLToPath(import.meta.url);
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // no tsx loader needed in the child
  delete env.NODE_TEST_CONTEXT; // the child is a server, not a test file
  const child = spawn(process.execPath, ['-e', SERVER, base, dataDir, String(opts.port), tmp ? '1' : '0'], {
    cwd: dataDir, // anything express-pouchdb might write relative to the cwd stays in the sandbox
    env,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      output = (output + chunk).slice(-8_000);
    });
  }
  const exited = once(child, 'exit');

  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no port reported in time')), START_TIMEOUT_MS);
      child.on('message', (m: { port?: number; error?: string }) => {
        clearTimeout(timer);
        if (typeof m.port === 'number') resolve(m.port);
        else reject(new Error(`listen failed: ${m.error}`));
      });
      child.on('error', reject);
      void exited.then(([code, signal]) => reject(new Error(`exited with ${code ?? signal} before listening`)));
    });
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    await tmp?.cleanup();
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`startCouchDB failed: ${reason}\n--- server output ---\n${output.trim() || '(empty)'}`, { cause: err });
  }
  // Let a test process with a forgotten stop() still exit; the child follows it via 'disconnect'.
  child.unref();
  child.channel?.unref();
  for (const stream of [child.stdout, child.stderr]) (stream as unknown as { unref?: () => void } | null)?.unref?.();

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.send('stop', () => {});
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }
      await tmp?.cleanup();
    })());
  return { url: `http://127.0.0.1:${port}`, port, dataDir, stop };
}

interface BulkGetResult {
  results: { id: string; docs: ({ ok: Record<string, unknown> } | { error: string })[] }[];
}

/**
 * Everything the server holds, as text to grep for plaintext: for every database, every leaf
 * revision of every document (deleted and conflicting ones too) as one JSON line, followed by
 * each inline attachment decoded as UTF-8 (it is base64 in the JSON, where a grep would miss
 * it). `_local` documents are not included: the CouchDB API cannot list them.
 */
export async function dumpAll(url: string): Promise<string> {
  const base = url.replace(/\/+$/, '');
  const dbs = await getJson<string[]>(`${base}/_all_dbs`);
  const out: string[] = [];
  for (const db of [...dbs].sort()) {
    const dbUrl = `${base}/${encodeURIComponent(db)}`;
    out.push(`=== database ${db} ===`);
    // style=all_docs lists every leaf revision, including deleted documents and conflicts,
    // which _all_docs would hide.
    const changes = await getJson<{ results: { id: string; changes: { rev: string }[] }[] }>(
      `${dbUrl}/_changes?style=all_docs`,
    );
    const wanted = changes.results.flatMap((c) => c.changes.map((ch) => ({ id: c.id, rev: ch.rev })));
    if (wanted.length === 0) continue;
    const bulk = await getJson<BulkGetResult>(`${dbUrl}/_bulk_get?revs=true&attachments=true`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ docs: wanted }),
    });
    const docs = bulk.results.flatMap((r) => r.docs.flatMap((d) => ('ok' in d ? [d.ok] : [])));
    docs.sort((a, b) => `${a._id} ${a._rev}`.localeCompare(`${b._id} ${b._rev}`));
    for (const doc of docs) {
      out.push(JSON.stringify(doc));
      const attachments = (doc._attachments ?? {}) as Record<string, { data?: string }>;
      for (const [name, att] of Object.entries(attachments)) {
        if (typeof att.data !== 'string') continue;
        out.push(`--- attachment ${String(doc._id)} ${String(doc._rev)} ${name} ---`);
        out.push(Buffer.from(att.data, 'base64').toString('utf8'));
      }
    }
  }
  return out.join('\n') + '\n';
}

async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url, { ...init, headers: { accept: 'application/json', ...init?.headers } });
  if (!res.ok) throw new Error(`dumpAll: ${init?.method ?? 'GET'} ${url} -> ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}
