/**
 * Ingest benchmark: the first sync of a 2,000-message provider mailbox (the harness's
 * Dovecot) into a fresh Waxseal store, beside mbsync pulling the same mailbox into a Maildir
 * in the same run. Three mailboxes: corpus plaintext, the tests' mix (10% PGP/MIME made by
 * gpg) and encrypted-only, the last also beside a bare decrypt loop (the incoming transform
 * alone, same messages) to show whether decryption or the pipeline sets the pace.
 */
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Keyring } from '../src/mail/keyring.js';
import { openIncoming } from '../src/mail/ingest.js';
import { StoreUpstreamSink } from '../src/mail/upstream-sink.js';
import { STANDARD_MAILBOXES } from '../src/daemon/profile.js';
import { deriveKeys, newRootSecret } from '../src/secrets/root.js';
import { Store } from '../src/store/store.js';
import { Fetcher } from '../src/upstream/fetcher.js';
import { appendMany } from '../test/harness/fill.js';
import { startGpg } from '../test/harness/gpg.js';
import { corpusPlain, gpgMessage, mixedMailbox } from '../test/harness/mail-mix.js';
import { startDovecot, type Dovecot } from '../test/harness/provider.js';
import { makeTempDir, run } from '../test/harness/tmp.js';
import { testAccount } from '../test/harness/upstream.js';

interface Rate {
  seconds: number;
  messages: number;
  bytes: number;
}

const fmt = (r: Rate) => `${(r.messages / r.seconds).toFixed(0).padStart(6)} msg/s ${(r.bytes / 1e6 / r.seconds).toFixed(2).padStart(7)} MB/s  (${r.seconds.toFixed(2)} s)`;

async function mbsync(dovecot: Dovecot, user: string, password: string, dir: string): Promise<number> {
  await mkdir(join(dir, 'mail'), { recursive: true });
  const rc = join(dir, 'mbsyncrc');
  await writeFile(rc, `IMAPAccount p\nHost 127.0.0.1\nPort ${dovecot.imapPort}\nUser "${user}"\nPass "${password}"\nSSLType None\nAuthMechs LOGIN\n\nIMAPStore far\nAccount p\n\nMaildirStore near\nPath ${dir}/mail/\nInbox ${dir}/mail/INBOX\n\nChannel c\nFar :far:\nNear :near:\nPatterns INBOX\nSync Pull\nCreate Near\nSyncState *\n`);
  const t = performance.now();
  await run('mbsync', ['-c', rc, '-a', '-q'], { timeout: 600_000 });
  return (performance.now() - t) / 1000;
}

async function waxseal(dovecot: Dovecot, user: string, password: string, dir: string, ownKey?: string): Promise<number> {
  const store = await Store.open({ dir: join(dir, 'store'), keys: deriveKeys(newRootSecret()) });
  try {
    for (const [name, use] of STANDARD_MAILBOXES) await store.createMailbox(name, use);
    const keyring = new Keyring({ records: store.records });
    if (ownKey) await keyring.import(ownKey);
    const t = performance.now();
    const fetcher = new Fetcher({ account: testAccount(dovecot, user), password, sink: new StoreUpstreamSink({ store, keyring, account: user }) });
    await new Promise<void>((resolve) => {
      fetcher.start();
      const check = setInterval(() => {
        const s = fetcher.status();
        if (s.state === 'idle' && !s.firstSync) {
          clearInterval(check);
          resolve();
        }
      }, 5);
    });
    const seconds = (performance.now() - t) / 1000;
    await fetcher.stop();
    return seconds;
  } finally {
    await store.close();
  }
}

export async function main(args: string[]): Promise<void> {
  const n = Number(args.find((a) => a.startsWith('--messages='))?.split('=')[1] ?? 2000);
  const users = ['plain', 'mixed', 'encrypted'].map((u) => ({ user: `${u}@example.test`, password: randomBytes(9).toString('base64url') }));
  const dovecot = await startDovecot({ users });
  const gpg = await startGpg();
  const tmp = await makeTempDir('waxseal-bench-ingest-');
  try {
    // The profile's key: made by gpg here so every mailbox is encrypted to the same key.
    const me = await gpg.generate('Me <me@example.test>');
    await gpg.generate('Bob <bob@example.net>');
    const ownKey = await gpg.exportSecret(me);
    const plain = corpusPlain(n);
    const mixed = (await mixedMailbox({ gpg, sender: 'bob@example.net', to: 'me@example.test', recipient: 'me@example.test', plain: n - n / 10, encrypted: n / 10 })).map((m) => m.raw);
    const encN = Math.min(n, 500);
    const encrypted: Buffer[] = [];
    for (let i = 0; i < encN; i += 4) encrypted.push(...(await Promise.all([0, 1, 2, 3].filter((k) => i + k < encN).map((k) => gpgMessage(gpg, { sender: 'bob@example.net', to: 'me@example.test', recipient: 'me@example.test', index: i + k })))).map((m) => m.raw));
    const boxes: Array<[string, Buffer[]]> = [['plain', plain], ['mixed', mixed], ['encrypted', encrypted]];
    for (const [i, [, msgs]] of boxes.entries()) await appendMany({ port: dovecot.imapPort, user: users[i]!.user, password: users[i]!.password, messages: msgs });
    console.log(`ingest benchmark: first sync from Dovecot, Waxseal (store + decrypt) beside mbsync (Maildir), same run`);
    const results: Record<string, { messages: number; bytes: number; waxseal: number; mbsync: number }> = {};
    for (const [i, [name, msgs]] of boxes.entries()) {
      const { user, password } = users[i]!;
      const bytes = msgs.reduce((s, m) => s + m.length, 0);
      const mb = await mbsync(dovecot, user, password, join(tmp.path, `mbsync-${name}`));
      const wx = await waxseal(dovecot, user, password, join(tmp.path, `wax-${name}`), ownKey);
      results[name] = { messages: msgs.length, bytes, waxseal: wx, mbsync: mb };
      console.log(`${name.padEnd(10)} ${msgs.length} messages, ${(bytes / 1e6).toFixed(1)} MB`);
      console.log(`  mbsync   ${fmt({ seconds: mb, messages: msgs.length, bytes })}`);
      console.log(`  waxseal  ${fmt({ seconds: wx, messages: msgs.length, bytes })}   ${(wx / mb).toFixed(2)}× mbsync's time`);
    }
    // The decryption floor: the incoming transform alone over the encrypted mailbox, one at a time and 4 at once.
    const store = await Store.open({ dir: join(tmp.path, 'floor'), keys: deriveKeys(newRootSecret()) });
    try {
      const keyring = new Keyring({ records: store.records });
      await keyring.import(ownKey);
      const t = performance.now();
      for (let i = 0; i < encrypted.length; i += 50) await Promise.all(encrypted.slice(i, i + 50).map((raw) => openIncoming(keyring, raw)));
      const s = (performance.now() - t) / 1000;
      const bytes = encrypted.reduce((x, m) => x + m.length, 0);
      console.log(`  transform alone (decrypt + verify, no fetch, no store): ${fmt({ seconds: s, messages: encrypted.length, bytes })}`);
      results.decryptOnly = { messages: encrypted.length, bytes, waxseal: s, mbsync: NaN };
    } finally {
      await store.close();
    }
    const dir = new URL('./results/', import.meta.url);
    await mkdir(dir, { recursive: true });
    await writeFile(new URL(`ingest-${new Date().toISOString().replace(/[:.]/g, '-')}.json`, dir), JSON.stringify(results, null, 2));
  } finally {
    await Promise.all([dovecot.stop(), gpg.stop(), tmp.cleanup()]);
  }
}
