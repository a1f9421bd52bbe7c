import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Sealer, padme, type SealedDoc } from '../../../src/store/seal.js';
import { isWaxsealError } from '../../../src/util/errors.js';

const sealer = () => new Sealer({ sealKey: randomBytes(32), idKey: randomBytes(32) });

test('seal/open round trip keeps meta, blob, kind and logical id', () => {
  const s = sealer();
  const blob = randomBytes(5000);
  const doc = s.seal({ kind: 'message', logical: 'abc', meta: { size: 5000, tree: { s: 0 } }, blob });
  assert.deepEqual(Object.keys(doc).sort(), ['_id', 'ct', 'iv', 'v']);
  const open = s.open(doc, 'message');
  assert.equal(open.kind, 'message');
  assert.equal(open.logical, 'abc');
  assert.deepEqual(open.meta, { size: 5000, tree: { s: 0 } });
  assert.ok(open.blob.equals(blob));
});

test('ids are keyed: another id key gives other ids, and ids never contain the logical id', () => {
  const a = sealer();
  const b = sealer();
  assert.notEqual(a.docId('message', 'x'), b.docId('message', 'x'));
  assert.notEqual(a.docId('message', 'x'), a.docId('entry', 'x'));
  assert.match(a.docId('mailbox', 'INBOX'), /^[0-9a-f]{40}$/);
  assert.notEqual(a.contentKey(Buffer.from('hello')), b.contentKey(Buffer.from('hello')));
});

test('padding hides exact sizes: nearby lengths share a bucket, overhead stays under 12%', () => {
  assert.equal(padme(1), 256);
  assert.equal(padme(1000), padme(1001));
  for (const n of [300, 4_000, 10_000, 123_456, 5_000_000]) {
    const p = padme(n);
    assert.ok(p >= n && p <= n * 1.12, `${n} → ${p}`);
  }
  const s = sealer();
  const small = s.seal({ kind: 'part', logical: 'a', blob: Buffer.alloc(1000) });
  const larger = s.seal({ kind: 'part', logical: 'b', blob: Buffer.alloc(1010) });
  assert.equal(small.ct.length, larger.ct.length);
});

function expectTampered(fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => isWaxsealError(err, 'ETAMPERED'));
}

test('a flipped byte anywhere in the ciphertext or iv is detected', () => {
  const s = sealer();
  const doc = s.seal({ kind: 'entry', logical: 'e1', meta: { flags: {} } });
  const ct = Buffer.from(doc.ct, 'base64');
  for (const at of [0, 7, ct.length >> 1, ct.length - 1]) {
    const bad = Buffer.from(ct);
    bad[at]! ^= 0x01;
    expectTampered(() => s.open({ ...doc, ct: bad.toString('base64') }));
  }
  const iv = Buffer.from(doc.iv, 'base64');
  iv[0]! ^= 0x80;
  expectTampered(() => s.open({ ...doc, iv: iv.toString('base64') }));
});

test('ciphertexts swapped between two ids are refused (the id is bound as associated data)', () => {
  const s = sealer();
  const a = s.seal({ kind: 'entry', logical: 'a', meta: { n: 1 } });
  const b = s.seal({ kind: 'entry', logical: 'b', meta: { n: 2 } });
  const swappedA: SealedDoc = { ...a, iv: b.iv, ct: b.ct };
  expectTampered(() => s.open(swappedA));
});

test('a document of another kind is refused when a kind is expected', () => {
  const s = sealer();
  const doc = s.seal({ kind: 'part', logical: 'p', blob: Buffer.from('x') });
  expectTampered(() => s.open(doc, 'message'));
});

test('garbage, another key and unknown versions give ETAMPERED, not crashes', () => {
  const s = sealer();
  const doc = s.seal({ kind: 'entry', logical: 'e', meta: {} });
  expectTampered(() => sealer().open(doc));
  expectTampered(() => s.open({ ...doc, v: 2 }));
  expectTampered(() => s.open({ ...doc, ct: 'AAAA' }));
  expectTampered(() => s.open({ _id: doc._id } as SealedDoc));
  expectTampered(() => s.open(null as unknown as SealedDoc));
});
