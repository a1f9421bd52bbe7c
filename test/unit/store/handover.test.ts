import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Store } from '../../../src/store/store.js';
import { deriveKeys, newRootSecret } from '../../../src/secrets/root.js';
import { PouchDB } from '../../../src/store/pouch.js';
import { Sealer, type SealedDoc } from '../../../src/store/seal.js';
import type { OpenedState } from '../../../src/store/state.js';
import { liveFlags } from '../../../src/store/kinds.js';
import { spamAssassin } from '../../harness/corpus.js';
import { makeTempDir } from '../../harness/tmp.js';

test('states handed over at the revision the feed shows are not read again; any other revision is read', async () => {
  const dir = await makeTempDir('waxseal-handover-');
  const keys = deriveKeys(newRootSecret());
  const sealer = new Sealer({ sealKey: keys.seal, idKey: keys.id });
  const a = await Store.open({ dir: join(dir.path, 'a'), keys, device: 'a' });
  const b = await Store.open({ dir: join(dir.path, 'b'), keys, device: 'b' });
  try {
    const box = (await a.createMailbox('INBOX')).logical;
    const ids = (await a.import(box, spamAssassin('easy-ham-1', 3).map((m) => ({ raw: m.raw })))).map((i) => i.entry);
    /** A's state documents as the door would hand them over: opened, at their revisions. */
    const opened = async (): Promise<OpenedState[]> =>
      (await a.state.db.allDocs({ include_docs: true })).rows.map((r) => {
        const o = sealer.open(r.doc as unknown as SealedDoc);
        return { id: r.id, rev: r.doc!._rev!, kind: o.kind as OpenedState['kind'], logical: o.logical, meta: o.meta as unknown as OpenedState['meta'] };
      });
    await PouchDB.replicate(a.replicated().content, b.replicated().content);
    const before = await opened();
    await PouchDB.replicate(a.replicated().state, b.replicated().state);
    b.index.handOver(before);
    await b.index.catchUp();
    assert.equal(b.index.mailbox(box)?.entries.size, 3);
    assert.equal(b.index.documentsRead, 0, 'every state came from the hand-over');

    // A newer revision arrives while only the old one was handed over: the index reads it.
    await a.setFlags([ids[0]!], { add: ['\\Seen'] });
    await PouchDB.replicate(a.replicated().state, b.replicated().state);
    b.index.handOver(before.filter((s) => s.id === a.state.entryId(ids[0]!)));
    await b.index.catchUp();
    assert.equal(b.index.documentsRead, 1);
    assert.deepEqual(liveFlags(b.index.entry(ids[0]!)!.meta), ['\\Seen']);
  } finally {
    await a.close();
    await b.close();
    await dir.cleanup();
  }
});
