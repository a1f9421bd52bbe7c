/**
 * The upstream fetcher against the harness's Dovecot and Postfix, with Waxseal's own IMAP
 * server (and imapflow as the mail client) showing the result: a 2,000-message first sync of
 * corpus plaintext and gpg-encrypted mail, push by IDLE, a provider outage, a UIDVALIDITY
 * change, undecryptable mail, offline mode.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImapFlow } from 'imapflow';
import { Keyring } from '../../src/mail/keyring.js';
import { startImap, type ImapHarness } from '../harness/imap.js';
import { startGpg, type Gpg } from '../harness/gpg.js';
import { startProvider, type Provider } from '../harness/provider.js';
import { appendMany } from '../harness/fill.js';
import { mixedMailbox, type MixedMessage } from '../harness/mail-mix.js';
import { startFetcher, submit, synced, testAccount, type FetcherRig } from '../harness/upstream.js';

const ALICE = { user: 'alice@example.org', password: 'alice-provider-pw' };
const BOB = { user: 'bob@example.org', password: 'bob-provider-pw' };
const LABELS = /^X-Waxseal-Encryption: [^\r\n]*\r\nX-Waxseal-Signature: [^\r\n]*\r\n/;
const N_PLAIN = 1800;
const N_ENC = 200;

let provider: Provider;
let gpg: Gpg;
let h: ImapHarness;
let rig: FetcherRig;
let mix: MixedMessage[];
let client: ImapFlow;
let bobFpr: string;

before(async () => {
  [provider, gpg, h] = await Promise.all([startProvider({ users: [ALICE, BOB] }), startGpg(), startImap()]);
  const keyring = new Keyring({ records: h.store.records });
  await keyring.generate({ email: ALICE.user });
  await gpg.importKey(await keyring.export({}));
  bobFpr = await gpg.generate('Bob <bob@example.net>');
  await keyring.import(await gpg.exportPublic(bobFpr));
  mix = await mixedMailbox({ gpg, sender: 'bob@example.net', to: ALICE.user, recipient: ALICE.user, plain: N_PLAIN, encrypted: N_ENC });
  await appendMany({ port: provider.dovecot.imapPort, user: ALICE.user, password: ALICE.password, messages: mix.map((m) => m.raw) });
  // Small batches make the first sync take many steps, so new mail can overtake it.
  rig = startFetcher({ h, keyring, account: testAccount(provider.dovecot, ALICE.user), password: ALICE.password, limits: { messages: 25, bytes: 4 << 20 } });
});

after(async () => {
  await rig?.fetcher.stop();
  await h?.stop();
  await Promise.all([provider?.stop(), gpg?.stop()]);
});

async function inboxCount(c: ImapFlow): Promise<number> {
  const s = await c.status('INBOX', { messages: true });
  return s ? (s.messages ?? 0) : 0;
}

const DURING = 'during-first-sync@waxseal.test';

test('mail arriving during the first sync is there before the history is finished', async () => {
  await rig.until((s) => s.firstSync && s.progress.done > 0, 'first sync under way');
  await provider.dovecot.deliver(ALICE.user, `From: early@example.net\r\nSubject: new while syncing\r\nMessage-ID: <${DURING}>\r\n\r\nhello\r\n`);
  const c = await h.client();
  await waitFor(async () => {
    const lock = await c.getMailboxLock('INBOX');
    try {
      return ((await c.search({ header: { 'message-id': DURING } }, { uid: true })) || []).length === 1;
    } finally {
      lock.release();
    }
  }, 'the new message stored');
  const s = rig.fetcher.status();
  assert.equal(s.firstSync, true, 'stored while the history was still being fetched');
  assert.ok(s.progress.done < s.progress.total);
});

test('first sync: all 2,000 messages, plaintext byte-exact after the labels, encrypted ones decrypted and verified', async (t) => {
  const s = await rig.until(synced, 'first sync done', 300_000);
  const started = rig.statuses.find((x) => x.progress.total > 0);
  t.diagnostic(`first sync: ${s.progress.done} messages, ${(s.progress.bytes / 1e6).toFixed(1)} MB (rate at the end ${s.progress.rate}/s; started ${started ? 'with' : 'without'} a known total)`);
  assert.equal(s.progress.done, N_PLAIN + N_ENC + 1);
  assert.equal(s.progress.total, N_PLAIN + N_ENC + 1);
  assert.equal(s.counters.undecryptable, 0);
  client = await h.client();
  const lock = await client.getMailboxLock('INBOX');
  try {
    assert.equal((client.mailbox as { exists: number }).exists, N_PLAIN + N_ENC + 1);
    let i = 0;
    for await (const m of client.fetch('1:*', { uid: true, source: true })) {
      const got = m.source!;
      if (got.includes(DURING)) continue;
      const want = mix[i++]!;
      const labels = LABELS.exec(got.toString('latin1'));
      assert.ok(labels, `message ${i} has the two labels at the top`);
      if (!want.encrypted) {
        assert.ok(got.subarray(labels[0].length).equals(want.raw), `plaintext message ${i} follows its labels byte for byte`);
        // "none", sometimes with a note (the corpus has PGP blocks inside plaintext mail).
        assert.match(labels[0], /^X-Waxseal-Encryption: none[;\r]/);
      } else {
        const text = got.toString('utf8');
        assert.match(text, /^X-Waxseal-Encryption: encrypted\r\n/);
        assert.match(text, new RegExp(`^X-Waxseal-Signature: valid; signer=${bobFpr}\r\n`, 'm'));
        assert.ok(text.includes(want.secret!), `encrypted message ${i} is shown decrypted`);
      }
    }
    assert.equal(i, N_PLAIN + N_ENC);
  } finally {
    lock.release();
  }
});

test('mail submitted to Postfix reaches a Waxseal IMAP client in IDLE (pushed by the provider\'s IDLE)', async (t) => {
  await rig.until(synced, 'first sync done', 300_000);
  const watcher = await h.client();
  await watcher.mailboxOpen('INBOX');
  const before = (watcher.mailbox as { exists: number }).exists;
  const arrived = new Promise<number>((resolve) => watcher.on('exists', (e: { count: number }) => e.count > before && resolve(performance.now())));
  const idling = watcher.idle();
  const t0 = performance.now();
  await submit({ port: provider.postfix.submissionPort, user: BOB.user, password: BOB.password, to: ALICE.user, subject: 'pushed' });
  const at = await Promise.race([arrived, new Promise<number>((_, reject) => setTimeout(() => reject(new Error('no EXISTS within 30 s')), 30_000))]);
  t.diagnostic(`submission to EXISTS at the Waxseal client: ${Math.round(at - t0)} ms`);
  await watcher.logout();
  await idling.catch(() => undefined);
});

test('the provider stopped and started while the fetcher idles: it reconnects and fetches what came meanwhile', async () => {
  await rig.until(synced, 'first sync done', 300_000);
  const count = await inboxCount(client);
  await provider.dovecot.halt();
  await rig.until((s) => s.state === 'backoff', 'backoff after the outage');
  await provider.dovecot.resume();
  await provider.dovecot.deliver(ALICE.user, 'From: carol@example.net\r\nSubject: during the outage\r\nMessage-ID: <outage@x>\r\n\r\nhello\r\n');
  await rig.until((s) => s.state === 'idle' && s.counters.fetched >= count + 1, 'caught up after reconnecting');
  await waitFor(async () => (await inboxCount(client)) === count + 1, 'the message fetched after reconnecting');
});

test('a message that cannot be decrypted is stored as received, labelled, and counted', async () => {
  const before = rig.fetcher.status().counters.undecryptable;
  const stranger = await gpg.generate('Stranger <stranger@example.net>');
  const count = await inboxCount(client);
  const armored = (await gpg.encrypt('secret', { recipients: [stranger], armor: true })).toString('latin1').replace(/\r?\n/g, '\r\n');
  const raw = `From: x@example.net\r\nSubject: not for us\r\nMessage-ID: <nfu@x>\r\nContent-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary=b\r\n\r\n--b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n--b\r\nContent-Type: application/octet-stream\r\n\r\n${armored}--b--\r\n`;
  await provider.dovecot.deliver(ALICE.user, raw);
  await rig.until((s) => s.counters.undecryptable === before + 1, 'the failure counted');
  await waitFor(async () => (await inboxCount(client)) === count + 1, 'stored anyway');
  await client.mailboxOpen('INBOX');
  const last = await client.fetchOne('*', { source: true });
  assert.ok(last && last.source);
  const text = last.source.toString('latin1');
  assert.match(text, /^X-Waxseal-Encryption: failed; reason="[^"]+"\r\n/);
  assert.ok(text.includes(armored), 'kept as received');
});

test('a UIDVALIDITY change at the provider refetches without duplicating anything', async () => {
  await rig.until(synced, 'synced', 300_000);
  const count = await inboxCount(client);
  const fetched = rig.fetcher.status().counters.fetched;
  await provider.dovecot.halt();
  // Dovecot keeps UIDs in dovecot-uidlist; without it, it numbers the mailbox afresh under a new UIDVALIDITY.
  const maildir = provider.dovecot.mailDir(ALICE.user);
  for (const f of await readdir(maildir)) if (f.startsWith('dovecot')) await rm(join(maildir, f), { recursive: true, force: true });
  await provider.dovecot.resume();
  await rig.until((s) => s.state === 'idle' && s.counters.fetched >= fetched + count, 'everything fetched again', 300_000);
  assert.equal(await inboxCount(client), count, 'no duplicates');
});

test('offline: no connection to the provider; back online it catches up', async () => {
  await rig.until(synced, 'synced', 300_000);
  const count = await inboxCount(client);
  await rig.fetcher.setOffline(true);
  await rig.until((s) => s.state === 'offline', 'offline');
  await provider.dovecot.deliver(ALICE.user, 'From: dave@example.net\r\nSubject: while offline\r\nMessage-ID: <offline@x>\r\n\r\nhello\r\n');
  await rig.fetcher.setOffline(false);
  await waitFor(async () => (await inboxCount(client)) === count + 1, 'the message fetched once back online');
});

async function waitFor(pred: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`no "${what}" within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
