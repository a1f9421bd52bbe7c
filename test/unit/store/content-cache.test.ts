import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Store } from '../../../src/store/store.js';
import { deriveKeys, newRootSecret } from '../../../src/secrets/root.js';
import { spamAssassin } from '../../harness/corpus.js';
import { makeTempDir } from '../../harness/tmp.js';

test('a small message cache evicts by bytes and still returns exact bytes, after flag changes and expunges too', async () => {
  const dir = await makeTempDir('waxseal-cache-');
  try {
    // Room for a handful of messages only, so reading 60 evicts most of them.
    const s = await Store.open({ dir: join(dir.path, 'store'), keys: deriveKeys(newRootSecret()), content: { cacheBytes: 40_000 }, bodiesMaxBytes: 0 });
    const box = (await s.createMailbox('INBOX')).logical;
    const corpus = spamAssassin('spam-2', 60);
    const imported = await s.import(box, corpus.map((m) => ({ raw: m.raw })));
    const entryOf = (i: number) => s.index.entry(imported[i]!.entry)!;
    for (let round = 0; round < 2; round++) {
      await s.content.prefetch(imported.map((x) => x.message));
      for (const [i, m] of corpus.entries()) assert.ok((await s.read(entryOf(i))).equals(m.raw), `message ${i}, round ${round}`);
    }
    await s.setFlags(imported.slice(0, 30).map((x) => x.entry), { add: ['\\Seen'] });
    const last = entryOf(59);
    await s.expunge([imported[59]!.entry]);
    for (const [i, m] of corpus.entries()) {
      const entry = i === 59 ? last : entryOf(i);
      assert.ok((await s.read(entry)).equals(m.raw), `message ${i} after flag changes and an expunge`);
    }
    await s.close();
  } finally {
    await dir.cleanup();
  }
});
