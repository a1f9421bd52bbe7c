import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '../../../src/store/store.js';
import { summarizeForImap } from '../../../src/mail/imap-backend.js';
import { deriveKeys, newRootSecret } from '../../../src/secrets/root.js';
import { PouchDB } from '../../../src/store/pouch.js';
import { isWaxsealError } from '../../../src/util/errors.js';
import { cpythonEmail, spamAssassin, type CorpusMessage } from '../../harness/corpus.js';
import { makeTempDir } from '../../harness/tmp.js';

async function tempStore(opts: { inlineMax?: number } = {}) {
  const dir = await makeTempDir('waxseal-store-');
  const root = newRootSecret();
  const open = () => Store.open({ dir: join(dir.path, 'store'), keys: deriveKeys(root), content: opts, summarize: summarizeForImap, bodiesMaxBytes: 0 });
  return { dir, root, open, store: await open() };
}

async function roundTrip(messages: CorpusMessage[], inlineMax?: number) {
  const t = await tempStore(inlineMax === undefined ? {} : { inlineMax });
  try {
    const box = await t.store.createMailbox('INBOX');
    const imported = await t.store.import(box.logical, messages.map((m) => ({ raw: m.raw })));
    await t.store.close();
    const reopened = await t.open();
    const entries = [...(reopened.index.mailbox(box.logical)?.entries.values() ?? [])];
    assert.equal(entries.length, messages.length);
    for (const [i, m] of messages.entries()) {
      const entry = entries.find((e) => e.uid === imported[i]!.uid)!;
      const back = await reopened.read(entry);
      assert.ok(back.equals(m.raw), `${m.name} differs after the round trip`);
    }
    await reopened.close();
  } finally {
    await t.dir.cleanup();
  }
}

describe('byte-exact round trip: split → seal → store → reopen → reassemble', () => {
  test('SpamAssassin easy-ham-1 (2,500 messages)', async () => roundTrip(spamAssassin('easy-ham-1')));
  test('SpamAssassin spam-1 (500 messages), every leaf in its own part docs', async () => roundTrip(spamAssassin('spam-1'), 1));
  test('CPython email test messages', async () => roundTrip(cpythonEmail(), 64));
});

describe('what reaches the disk', () => {
  const secretSubject = `Quarterly ${randomBytes(6).toString('hex')} results`;
  const secretAddress = `zebra.${randomBytes(4).toString('hex')}@example.org`;
  const secretLine = `The launch code is ${randomBytes(8).toString('hex')}`;
  let t: Awaited<ReturnType<typeof tempStore>>;
  before(async () => {
    t = await tempStore({ inlineMax: 16 });
    const box = await t.store.createMailbox('Secret Projects');
    const raw = Buffer.from(
      `From: ${secretAddress}\r\nTo: ${secretAddress}\r\nSubject: ${secretSubject}\r\n\r\n${secretLine}\r\n${secretLine}\r\n`,
    );
    await t.store.import(box.logical, [{ raw, flags: ['$SecretKeyword'] }, ...spamAssassin('easy-ham-1', 50).map((m) => ({ raw: m.raw }))]);
    // The encoded ENVELOPEs hold the subject and addresses: cache/ is searched below too.
    assert.equal(t.store.summaries.size, 51);
    await t.store.close();
  });
  after(() => t.dir.cleanup());

  test('no subject, address, body line, mailbox name or flag name in any file of the store', () => {
    for (const needle of [secretSubject, secretAddress, secretLine, 'Secret Projects', '$SecretKeyword', 'INBOX']) {
      let found = '';
      try {
        found = execFileSync('grep', ['-rlaF', needle, t.dir.path], { encoding: 'utf8' });
      } catch (err) {
        assert.equal((err as { status: number }).status, 1, 'grep failed to run');
      }
      assert.equal(found, '', `"${needle}" found in ${found}`);
    }
  });

  test('a known corpus subject is not on disk either (LevelDB compression would not hide it)', () => {
    const subject = spamAssassin('easy-ham-1', 1)[0]!.raw.toString('latin1').match(/^Subject: (.{12,40})/m)![1]!;
    assert.throws(() => execFileSync('grep', ['-rlaF', subject, t.dir.path]), (e: { status: number }) => e.status === 1);
  });
});

/** Rewrite one stored document through PouchDB, as a hostile server or a bad disk would. */
async function rewriteDoc(path: string, id: string, change: (doc: Record<string, unknown>) => Record<string, unknown>) {
  const db = new PouchDB(path);
  const doc = (await db.get(id)) as unknown as Record<string, unknown>;
  await db.put(change(doc) as never);
  await db.close();
}

describe('damaged and tampered documents', () => {
  test('a flipped byte in one message is reported; other messages stay readable', async () => {
    const t = await tempStore();
    try {
      const box = await t.store.createMailbox('INBOX');
      const msgs = spamAssassin('easy-ham-1', 5);
      const imported = await t.store.import(box.logical, msgs.map((m) => ({ raw: m.raw })));
      const victim = imported[2]!;
      const victimDoc = t.store.content.messageDocId(victim.message);
      await t.store.close();
      await rewriteDoc(join(t.dir.path, 'store', 'content'), victimDoc, (doc) => {
        const ct = Buffer.from(doc.ct as string, 'base64');
        ct[ct.length >> 1]! ^= 0x01;
        return { ...doc, ct: ct.toString('base64') };
      });
      const s = await t.open();
      for (const [i, item] of imported.entries()) {
        const entry = s.index.mailbox(box.logical)!.entries.get(item.uid!)!;
        if (i === 2) {
          await assert.rejects(s.read(entry), (err) => isWaxsealError(err, 'ETAMPERED') && err.message.includes(victimDoc));
        } else {
          assert.ok((await s.read(entry)).equals(msgs[i]!.raw));
        }
      }
      await s.close();
    } finally {
      await t.dir.cleanup();
    }
  });

  test('two entries with their ciphertexts swapped are both refused on open', async () => {
    const t = await tempStore();
    try {
      const box = await t.store.createMailbox('INBOX');
      await t.store.import(box.logical, spamAssassin('easy-ham-1', 2).map((m) => ({ raw: m.raw, flags: ['\\Seen'] })));
      const [a, b] = [...t.store.index.mailbox(box.logical)!.entries.values()];
      await t.store.close();
      const path = join(t.dir.path, 'store', 'state');
      const db = new PouchDB(path);
      const [da, dbb] = [await db.get(a!.id), await db.get(b!.id)] as unknown as Array<Record<string, unknown>>;
      await db.bulkDocs([
        { ...da!, iv: dbb!.iv, ct: dbb!.ct },
        { ...dbb!, iv: da!.iv, ct: da!.ct },
      ] as never);
      await db.close();
      // The store opens (other documents are fine) and reports both swapped entries as
      // damaged. The index keeps the last state it verified, so tampering cannot make
      // messages vanish: both stay listed with their last good flags, and readable.
      const s = await t.open();
      assert.deepEqual([...s.index.damaged.keys()].sort(), [a!.id, b!.id].sort());
      const shown = [...s.index.mailbox(box.logical)!.entries.values()];
      assert.deepEqual(shown.map((e) => [e.id, e.meta.flags['\\Seen']?.[0]]), [[a!.id, true], [b!.id, true]]);
      for (const e of shown) assert.ok((await s.read(e)).length > 0);
      await s.close();
      // With no index to remember them (a rebuild), the damaged entries are not shown at all.
      rmSync(join(t.dir.path, 'store', 'local'), { recursive: true });
      const rebuilt = await t.open();
      assert.equal(rebuilt.index.mailbox(box.logical)!.entries.size, 0);
      assert.equal(rebuilt.index.damaged.size, 2);
      await rebuilt.close();
    } finally {
      await t.dir.cleanup();
    }
  });

  test('the wrong root secret is one clear error and changes nothing', async () => {
    const t = await tempStore();
    try {
      await t.store.createMailbox('INBOX');
      await t.store.close();
      const err = await Store.open({ dir: join(t.dir.path, 'store'), keys: deriveKeys(newRootSecret()) }).catch((e) => e);
      assert.ok(isWaxsealError(err, 'EWRONGKEY'), String(err));
      const s = await t.open();
      assert.equal(s.mailboxByName('INBOX')?.meta.name[0], 'INBOX');
      await s.close();
    } finally {
      await t.dir.cleanup();
    }
  });
});
