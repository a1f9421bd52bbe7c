/**
 * Sync benchmark: replicate an N-message mailbox (default 10,000) from device A to a
 * CouchDB-protocol server, then from the server to a fresh device B holding the same root
 * secret (what pairing gives it), through Waxseal's replication controller: sealed documents,
 * the door that opens every pulled document, the UID index following on B. Then every
 * message flagged on A with both devices syncing, until B shows it, against the same change as a
 * revision of every plain state document (what a per-entry design replicates).
 *
 * Reference, in the same run and against the same server: PouchDB replicating the same
 * number of plain JSON documents of the same sizes (each sealed document's ciphertext length
 * as a plain string) in three databases like Waxseal's, the same way the controller does:
 * continuous, both ways at once, the same batch settings, until every replication is idle.
 * What remains between the two is the price of sealing: opening every pulled document at
 * the door, and the index following the sealed state on B.
 *
 * The server (express-pouchdb) gzips its responses unless asked not to. Waxseal asks not to
 * (sync/remote.ts: base64 ciphertext only shrinks to ~75%, for a deflate and an inflate of
 * every byte), and so does the reference here: its bodies (one letter repeated) would
 * otherwise shrink to almost nothing, and the two sides would not move the same bytes.
 *
 * The corpus has fewer than 10,000 distinct messages, so messages are reused with an
 * `X-Bench-Copy` header added: every one is distinct, as in a real mailbox.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deriveKeys, newRootSecret } from '../src/secrets/root.js';
import { PouchDB, openPouch, type PouchDb, type PouchDocument } from '../src/store/pouch.js';
import { Store } from '../src/store/store.js';
import { SyncController } from '../src/sync/controller.js';
import { startCouchDB } from '../test/harness/couchdb.js';
import { corpus } from './store.js';

const BATCH = 200;
const BATCHES = 4;

async function until(fn: () => boolean, ms = 900_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error('benchmark did not finish in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Plain two-way continuous replication of `dbs` with `remotes`, as the controller runs it,
 * until every replication has gone idle with `expect` documents on the local side.
 */
async function plainSync(dbs: PouchDb[], urls: string[], expect: number): Promise<number> {
  // Asked for uncompressed responses, as Waxseal's replication asks (sync/remote.ts), so the
  // two sides move the same bytes the same way.
  const remotes = urls.map((url) => new PouchDB(url, { headers: { 'Accept-Encoding': 'identity' } }));
  const t = performance.now();
  const idle = new Array<boolean>(dbs.length * 2).fill(false);
  const opts = { live: true, retry: true, batch_size: BATCH, batches_limit: BATCHES, heartbeat: 10_000 };
  const handles = dbs.flatMap((db, i) => [PouchDB.replicate(db, remotes[i]!, opts), PouchDB.replicate(remotes[i]!, db, opts)]);
  handles.forEach((h, i) => {
    h.on('paused', (err) => (idle[i] = !err));
    h.on('active', () => (idle[i] = false));
  });
  let count = 0;
  for (;;) {
    count = (await Promise.all(dbs.map((d) => d.info()))).reduce((n, i) => n + i.doc_count, 0);
    if (count >= expect && idle.every(Boolean)) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const ms = performance.now() - t;
  for (const h of handles) h.cancel();
  return ms;
}

async function allDocs(db: PouchDb): Promise<PouchDocument[]> {
  const res = await db.allDocs({ include_docs: true });
  return res.rows.filter((r) => r.doc && !r.id.startsWith('_design/')).map((r) => r.doc!);
}

export async function main(args: string[]): Promise<void> {
  const n = Number(args.find((a) => a.startsWith('--messages='))?.split('=')[1] ?? 10_000);
  const dir = mkdtempSync(join(tmpdir(), 'waxseal-bench-sync-'));
  const couch = await startCouchDB();
  try {
    const base = corpus(Math.min(n, 5000));
    const messages = Array.from({ length: n }, (_, i) => {
      const m = base[i % base.length]!.raw;
      return i < base.length ? m : Buffer.concat([Buffer.from(`X-Bench-Copy: ${i}\r\n`), m]);
    });
    const root = newRootSecret();
    const keys = deriveKeys(root);
    const a = await Store.open({ dir: join(dir, 'a'), keys, device: 'bencha' });
    const inbox = (await a.createMailbox('INBOX')).logical;
    for (let i = 0; i < n; i += 500) {
      await a.import(inbox, messages.slice(i, i + 500).map((raw, j) => ({ raw, flags: (i + j) % 3 ? ['\\Seen'] : [] })));
    }
    const dbs = a.replicated();
    const sealedDocs = [...(await allDocs(dbs.content)), ...(await allDocs(dbs.state)), ...(await allDocs(dbs.keys))];
    const bytes = sealedDocs.reduce((s, d) => s + String(d.ct).length, 0);
    console.log(`sync: ${n} messages = ${sealedDocs.length} sealed documents, ${(bytes / 1e6).toFixed(1)} MB of ciphertext (base64)`);

    // Reference: the same number of plain documents of the same sizes, in the same three roles.
    const roles = ['content', 'state', 'keys'] as const;
    const plain = (side: string) => roles.map((r) => openPouch(join(dir, `plain-${side}-${r}`), { revsLimit: 1, autoCompaction: false }));
    const plainA = plain('a');
    for (const [k, r] of roles.entries()) {
      const docs = await allDocs(dbs[r]);
      for (let i = 0; i < docs.length; i += 500) {
        await plainA[k]!.bulkDocs(docs.slice(i, i + 500).map((d, j) => ({ _id: `plain-${r}-${String(i + j).padStart(8, '0')}`, body: 'x'.repeat(String(d.ct).length) })));
      }
    }
    const remotes = roles.map((r) => `${couch.url}/plain-${r}`);
    const refPush = await plainSync(plainA, remotes, sealedDocs.length);
    const plainB = plain('b');
    const refPull = await plainSync(plainB, remotes, sealedDocs.length);
    const plainCount = (await Promise.all(plainB.map((d) => d.info()))).reduce((n, i) => n + i.doc_count, 0);
    // The same change as one revision of every entry (how entries changed before marks, and
    // how a per-entry design replicates it): every plain state document updated once on A,
    // same size, pushed and pulled.
    const stateA = plainA[1]!;
    const stateB = plainB[1]!;
    let t = performance.now();
    const stateDocs = await allDocs(stateA);
    for (let i = 0; i < stateDocs.length; i += 500) await stateA.bulkDocs(stateDocs.slice(i, i + 500).map((d) => ({ ...d, body: `${String(d.body).slice(1)}y` })));
    await PouchDB.replicate(stateA, remotes[1]!, { batch_size: BATCH, batches_limit: BATCHES });
    await PouchDB.replicate(remotes[1]!, stateB, { batch_size: BATCH, batches_limit: BATCHES });
    const refMarkAll = performance.now() - t;
    for (const d of [...plainA, ...plainB]) await d.close();

    // Waxseal: A pushes through its controller, B (fresh, same root) pulls through its own.
    const syncA = new SyncController({ store: a, keys, server: { url: couch.url }, mergeRecord: (x) => x, batchSize: BATCH });
    t = performance.now();
    await syncA.start();
    await until(() => syncA.status().state === 'in-sync');
    const push = performance.now() - t;
    await syncA.stop();
    await a.close();
    const b = await Store.open({ dir: join(dir, 'b'), keys, device: 'benchb' });
    const syncB = new SyncController({ store: b, keys, server: { url: couch.url }, mergeRecord: (x) => x, batchSize: BATCH });
    t = performance.now();
    await syncB.start();
    await until(() => b.mailboxByName('INBOX')?.entries.size === n && syncB.status().state === 'in-sync');
    const pull = performance.now() - t;
    await syncB.stop();
    const sample = [...b.mailboxByName('INBOX')!.entries.values()].slice(0, 50);
    const verified = (await Promise.all(sample.map((e) => b.read(e)))).every((raw) => messages.some((m) => m.equals(raw)));

    // Every message flagged on A, both devices syncing: from the STORE until B shows all of them
    // flagged. Written as marks (store/marks.ts): a handful of documents, not one per entry.
    const a2 = await Store.open({ dir: join(dir, 'a'), keys, device: 'bencha' });
    const live = [a2, b].map((store) => new SyncController({ store, keys, server: { url: couch.url }, mergeRecord: (x) => x, batchSize: BATCH }));
    for (const c of live) await c.start();
    await until(() => live.every((c) => c.status().state === 'in-sync'));
    const flagged = () => [...b.mailboxByName('INBOX')!.entries.values()].every((e) => e.meta.flags['\\Flagged']?.[0] === true);
    t = performance.now();
    await a2.setFlags([...a2.mailboxByName('INBOX')!.entries.values()].map((e) => e.logical), { add: ['\\Flagged'] });
    await until(flagged);
    const markAll = performance.now() - t;
    for (const c of live) await c.stop();
    await a2.close();
    await b.close();

    const docs = sealedDocs.length;
    const row = (what: string, ms: number, ref: number) =>
      `  ${what.padEnd(22)} sealed ${(ms / 1000).toFixed(2).padStart(6)} s ${String(Math.round(docs / (ms / 1000))).padStart(6)} docs/s   unsealed ${(ref / 1000).toFixed(2).padStart(6)} s ${String(Math.round(docs / (ref / 1000))).padStart(6)} docs/s   ${(ms / ref).toFixed(2)}x`;
    console.log(row('A → server (push)', push, refPush));
    console.log(row('server → B (pull)', pull, refPull));
    console.log(row('total', push + pull, refPush + refPull));
    console.log(`  B shows ${n} messages; 50 sampled byte-exact: ${verified}; reference docs pulled: ${plainCount}`);
    console.log(
      `  flag all ${n} on A (STORE 1:* +FLAGS \\Flagged) until B shows it: ${(markAll / 1000).toFixed(2)} s as marks   ${(refMarkAll / 1000).toFixed(2)} s as a revision of every plain state document   ${(markAll / refMarkAll).toFixed(2)}x`,
    );
  } finally {
    await couch.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
