import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Store } from '../../../src/store/store.js';
import { deriveKeys, newRootSecret } from '../../../src/secrets/root.js';
import { makeTempDir, type TempDir } from '../../harness/tmp.js';

let dir: TempDir;
let store: Store;
let inbox: string;

before(async () => {
  dir = await makeTempDir('waxseal-malformed-');
  store = await Store.open({ dir: join(dir.path, 'store'), keys: deriveKeys(newRootSecret()), content: { inlineMax: 256 }, bodiesMaxBytes: 0 });
  inbox = (await store.createMailbox('INBOX')).logical;
});
after(async () => {
  await store.close();
  await dir.cleanup();
});

async function storesExactly(raw: Buffer): Promise<void> {
  const [imported] = await store.import(inbox, [{ raw }]);
  const entry = store.index.mailbox(inbox)!.entries.get(imported!.uid!)!;
  const back = await store.read(entry);
  assert.equal(back.length, raw.length);
  assert.ok(back.equals(raw), 'bytes differ');
  // A range across the whole message reads back the same slice.
  const mid = raw.length >> 1;
  assert.ok((await store.read(entry, mid - 100, mid + 100)).equals(raw.subarray(mid - 100, mid + 100)));
}

const big = (n: number, ch = 'a') => ch.repeat(n);

test('multipart with missing boundaries', () =>
  storesExactly(Buffer.from(`Content-Type: multipart/mixed; boundary=gone\r\n\r\n${big(2000)}\r\n--other\r\n\r\n${big(900)}\r\n`)));

test('multipart with an empty boundary parameter and a missing close delimiter', async () => {
  await storesExactly(Buffer.from(`Content-Type: multipart/mixed; boundary=""\r\n\r\n--\r\n${big(500)}\r\n`));
  await storesExactly(Buffer.from(`Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\n${big(700)}\r\n--x\r\n\r\n${big(800)}`));
});

test('100-level nesting', async () => {
  let raw = big(1000, 'z');
  for (let i = 0; i < 100; i++) raw = `Content-Type: multipart/mixed; boundary=b${i}\r\n\r\n--b${i}\r\n${raw}\r\n--b${i}--\r\n`;
  await storesExactly(Buffer.from(raw));
});

test('NUL bytes and 8-bit bytes in headers and bodies', () =>
  storesExactly(Buffer.concat([Buffer.from('Subject: a\0b\xff\r\nX: \x80\r\n\r\n', 'latin1'), Buffer.alloc(3000, 0), Buffer.from('\0end\r\n')])));

test('bare LF line ends, mixed with CRLF, and a lone CR', () =>
  storesExactly(Buffer.from(`Content-Type: multipart/mixed; boundary=q\n\n--q\r\nContent-Type: text/plain\n\n${big(600)}\r\r\n--q--\n`)));

test('no header/body separator at all, and an empty message', async () => {
  await storesExactly(Buffer.from(`Subject: only a header\r\nX-Long: ${big(5000)}`));
  await storesExactly(Buffer.alloc(0));
});

test('a 50 MB header is stored and returned byte-exact', async () => {
  const line = `X-Filler: ${big(990, 'h')}\r\n`;
  const raw = Buffer.from(`Subject: huge\r\n${line.repeat(50_000)}\r\nbody\r\n`);
  assert.ok(raw.length > 50_000_000);
  await storesExactly(raw);
});

test('no sealed document outgrows what a CouchDB server accepts (8 MB), even for a 50 MB header', async () => {
  const own = await makeTempDir('waxseal-docsize-');
  try {
    const path = join(own.path, 'store');
    const s = await Store.open({ dir: path, keys: deriveKeys(newRootSecret()) });
    const box = await s.createMailbox('INBOX');
    const raw = Buffer.from(`Subject: huge\r\n${`X-Filler: ${big(990, 'h')}\r\n`.repeat(50_000)}\r\n${big(9_000_000, 'b')}\r\n`);
    await s.import(box.logical, [{ raw }]);
    await s.close();
    const { PouchDB } = await import('../../../src/store/pouch.js');
    const db = new PouchDB(join(path, 'content'));
    const all = await db.allDocs({ include_docs: true });
    await db.close();
    const largest = Math.max(...all.rows.map((r) => JSON.stringify(r.doc).length));
    assert.ok(all.rows.length > 100, `only ${all.rows.length} docs`);
    assert.ok(largest < 8_000_000, `largest document is ${largest} bytes`);
    const reopened = await Store.open({ dir: path, keys: deriveKeys(newRootSecret()) }).catch((e) => e);
    assert.equal(reopened.code, 'EWRONGKEY');
  } finally {
    await own.cleanup();
  }
});
