import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, statSync, truncateSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '../../../src/store/store.js';
import { deriveKeys, newRootSecret, type DerivedKeys } from '../../../src/secrets/root.js';
import { PouchDB } from '../../../src/store/pouch.js';
import { spamAssassin } from '../../harness/corpus.js';
import { makeTempDir } from '../../harness/tmp.js';

/**
 * The bodies file is a cache of whole messages beside the content documents: these tests
 * show it serves reads, and that whatever happens to it (a torn tail, a damaged record, the
 * file gone) a read still returns the exact message, from content.
 */
async function withStore(fn: (t: { dir: string; keys: DerivedKeys; open: (max?: number) => Promise<Store> }) => Promise<void>) {
  const tmp = await makeTempDir('waxseal-bodies-');
  const keys = deriveKeys(newRootSecret());
  const dir = join(tmp.path, 'store');
  try {
    await fn({ dir, keys, open: (max?: number) => Store.open({ dir, keys, ...(max !== undefined ? { bodiesMaxBytes: max } : {}) }) });
  } finally {
    await tmp.cleanup();
  }
}

const corpus = spamAssassin('easy-ham-1', 40);

async function importAll(s: Store) {
  const box = (await s.createMailbox('INBOX')).logical;
  const imported = await s.import(box, corpus.map((m) => ({ raw: m.raw })));
  return imported.map((x) => s.index.entry(x.entry)!);
}

/** Delete every message and part document, so only the bodies file can answer. */
async function dropContent(dir: string) {
  const db = new PouchDB(join(dir, 'content'));
  const all = await db.allDocs();
  await db.bulkDocs(all.rows.map((r) => ({ _id: r.id, _rev: r.value!.rev, _deleted: true })));
  await db.close();
}

test('messages imported are read back whole from the bodies file, sealed (no plaintext in it)', () =>
  withStore(async ({ dir, open }) => {
    const s = await open();
    const entries = await importAll(s);
    await s.close();
    const file = readFileSync(join(dir, 'bodies'));
    assert.ok(file.length > corpus.reduce((n, m) => n + m.raw.length, 0), 'every message is in the file');
    for (const m of corpus.slice(0, 10)) {
      const subject = /^Subject: (.{8,})$/m.exec(m.raw.toString('latin1'))?.[1];
      if (subject) assert.equal(file.indexOf(Buffer.from(subject, 'latin1')), -1, 'a subject in the clear');
    }
    await dropContent(dir);
    const again = await open();
    for (const [i, e] of entries.entries()) {
      assert.ok((await again.read(e)).equals(corpus[i]!.raw), `message ${i}`);
      const mid = corpus[i]!.raw.length >> 1;
      assert.ok((await again.read(e, mid - 50, mid + 50)).equals(corpus[i]!.raw.subarray(mid - 50, mid + 50)), `a range of message ${i}`);
    }
    await again.close();
  }));

test('a torn last record is cut off at the next open; every message still reads exact, and new ones are kept', () =>
  withStore(async ({ dir, open }) => {
    const s = await open();
    const entries = await importAll(s);
    await s.close();
    const path = join(dir, 'bodies');
    const size = statSync(path).size;
    truncateSync(path, size - 100); // a crash in the middle of the last append
    appendFileSync(path, Buffer.from('WXB1 and then garbage'));
    const again = await open();
    assert.ok(statSync(path).size < size - 100, `the torn record and the garbage were cut off (${statSync(path).size} of ${size})`);
    for (const [i, e] of entries.entries()) assert.ok((await again.read(e)).equals(corpus[i]!.raw), `message ${i}`);
    await again.close();
    // The message whose record was torn was read whole from content, so it is kept again.
    await dropContent(dir);
    const third = await open();
    for (const [i, e] of entries.entries()) assert.ok((await third.read(e)).equals(corpus[i]!.raw), `message ${i} from the file alone`);
    await third.close();
  }));

test('a damaged record is read from content instead; a deleted file is refilled by reads', () =>
  withStore(async ({ dir, open }) => {
    const s = await open();
    const entries = await importAll(s);
    await s.close();
    const path = join(dir, 'bodies');
    const file = readFileSync(path);
    file[100] = file[100]! ^ 0xff; // inside the first record's ciphertext
    writeFileSync(path, file);
    const again = await open();
    for (const [i, e] of entries.entries()) assert.ok((await again.read(e)).equals(corpus[i]!.raw), `message ${i}`);
    await again.close();

    rmSync(path);
    const third = await open();
    for (const [i, e] of entries.entries()) assert.ok((await third.read(e)).equals(corpus[i]!.raw), `message ${i} without the file`);
    await third.close();
    await dropContent(dir);
    const fourth = await open();
    for (const [i, e] of entries.entries()) assert.ok((await fourth.read(e)).equals(corpus[i]!.raw), `message ${i} from the refilled file`);
    await fourth.close();
  }));

test('messages over the size limit are not kept, and a limit of 0 keeps no file at all', () =>
  withStore(async ({ dir, open }) => {
    const s = await open(3000);
    const entries = await importAll(s);
    await s.close();
    await dropContent(dir);
    const again = await open(3000);
    for (const [i, e] of entries.entries()) {
      const small = corpus[i]!.raw.length <= 3000;
      const read = await again.read(e).then((b) => b.equals(corpus[i]!.raw), () => 'missing');
      assert.equal(read, small ? true : 'missing', `message ${i} (${corpus[i]!.raw.length} bytes)`);
    }
    await again.close();
    assert.ok(corpus.some((m) => m.raw.length > 3000) && corpus.some((m) => m.raw.length <= 3000), 'the corpus has both sizes');
    rmSync(join(dir, 'bodies'));
    const none = await open(0);
    await none.read(entries[0]!).catch(() => undefined);
    await none.close();
    assert.throws(() => statSync(join(dir, 'bodies')), /ENOENT/);
  }));
