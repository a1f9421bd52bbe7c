/**
 * At least 100,000 random and mutated command lines, pipelined over many sessions against a
 * real server: no crash, no hang, and the mailbox unchanged. Sessions work on a read-only
 * EXAMINE of INBOX, so even a mutation that happens to form a valid command cannot
 * legitimately change it; whatever they do, the server must keep serving everyone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { startImap, type ImapHarness } from '../harness/imap.js';
import { RawImap } from '../harness/raw-imap.js';
import { spamAssassin } from '../harness/corpus.js';

const SEEDS = [
  'FETCH 1:* (FLAGS UID)', 'UID FETCH 1:* (ENVELOPE BODYSTRUCTURE)', 'FETCH 2 BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]',
  'FETCH 1:3 (BODY.PEEK[1.MIME] BODY.PEEK[]<0.100>)', 'SEARCH OR FROM a NOT SUBJECT "x y" SINCE 1-Jan-2000',
  'UID SEARCH RETURN (MIN MAX COUNT) TEXT hello', 'SORT (REVERSE DATE SUBJECT) UTF-8 ALL', 'THREAD REFERENCES UTF-8 ALL',
  'LIST "" *', 'LIST (SUBSCRIBED) "" "%" RETURN (STATUS (MESSAGES UNSEEN))', 'STATUS INBOX (MESSAGES UIDNEXT HIGHESTMODSEQ SIZE)',
  'NOOP', 'CAPABILITY', 'ID ("name" "fuzz")', 'NAMESPACE', 'ENABLE CONDSTORE', 'EXAMINE INBOX (CONDSTORE)',
  'UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1)', 'STORE 1 +FLAGS (\\Deleted)', 'EXPUNGE', 'COPY 1:2 Nowhere', 'MOVE 1 Nowhere',
  'SEARCH CHARSET UTF-8 BODY {3+}\r\nabc', 'FETCH 1 BODY.PEEK[TEXT]<5.10>', 'CHECK', 'UID EXPUNGE 1:*', 'SELECT "&AMk-cole"',
];

function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function line(rand: () => number, n: number): string {
  const tag = `f${n}`;
  const r = rand();
  if (r < 0.08) return `${tag} ${Array.from({ length: 1 + Math.floor(rand() * 60) }, () => String.fromCharCode(Math.floor(rand() * 256))).join('')}`;
  let s = SEEDS[Math.floor(rand() * SEEDS.length)]!;
  const ops = Math.floor(rand() * 4);
  for (let i = 0; i < ops; i++) {
    const p = Math.floor(rand() * (s.length + 1));
    switch (Math.floor(rand() * 7)) {
      case 0: s = s.slice(0, p) + String.fromCharCode(Math.floor(rand() * 256)) + s.slice(p + 1); break;
      case 1: s = s.slice(0, p); break;
      case 2: s = `${s.slice(0, p)}(${s.slice(p)}`; break;
      case 3: s = `${s.slice(0, p)} 4294967296999 ${s.slice(p)}`; break;
      case 4: s = `${s.slice(0, p)}{${Math.floor(rand() * 40)}+}\r\n${s.slice(p)}`; break;
      case 5: s = `${s.slice(0, p)}\0${s.slice(p)}`; break;
      default: s = `${s.slice(0, p)}${s.slice(p, p + 20)}${s.slice(p)}`;
    }
  }
  // LOGOUT would only end the session early; it is exercised elsewhere.
  return `${tag} ${s.replace(/logout/gi, 'NOOP')}`;
}

async function digest(h: ImapHarness): Promise<string> {
  const hash = createHash('sha256');
  for (const m of h.store.mailboxes().sort((a, b) => (a.meta.name[0] < b.meta.name[0] ? -1 : 1))) {
    hash.update(`${m.meta.name[0]}|${m.uidValidity}|${m.uidNext}\n`);
    for (const e of m.entries.values()) {
      hash.update(`${e.uid}:${Object.entries(e.meta.flags).filter(([, r]) => r[0]).map(([f]) => f).join(',')}:`);
      hash.update(await h.store.read(e));
    }
  }
  return hash.digest('hex');
}

/** One session: log in, EXAMINE, pipeline `lines`, wait until the server went quiet; returns the tagged answers seen. */
async function session(h: ImapHarness, lines: string[]): Promise<number> {
  const socket: Socket = connect(h.port, '127.0.0.1');
  socket.on('error', () => undefined);
  let lastData = Date.now();
  let closed = false;
  let answered = 0;
  let carry = '';
  let finished = false;
  socket.on('data', (d: Buffer) => {
    lastData = Date.now();
    const text = carry + d.toString('latin1');
    answered += (text.match(/\r\nf\d+ (?:OK|NO|BAD) /g) ?? []).length;
    if (/\r\nzz (?:OK|NO|BAD) /.test(text)) finished = true;
    carry = text.slice(-32);
  });
  socket.on('close', () => (closed = true));
  await new Promise((r) => socket.once('data', r));
  socket.write(`a LOGIN ${h.user} "${h.password}"\r\nb EXAMINE INBOX\r\n`);
  for (let i = 0; i < lines.length && !closed; i += 200) {
    const ok = socket.write(`${lines.slice(i, i + 200).join('\r\n')}\r\n`);
    if (!ok) await new Promise((r) => { socket.once('drain', r); socket.once('close', r); });
  }
  socket.write('\r\nzz NOOP\r\n');
  // Done when the closing NOOP is answered (answers come in order). It can be eaten as
  // literal data, so a quiet server also ends the session — after 2 s, not less: on a loaded
  // machine the server can pause longer than 0.5 s while still working through the lines.
  const deadline = Date.now() + 30_000;
  while (!closed && !finished && Date.now() - lastData < 2000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  socket.destroy();
  return answered;
}

test('100,000 random and mutated command lines across sessions: no crash, no hang, mailbox unchanged', { timeout: 240_000 }, async () => {
  const h = await startImap({ maxMessageBytes: 1024 * 1024 });
  try {
    const c = await h.client();
    for (const m of spamAssassin('easy-ham-1', 12)) await c.append('INBOX', m.raw, ['\\Seen']);
    await c.logout();
    const before = await digest(h);
    const rand = rng(7);
    const total = 100_000;
    const perSession = 2_500;
    let n = 0;
    const batches: string[][] = [];
    while (n < total) batches.push(Array.from({ length: perSession }, () => line(rand, n++)));
    // Eight sessions at a time, forty in all.
    let answered = 0;
    for (let i = 0; i < batches.length; i += 8) {
      for (const a of await Promise.all(batches.slice(i, i + 8).map((b) => session(h, b)))) answered += a;
    }
    assert.equal(n, total);
    // Most lines must really have been answered (some are eaten as literal data, which is
    // what a literal announcement means), or the test would prove nothing.
    assert.ok(answered > total * 0.8, `only ${answered} of ${total} lines were answered`);
    // Still serving: a fresh session works normally, and nothing leaked.
    const probe = await RawImap.open(h.port);
    assert.match(await probe.command('p1', `LOGIN ${h.user} "${h.password}"`), /^p1 OK/m);
    assert.match(await probe.command('p2', 'SELECT INBOX'), /\* 12 EXISTS/);
    probe.close();
    assert.equal(await digest(h), before, 'the mailboxes changed');
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(h.server.connections() <= 1, `${h.server.connections()} connections left open`);
  } finally {
    await h.stop();
  }
});
