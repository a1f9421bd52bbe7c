/**
 * Two devices of one user in one run, each a real daemon with its own store, IMAP server and
 * passphrase, syncing through the harness's CouchDB-protocol server: a 1,000-message mailbox
 * arrives byte-exact on a paired device (through a server restart in the middle), edits
 * reach an idling IMAP client on the other device, and edits made while apart converge by
 * the documented merge without losing a message. Then the server's dump is searched for
 * anything it must not know.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { Daemon } from '../../src/daemon/daemon.js';
import { joinProfile } from '../../src/daemon/join.js';
import { initProfile, type SecretAccess } from '../../src/daemon/profile.js';
import { createOsKeychain } from '../../src/secrets/keychain.js';
import { Store } from '../../src/store/store.js';
import { leaves, parseMime } from '../../src/mime/tree.js';
import { spamAssassin } from '../harness/corpus.js';
import { dumpAll, startCouchDB, type CouchDB } from '../harness/couchdb.js';
import { makeTempDir, type TempDir } from '../harness/tmp.js';
import { until as waitUntil } from '../harness/until.js';

const N = 1000;
let tmp: TempDir;
let couchDir: TempDir;
let couch: CouchDB;
const daemons: Daemon[] = [];
const clients: ImapFlow[] = [];
const access = (pass: string): SecretAccess => ({ keychain: createOsKeychain({ env: { DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent' } }), passphrase: { given: pass }, scrypt: { N: 2 ** 12, r: 8, p: 1 } });
const corpus = spamAssassin('easy-ham-1', N + 1);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex').slice(0, 16);
const flagsFor = (i: number) => [...(i % 3 === 0 ? ['\\Seen'] : []), ...(i % 7 === 0 ? ['\\Flagged'] : []), ...(i % 11 === 0 ? ['$Later'] : [])];

before(async () => {
  tmp = await makeTempDir('waxseal-sync-devices-');
  couchDir = await makeTempDir('waxseal-sync-couch-');
  couch = await startCouchDB({ dataDir: couchDir.path });
});
after(async () => {
  await Promise.all(clients.map((c) => c.logout().catch(() => c.close())));
  for (const d of daemons) await d.stop().catch(() => undefined);
  await couch?.stop();
  await couchDir?.cleanup();
  await tmp?.cleanup();
});

/** Two daemons over a real server take their time: a longer wait, a closer look. */
const until = <T,>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, ms = 120_000) => waitUntil(what, fn, ms, 25);

async function client(d: Daemon): Promise<ImapFlow> {
  const c = d.credentials();
  const flow = new ImapFlow({ host: '127.0.0.1', port: c.imap.port, secure: false, auth: { user: c.user, pass: c.password }, logger: false, doSTARTTLS: false } as never);
  await flow.connect();
  clients.push(flow);
  return flow;
}

/** Every mailbox's messages as sorted "digest flags" lines: what a mail client sees. */
async function view(c: ImapFlow): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const box of (await c.list()).map((b) => b.path).sort()) {
    const lock = await c.getMailboxLock(box);
    try {
      const rows: string[] = [];
      if ((c.mailbox as { exists: number }).exists > 0) {
        for await (const m of c.fetch('1:*', { source: true, flags: true })) rows.push(`${sha(m.source!)} ${[...(m.flags ?? [])].sort().join(',')}`);
      }
      out[box] = rows.sort();
    } finally {
      lock.release();
    }
  }
  return out;
}

/** The UID of corpus message `i` in the open mailbox of `c` (UIDs differ between devices). */
async function uidOf(c: ImapFlow, i: number): Promise<string> {
  const mid = /^Message-Id:\s*(<[^>]+>)/im.exec(corpus[i]!.raw.toString('latin1'))![1];
  for await (const m of c.fetch('1:*', { envelope: true, uid: true })) if (m.envelope?.messageId === mid) return String(m.uid);
  throw new Error(`message ${i} not found`);
}

const start = (unlocked: Awaited<ReturnType<typeof initProfile>>) =>
  Daemon.start({
    unlocked,
    imap: { host: '127.0.0.1', port: 0 },
    imaps: { host: '127.0.0.1', port: 0 },
    smtp: { host: '127.0.0.1', port: 0 },
    smtps: { host: '127.0.0.1', port: 0 },
    // Both devices are one user's profile on one machine here; keep them out of the shared
    // registry of running daemons.
    registryDir: join(unlocked.paths.dir, 'run'),
    sync: { backoffMinMs: 200, backoffMaxMs: 1000, batchSize: 50 },
  }).then((d) => {
    daemons.push(d);
    return d;
  });

let a: Daemon;
let b: Daemon;

test('1,000 messages imported on A arrive byte-exact with their flags on a paired B, through a server restart mid-replication', async () => {
  const ua = await initProfile({ dataDir: join(tmp.path, 'a'), email: 'sync-user@example.org', name: 'Sync User', ...access('passphrase of A') });
  const store = await Store.open({ dir: ua.paths.store, keys: ua.keys, device: ua.profile.device });
  const inbox = store.mailboxByName('INBOX')!.logical;
  await store.import(inbox, corpus.slice(0, N).map((m, i) => ({ raw: m.raw, flags: flagsFor(i), date: new Date(Date.UTC(2024, 0, 1) + i * 60_000) })));
  await store.close();

  a = await start(ua);
  await a.syncAction({ action: 'set', url: couch.url });
  await until('A pushed everything', () => a.status().sync.state === 'in-sync');
  const pair = await a.syncAction({ action: 'pair' });
  assert.equal(pair.action, 'pair');
  const ub = await joinProfile({ dataDir: join(tmp.path, 'b'), url: couch.url, code: pair.action === 'pair' ? pair.code : '', ...access('B has its own passphrase') });
  b = await start(ub);

  // Stop the server while B is part-way through its first replication, then bring it back.
  const progress = await until('B has started pulling', () => {
    const s = b.status().sync;
    return 'firstReplication' in s && s.firstReplication && s.firstReplication.done > 0 ? s.firstReplication : undefined;
  });
  await couch.stop();
  const shown = b.store.mailboxByName('INBOX')?.entries.size ?? 0;
  assert.ok(progress.done < progress.total && shown < N, `B was part-way (${progress.done}/${progress.total} documents, ${shown} messages shown)`);
  await until('B notices the server is gone', () => b.status().sync.state === 'error');
  couch = await startCouchDB({ dataDir: couchDir.path, port: couch.port });

  await until('B shows all messages and is in sync', () => b.store.mailboxByName('INBOX')?.entries.size === N && b.status().sync.state === 'in-sync');
  const [va, vb] = [await view(await client(a)), await view(await client(b))];
  assert.equal(vb.INBOX!.length, N);
  assert.deepEqual(vb, va);
  const expected = corpus.slice(0, N).map((m, i) => `${sha(m.raw)} ${flagsFor(i).sort().join(',')}`).sort();
  assert.deepEqual(vb.INBOX, expected);
});

test('a message appended and a flag set on A reach an IMAP client idling on B', async () => {
  const idler = await client(b);
  await idler.mailboxOpen('INBOX');
  const events: string[] = [];
  idler.on('exists', (e: { count: number }) => events.push(`exists ${e.count}`));
  idler.on('flags', (e: { flags: Set<string> }) => events.push(`flags ${[...e.flags].sort().join(',')}`));
  await new Promise((r) => setTimeout(r, 200)); // let imapflow enter IDLE
  const ca = await client(a);
  await ca.append('INBOX', corpus[N]!.raw, ['$Fresh']);
  await until('EXISTS on B', () => events.includes(`exists ${N + 1}`), 30_000);
  const lock = await ca.getMailboxLock('INBOX');
  try {
    await ca.messageFlagsAdd(`${N + 1}`, ['\\Answered']);
  } finally {
    lock.release();
  }
  await until('FETCH FLAGS on B', () => events.includes('flags $Fresh,\\Answered'), 30_000);
});

test('edits made while apart converge on both devices by the documented merge, losing no message', async () => {
  const [ca, cb] = [await client(a), await client(b)];
  await ca.mailboxCreate('Work');
  await ca.append('Work', corpus[5]!.raw);
  await until('B has Work', () => b.store.mailboxByName('Work')?.entries.size === 1);
  const id = (i: number) => sha(corpus[i]!.raw);

  await couch.stop();
  const onA = await ca.getMailboxLock('INBOX');
  try {
    const [u0, u1, u2] = [await uidOf(ca, 0), await uidOf(ca, 1), await uidOf(ca, 2)];
    await ca.messageFlagsAdd(u0, ['\\Seen'], { uid: true }); // 1. both flag message 0
    await ca.messageMove(u1, 'Archive', { uid: true }); // 2. A moves message 1, B flags it
    await ca.messageFlagsAdd(u2, ['\\Deleted'], { uid: true }); // 4. A expunges message 2, B flags it
    await ca.messageDelete(u2, { uid: true });
  } finally {
    onA.release();
  }
  await ca.mailboxRename('Work', 'Projects'); // 3. A renames Work, B adds a message to it
  await until('A counts its edits as pending while the server is away', () => {
    const s = a.status().sync;
    return s.state === 'error' && 'pending' in s && s.pending > 0;
  }, 30_000);
  const onB = await cb.getMailboxLock('INBOX');
  try {
    await cb.messageFlagsAdd(await uidOf(cb, 0), ['$Important'], { uid: true });
    await cb.messageFlagsAdd(await uidOf(cb, 1), ['\\Answered'], { uid: true });
    await cb.messageFlagsAdd(await uidOf(cb, 2), ['\\Flagged'], { uid: true });
  } finally {
    onB.release();
  }
  await cb.append('Work', corpus[6]!.raw, ['\\Seen']);

  couch = await startCouchDB({ dataDir: couchDir.path, port: couch.port });
  let views: Array<Record<string, string[]>> = [];
  await until('both devices show the same mailboxes', async () => {
    if (a.status().sync.state !== 'in-sync' || b.status().sync.state !== 'in-sync') return false;
    views = [await view(ca), await view(cb)];
    return JSON.stringify(views[0]) === JSON.stringify(views[1]) && !('Work' in views[0]!);
  });
  const v = views[0]!;
  const find = (box: string, i: number) => v[box]!.filter((r) => r.startsWith(id(i)));
  assert.deepEqual(find('INBOX', 0), [`${id(0)} $Important,$Later,\\Flagged,\\Seen`]);
  assert.deepEqual(find('INBOX', 1), []);
  assert.deepEqual(find('Archive', 1), [`${id(1)} \\Answered`], 'the flag set on B follows the message A moved');
  assert.deepEqual(find('INBOX', 2), []);
  assert.deepEqual(v.Projects!.sort(), [`${id(5)} `, `${id(6)} \\Seen`].sort());
  assert.equal(v.INBOX!.length, N + 1 - 2);
});

test('the server holds no subject, address, body line, flag or mailbox name, key material, or unkeyed hash', async () => {
  const dump = await dumpAll(couch.url);
  assert.ok(dump.length > 1_000_000);
  const needles = new Set<string>(['sync-user@example.org', 'Sync User', 'INBOX', 'Archive', 'Projects', 'Work', '\\Seen', '\\Flagged', '$Later', '$Important', '$Fresh', 'BEGIN PGP', 'Subject:']);
  for (const m of corpus.slice(0, 50)) {
    const text = m.raw.toString('latin1');
    const subject = /^Subject: (.{8,})$/m.exec(text)?.[1]?.trim();
    const from = /^From: .*?([\w.+-]+@[\w.-]+)/m.exec(text)?.[1];
    const body = text.split('\r\n\r\n').slice(1).join('\n').split('\r\n').find((l) => l.trim().length > 30);
    for (const n of [subject, from, body?.trim()]) if (n) needles.add(n);
    const parts = leaves(parseMime(m.raw)).map((l) => m.raw.subarray(l.bodyStart, l.end));
    for (const bytes of [m.raw, ...parts]) for (const algo of ['sha256', 'sha1', 'md5']) needles.add(createHash(algo).update(bytes).digest('hex').slice(0, 20));
  }
  const ownKey = (await a.keyring.ownKeys())[0]!;
  needles.add(ownKey.getFingerprint().toUpperCase());
  needles.add(ownKey.getFingerprint().toLowerCase());
  // A short name of letters turns up by chance in megabytes of base64 ("Work": ~0.6 times in
  // 10 MB); in plaintext JSON it would stand in quotes, which base64 never holds.
  for (const n of [...needles]) if (/^[A-Za-z0-9+/]{1,9}$/.test(n)) needles.add(`"${n}"`) && needles.delete(n);
  for (const n of needles) assert.equal(dump.includes(n), false, `the server's dump holds ${JSON.stringify(n.slice(0, 40))}`);
});
