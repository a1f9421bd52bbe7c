import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Store } from '../../../src/store/store.js';
import { deriveKeys, newRootSecret } from '../../../src/secrets/root.js';
import type { MessageMeta } from '../../../src/store/kinds.js';
import { PouchDB } from '../../../src/store/pouch.js';
import { summarizeForImap } from '../../../src/mail/imap-backend.js';
import { spamAssassin } from '../../harness/corpus.js';
import { makeTempDir } from '../../harness/tmp.js';

/** A store whose summarizer counts its calls, so a test can tell derived from loaded. */
async function withStore(fn: (open: (summarize?: boolean) => Promise<Store>, calls: () => number, path: string) => Promise<void>) {
  const dir = await makeTempDir('waxseal-summaries-');
  const keys = deriveKeys(newRootSecret());
  const path = join(dir.path, 'store');
  let calls = 0;
  const counting = (meta: MessageMeta) => {
    calls++;
    return summarizeForImap(meta);
  };
  try {
    await fn((summarize = true) => Store.open({ dir: path, keys, ...(summarize ? { summarize: counting } : {}) }), () => calls, path);
  } finally {
    await dir.cleanup();
  }
}

test('summaries made at import survive a restart and are not derived again', () =>
  withStore(async (open, calls) => {
    const s = await open();
    const box = (await s.createMailbox('INBOX')).logical;
    const imported = await s.import(box, spamAssassin('easy-ham-1', 30).map((m) => ({ raw: m.raw })));
    assert.equal(calls(), 30);
    const keys = imported.map((i) => i.message);
    const before = await s.summarise(keys);
    await s.close();
    const again = await open();
    assert.equal(again.summaries.size, 30);
    assert.deepEqual(await again.summarise(keys), before);
    assert.equal(calls(), 30, 'nothing was derived again after the restart');
    // What was kept is what the message document says.
    for (const [i, key] of keys.entries()) assert.deepEqual(before[i], summarizeForImap((await again.content.message(key)).meta));
    await again.close();
  }));

test('messages imported without a summarizer are summarised on first use, once', () =>
  withStore(async (open, calls) => {
    const s = await open(false);
    const box = (await s.createMailbox('INBOX')).logical;
    const imported = await s.import(box, spamAssassin('spam-1', 10).map((m) => ({ raw: m.raw })));
    assert.equal(s.summaries.size, 0);
    await s.close();
    const keys = imported.map((i) => i.message);
    const again = await open();
    const got = await again.summarise(keys);
    assert.equal(calls(), 10);
    assert.ok(got.every((x) => x && x.length === 2));
    await again.close();
    const third = await open();
    assert.deepEqual(await third.summarise(keys), got);
    assert.equal(calls(), 10);
    await third.close();
  }));

test('flag changes and expunges leave summaries alone; a damaged summary page is derived again', () =>
  withStore(async (open, calls, path) => {
    const s = await open();
    const box = (await s.createMailbox('INBOX')).logical;
    const imported = await s.import(box, spamAssassin('easy-ham-2', 5).map((m) => ({ raw: m.raw })));
    const keys = imported.map((i) => i.message);
    const before = await s.summarise(keys);
    await s.setFlags([imported[0]!.entry], { add: ['\\Seen', '$Work'] });
    await s.expunge([imported[1]!.entry]);
    assert.deepEqual(await s.summarise(keys), before);
    await s.close();
    // Flip a byte in every summary page on disk.
    const db = new PouchDB(join(path, 'cache'));
    const rows = (await db.allDocs({ include_docs: true })).rows;
    assert.ok(rows.length > 0);
    for (const row of rows) {
      const doc = row.doc as unknown as { ct: string };
      const ct = Buffer.from(doc.ct, 'base64');
      ct[20]! ^= 1;
      await db.put({ ...row.doc!, ct: ct.toString('base64') });
    }
    await db.close();
    const again = await open();
    assert.equal(again.summaries.size, 0);
    assert.deepEqual(await again.summarise(keys), before);
    assert.equal(calls(), 10);
    await again.close();
  }));

test('summaries written one at a time are merged into few pages, none lost', () =>
  withStore(async (open, calls, path) => {
    const s = await open();
    const box = (await s.createMailbox('INBOX')).logical;
    const keys: string[] = [];
    for (const m of spamAssassin('easy-ham-1', 40)) {
      keys.push((await s.import(box, [{ raw: m.raw }]))[0]!.message);
      await s.summaries.flush();
    }
    await s.close();
    const db = new PouchDB(join(path, 'cache'));
    const pages = (await db.allDocs()).rows.length;
    await db.close();
    assert.ok(pages < 20, `${pages} pages for 40 summaries`);
    const again = await open();
    assert.equal(again.summaries.size, 40);
    await again.summarise(keys);
    assert.equal(calls(), 40);
    await again.close();
  }));
