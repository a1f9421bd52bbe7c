/**
 * mbsync (isync 1.4) against the Waxseal IMAP server: a full pull of 1,000 messages into a
 * Maildir, then a two-way incremental sync of flags, deletions and new mail on both sides, then
 * a sync with nothing to do. Traffic is measured from mbsync's own protocol trace (`-Dn`: every
 * command it sends, without payloads): 1.4 prints its progress counters only to a terminal and
 * has no final stats line.
 *
 * mbsync facts the assertions pin down: it writes Maildir files with LF line ends and inserts
 * one `X-TUID:` line at the end of the header of every message it copies, in both directions
 * (even when the server answers APPENDUID); the `,U=` in a Maildir file name is mbsync's own
 * near-side UID, paired with the server UID only in .mbsyncstate; flags map D=\Draft
 * F=\Flagged R=\Answered S=\Seen T=\Deleted; with `Expunge Both` a deleted file or a T flag
 * becomes STORE +\Deleted and CLOSE on the server, and a server expunge removes the file.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile, rename, rm, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startImap, type ImapHarness } from '../harness/imap.js';
import { spamAssassin, type CorpusMessage } from '../harness/corpus.js';
import { makeTempDir, outputOf, run, type TempDir } from '../harness/tmp.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const toLf = (b: Buffer) => Buffer.from(b.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
const toCrlf = (b: Buffer) => Buffer.from(b.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');

/** Split off the `X-TUID: <12 chars>` line mbsync puts right before the header's blank line. */
function splitTuid(b: Buffer, eol: '\n' | '\r\n'): { rest: Buffer; tuid: string | undefined } {
  const s = b.toString('latin1');
  const end = s.indexOf(eol + eol);
  const prev = end < 0 ? -1 : s.lastIndexOf(eol, end - 1);
  const start = prev < 0 ? 0 : prev + eol.length;
  const line = end < 0 ? '' : s.slice(start, end);
  if (!/^X-TUID: \S{12}$/.test(line)) return { rest: b, tuid: undefined };
  return { rest: Buffer.from(s.slice(0, start) + s.slice(end + eol.length), 'latin1'), tuid: line.slice(8) };
}

/** What mbsync wrote to the Maildir for a message appended as `raw`: equal to its LF form. */
async function assertPulled(file: string, raw: Buffer, what: string): Promise<boolean> {
  const got = await readFile(file);
  const { rest, tuid } = splitTuid(got, '\n');
  const want = toLf(raw);
  if (!rest.equals(want)) {
    let at = 0;
    while (at < want.length && rest[at] === want[at]) at++;
    const around = (x: Buffer) => JSON.stringify(x.subarray(Math.max(0, at - 40), at + 40).toString('latin1'));
    assert.fail(`${what} differs at byte ${at} of ${want.length} (got ${rest.length}): want ${around(want)} got ${around(rest)}`);
  }
  return tuid !== undefined;
}

const LETTER: Record<string, string> = { '\\Draft': 'D', '\\Flagged': 'F', '\\Answered': 'R', '\\Seen': 'S', '\\Deleted': 'T' };

let h: ImapHarness;
let tmp: TempDir;
let rc: string;
let inboxDir: string;
const msgs: CorpusMessage[] = [...spamAssassin('easy-ham-1', 500), ...spamAssassin('easy-ham-2', 500)];
const expectedByUid = new Map<number, Buffer>(); // server UID → the bytes appended

before(async () => {
  h = await startImap();
  tmp = await makeTempDir('waxseal-mbsync-');
  const imported = await h.store.import(h.store.mailboxByName('INBOX')!.logical, msgs.map((m) => ({ raw: m.raw })));
  imported.forEach((r, i) => {
    assert.ok(r.uid !== undefined, `import gave no UID for message ${i}`);
    expectedByUid.set(r.uid, msgs[i]!.raw);
  });
  inboxDir = join(tmp.path, 'mail', 'INBOX');
  rc = join(tmp.path, 'mbsyncrc');
  await mkdir(join(tmp.path, 'mail'));
  const config = `
IMAPAccount waxseal
Host 127.0.0.1
Port ${h.port}
User "${h.user}"
Pass "${h.password}"
# isync 1.4 spelling; 1.5 calls it TLSType
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account waxseal

MaildirStore local
Path ${join(tmp.path, 'mail')}/
Inbox ${inboxDir}

Channel box
Far :remote:
Near :local:
Patterns INBOX
Sync All
Create Near
Expunge Both
SyncState *
`;
  await writeFile(rc, config);
});

after(async () => {
  try {
    await h?.stop();
  } finally {
    await tmp?.cleanup();
  }
});

interface Trace {
  output: string;
  /** Every IMAP command mbsync sent, without tag. */
  commands: string[];
}

async function mbsync(): Promise<Trace> {
  let output: string;
  try {
    const r = await run('mbsync', ['-c', rc, '-a', '-Dn'], {
      timeout: 120_000,
      killSignal: 'SIGKILL',
      maxBuffer: 256 * 1024 * 1024,
      env: { ...process.env, HOME: tmp.path },
    });
    output = `${r.stdout}\n${r.stderr}`;
  } catch (err) {
    throw new Error(`mbsync failed: ${(err as Error).message}\n${outputOf(err).slice(-4000)}`);
  }
  assert.doesNotMatch(output, /IMAP error|Error:|BAD /, output.slice(-2000));
  const commands = [...output.matchAll(/^(?:\(\d+ in progress\) )?>>> \d+ (.*)$/gm)].map((m) => m[1]!);
  return { output, commands };
}

function uidSet(set: string): number[] {
  return set.split(',').flatMap((part) => {
    const [a, b] = part.split(':').map(Number) as [number, number | undefined];
    return b === undefined ? [a] : Array.from({ length: b - a + 1 }, (_, i) => a + i);
  });
}

/** UIDs whose whole message mbsync downloaded. */
function bodyFetches(t: Trace): number[] {
  return t.commands.flatMap((c) => {
    const m = /^UID FETCH (\S+) \(.*(?:BODY(?:\.PEEK)?\[\]|RFC822[ )])/.exec(c);
    return m ? uidSet(m[1]!) : [];
  });
}

/** "uid +\Flag" for every flag change mbsync sent. */
function stores(t: Trace): string[] {
  return t.commands
    .flatMap((c) => {
      const m = /^UID STORE (\S+) ([+-])FLAGS\.SILENT \((.*)\)$/.exec(c);
      return m ? uidSet(m[1]!).flatMap((u) => m[3]!.split(' ').map((f) => `${u} ${m[2]}${f}`)) : [];
    })
    .sort();
}

interface MaildirMsg {
  file: string;
  /** The near-side (Maildir) UID from the file name: mbsync numbers the Maildir itself. */
  near: number | undefined;
  flags: string;
}

async function maildir(): Promise<MaildirMsg[]> {
  const out: MaildirMsg[] = [];
  for (const sub of ['new', 'cur']) {
    for (const name of await readdir(join(inboxDir, sub))) {
      const near = /,U=(\d+)/.exec(name)?.[1];
      out.push({ file: join(inboxDir, sub, name), near: near === undefined ? undefined : Number(near), flags: /:2,([A-Za-z]*)$/.exec(name)?.[1] ?? '' });
    }
  }
  return out;
}

/**
 * The Maildir file of every far (server) UID, through mbsync's own pairing in .mbsyncstate
 * ("far near flags" lines after the header). Every file must be paired and every pair present.
 */
async function byFar(strict = true): Promise<Map<number, MaildirMsg>> {
  const state = await readFile(join(inboxDir, '.mbsyncstate'), 'utf8');
  const files = new Map((await maildir()).map((m) => [m.near, m]));
  const out = new Map<number, MaildirMsg>();
  for (const [, far, near] of state.split('\n\n')[1]!.matchAll(/^(\d+) (\d+) /gm)) {
    const m = files.get(Number(near));
    if (strict) assert.ok(Number(far) > 0 && m, `unpaired state line ${far} ${near}`);
    if (m) out.set(Number(far), m);
    files.delete(Number(near));
  }
  if (strict) assert.deepEqual([...files.values()].map((m) => m.file), [], 'Maildir files mbsync does not know');
  return out;
}

async function local(far: number): Promise<MaildirMsg> {
  const m = (await byFar(false)).get(far);
  assert.ok(m, `no Maildir file for UID ${far}`);
  return m;
}

/** Set a message's Maildir flags the way a mail reader does: move to cur/, rewrite the info. */
async function setLocalFlags(far: number, flags: string): Promise<void> {
  const m = await local(far);
  const base = m.file.split('/').pop()!.replace(/:2,.*$/, '');
  await rename(m.file, join(inboxDir, 'cur', `${base}:2,${[...flags].sort().join('')}`));
}

/** Server UID → flags as Maildir letters (only the flags Maildir can hold). */
async function serverFlags(): Promise<Map<number, string>> {
  const c = await h.client();
  const lock = await c.getMailboxLock('INBOX');
  const out = new Map<number, string>();
  try {
    for await (const m of c.fetch('1:*', { uid: true, flags: true })) {
      out.set(m.uid, [...(m.flags ?? [])].map((f) => LETTER[f] ?? '').sort().join(''));
    }
  } finally {
    lock.release();
    await c.logout();
  }
  return out;
}

test('first sync pulls 1,000 messages byte-exact (CRLF → LF) into the Maildir', async (t) => {
  const started = Date.now();
  const trace = await mbsync();
  const ms = Date.now() - started;
  const fetched = bodyFetches(trace);
  assert.equal(fetched.length, 1000, 'each message downloaded exactly once');
  assert.deepEqual([...new Set(fetched)].sort((a, b) => a - b), [...expectedByUid.keys()].sort((a, b) => a - b));
  assert.equal(trace.commands.filter((c) => /^(APPEND|UID STORE)/.test(c)).length, 0, 'nothing to push');

  const files = await maildir();
  assert.equal(files.length, 1000);
  const pairs = await byFar();
  assert.deepEqual([...pairs.keys()].sort((a, b) => a - b), [...expectedByUid.keys()].sort((a, b) => a - b));
  let tuids = 0;
  for (const [far, f] of pairs) {
    assert.equal(f.flags, '');
    if (await assertPulled(f.file, expectedByUid.get(far)!, `UID ${far}`)) tuids++;
  }
  // Independent of the UID mapping: the Maildir holds exactly the appended messages.
  const multiset = (bs: Buffer[]) => bs.map(sha).sort();
  const stored = await Promise.all(files.map(async (f) => splitTuid(await readFile(f.file), '\n').rest));
  assert.deepEqual(multiset(stored), multiset(msgs.map((m) => toLf(m.raw))));
  t.diagnostic(`mbsync first sync of 1000 messages: ${ms} ms, ${trace.commands.length} commands, X-TUID added to ${tuids}`);
});

test('second sync carries flags, deletions and new mail both ways and nothing else', async (tc) => {
  // Far side: flags, one expunge, two new messages.
  const c = await h.client();
  const newFar = spamAssassin('spam-1', 2);
  const newFarUids: number[] = [];
  await c.mailboxOpen('INBOX');
  await c.messageFlagsAdd('1:5', ['\\Seen'], { uid: true });
  await c.messageFlagsAdd('6:8', ['\\Flagged'], { uid: true });
  await c.messageFlagsAdd('9', ['\\Answered', '\\Seen'], { uid: true });
  assert.ok(await c.messageDelete('30', { uid: true }));
  for (const m of newFar) {
    const r = await c.append('INBOX', m.raw);
    assert.ok(r && r.uid, 'APPENDUID expected');
    newFarUids.push(r.uid);
    expectedByUid.set(r.uid, m.raw);
  }
  await c.logout();

  // Near side: flags, a deleted file, a message marked trashed, and a new message.
  for (const u of [11, 12, 13]) await setLocalFlags(u, 'F');
  for (const u of [14, 15]) await setLocalFlags(u, 'S');
  await setLocalFlags(16, 'RS');
  await rm((await local(20)).file);
  await setLocalFlags(21, 'T');
  const upload = Buffer.from(
    'From: Near Side <near@example.org>\nTo: alice@example.org\nSubject: written in the Maildir\nMessage-ID: <near-1@example.org>\n\nUploaded by mbsync.\n',
  );
  await writeFile(join(inboxDir, 'new', '1700000000.P1Q1.waxseal-test'), upload);

  const started = Date.now();
  const t = await mbsync();
  tc.diagnostic(`mbsync incremental sync: ${Date.now() - started} ms, ${t.commands.length} commands`);
  assert.deepEqual(bodyFetches(t).sort((a, b) => a - b), newFarUids, 'only the two new far messages are downloaded');
  assert.equal(t.commands.filter((cmd) => cmd.startsWith('APPEND')).length, 1, 'only the new near message is uploaded');
  assert.deepEqual(
    stores(t),
    ['11 +\\Flagged', '12 +\\Flagged', '13 +\\Flagged', '14 +\\Seen', '15 +\\Seen', '16 +\\Answered', '16 +\\Seen', '20 +\\Deleted', '21 +\\Deleted'].sort(),
  );

  // Both sides now hold the same messages with the same flags.
  const far = await serverFlags();
  const pairs = await byFar();
  assert.equal(far.size, 1000 - 3 + 3);
  assert.deepEqual([...pairs.keys()].sort((a, b) => a - b), [...far.keys()].sort((a, b) => a - b));
  for (const gone of [20, 21, 30]) assert.ok(!far.has(gone), `UID ${gone} still on the server`);
  const sorted = (m: Map<number, string>) => [...m].sort((a, b) => a[0] - b[0]);
  assert.deepEqual(sorted(new Map([...pairs].map(([u, m]) => [u, m.flags]))), sorted(far));
  for (const [u, f] of [[1, 'S'], [6, 'F'], [9, 'RS'], [11, 'F'], [14, 'S'], [16, 'RS'], [17, '']] as const) assert.equal(far.get(u), f, `flags of UID ${u}`);

  // The new far messages arrived intact.
  for (const u of newFarUids) await assertPulled(pairs.get(u)!.file, expectedByUid.get(u)!, `new UID ${u}`);

  // The uploaded message: mbsync renamed it with its new UID and left its bytes alone; the
  // server copy is its CRLF form plus the one X-TUID header line mbsync inserts.
  const pushed = [...pairs].find(([, m]) => m.file.includes('/1700000000.P1Q1.waxseal-test,U='));
  assert.ok(pushed, 'the uploaded file was paired with a server UID');
  assert.ok(!newFarUids.includes(pushed[0]));
  assert.ok((await readFile(pushed[1].file)).equals(upload));
  const c2 = await h.client();
  const lock = await c2.getMailboxLock('INBOX');
  try {
    const fetched = await c2.fetchOne(String(pushed[0]), { source: true }, { uid: true });
    assert.ok(fetched && fetched.source);
    const { rest, tuid } = splitTuid(fetched.source, '\r\n');
    assert.equal(rest.toString('latin1'), toCrlf(upload).toString('latin1'));
    assert.ok(tuid, 'isync 1.4 adds an X-TUID line to uploads (if this fails, the version changed)');
  } finally {
    lock.release();
  }
});

test('third sync with no changes transfers nothing', async () => {
  const before = (await maildir()).map((m) => m.file).sort();
  const t = await mbsync();
  assert.deepEqual(bodyFetches(t), []);
  assert.deepEqual(stores(t), []);
  assert.equal(t.commands.filter((c) => /^(APPEND|EXPUNGE|UID EXPUNGE)/.test(c)).length, 0);
  assert.deepEqual((await maildir()).map((m) => m.file).sort(), before);
});
