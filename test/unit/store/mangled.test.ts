/**
 * Property: whatever bytes arrive, the store keeps them exactly. Corpus messages are mangled
 * at random (boundary lines cut, duplicated or injected, line ends changed, bytes flipped,
 * NULs and 8-bit bytes sprinkled, truncation) and every one must round-trip byte-exact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Store } from '../../../src/store/store.js';
import { deriveKeys, newRootSecret } from '../../../src/secrets/root.js';
import { parseMime } from '../../../src/mime/tree.js';
import { describeForImap } from '../../../src/store/content.js';
import { spamAssassin, cpythonEmail } from '../../harness/corpus.js';
import { makeTempDir } from '../../harness/tmp.js';

/** A small deterministic PRNG (mulberry32), so a failure names a seed that reproduces it. */
function rng(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mangle(raw: Buffer, rand: () => number): Buffer {
  let s = raw.toString('latin1');
  const boundary = /boundary="?([^";\r\n]+)/i.exec(s)?.[1] ?? 'b';
  const at = () => Math.floor(rand() * (s.length + 1));
  const ops = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < ops; i++) {
    const p = at();
    switch (Math.floor(rand() * 8)) {
      case 0: s = `${s.slice(0, p)}\r\n--${boundary}\r\n${s.slice(p)}`; break;
      case 1: s = `${s.slice(0, p)}\r\n--${boundary}--${s.slice(p)}`; break;
      case 2: s = s.replace(`--${boundary}`, ''); break;
      case 3: s = s.replace(/\r\n/g, rand() < 0.5 ? '\n' : '\r'); break;
      case 4: s = `${s.slice(0, p)}\0\xff\x80${s.slice(p)}`; break;
      case 5: s = s.slice(0, p); break;
      case 6: s = `${s.slice(0, p)}Content-Type: multipart/mixed; boundary=${boundary}\r\n\r\n${s.slice(p)}`; break;
      default: s = `${s.slice(0, p)}${s.slice(p, p + 200)}${s.slice(p)}`;
    }
  }
  return Buffer.from(s, 'latin1');
}

test('2,000 mangled messages: parsing never throws and every one round-trips byte-exact', async () => {
  const sources = [...spamAssassin('spam-2', 300), ...cpythonEmail()];
  const dir = await makeTempDir('waxseal-mangled-');
  const store = await Store.open({ dir: join(dir.path, 'store'), keys: deriveKeys(newRootSecret()), content: { inlineMax: 512, chunkSize: 4096 }, bodiesMaxBytes: 0 });
  try {
    const box = (await store.createMailbox('INBOX')).logical;
    const rand = rng(20261123);
    const mangled: Buffer[] = [];
    for (let i = 0; i < 2000; i++) {
      const m = mangle(sources[Math.floor(rand() * sources.length)]!.raw, rand);
      assert.doesNotThrow(() => describeForImap(m, parseMime(m)), `message ${i}`);
      mangled.push(m);
    }
    for (let i = 0; i < mangled.length; i += 200) {
      const batch = mangled.slice(i, i + 200);
      const imported = await store.import(box, batch.map((raw) => ({ raw })));
      for (const [j, item] of imported.entries()) {
        const entry = store.index.mailbox(box)!.entries.get(item.uid!)!;
        assert.ok((await store.read(entry)).equals(batch[j]!), `message ${i + j} differs`);
      }
    }
  } finally {
    await store.close();
    await dir.cleanup();
  }
});
