import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommandReader, type ReaderEvent, type ReaderLimits } from '../../../../src/imap/wire/reader.js';
import { parseCommandHead } from '../../../../src/imap/wire/scanner.js';
import { parseFetch } from '../../../../src/imap/wire/fetch.js';
import { parseSearch } from '../../../../src/imap/wire/search.js';
import { ImapError } from '../../../../src/imap/types.js';

const LIMITS: ReaderLimits = {
  maxLineBytes: 100,
  maxLiteralBytes: (command) => (command === 'APPEND' ? 10_000 : 50),
  literalMinus: false,
};
const reader = (over: Partial<ReaderLimits> = {}): CommandReader => new CommandReader({ ...LIMITS, ...over });
const b = (s: string): Buffer => Buffer.from(s, 'latin1');
/** Events in a comparable form: command data as latin1 text. */
const show = (events: ReaderEvent[]): unknown[] =>
  events.map((e) => (e.type === 'command' ? { command: e.data.toString('latin1') } : e));
const feed = (r: CommandReader, ...chunks: string[]): unknown[] => chunks.flatMap((c) => show(r.push(b(c))));
const cmd = (command: string): unknown => ({ command });
const CONTINUE = { type: 'continue' };
const err = (tag: string | undefined, status: 'BAD' | 'NO', code: string | undefined, fatal = false): object => ({
  type: 'error',
  tag,
  status,
  ...(code ? { code } : {}),
  fatal,
});
/** Compare error events on everything but the human text. */
const shape = (events: unknown[]): unknown[] =>
  events.map((e) => (e && typeof e === 'object' && 'text' in e ? { ...e, text: undefined } : e));
const same = (actual: unknown[], expected: unknown[]): void =>
  assert.deepEqual(shape(actual), expected.map((e) => (e && typeof e === 'object' && 'status' in e ? { ...e, text: undefined } : e)));

test('lines end in CRLF or bare LF; empty lines are ignored', () => {
  same(feed(reader(), 'a1 NOOP\r\na2 CAPABILITY\n\r\n\na3 LOGOUT\r'), [cmd('a1 NOOP'), cmd('a2 CAPABILITY')]);
  const r = reader();
  same(feed(r, 'a1 NO', 'OP', '\r', '\n'), [cmd('a1 NOOP')]);
  assert.equal(r.buffered, 0);
});

test('synchronizing literal: continuation, then the whole command as sent', () => {
  const r = reader();
  same(feed(r, 'A001 LOGIN {11}\r\n'), [CONTINUE]);
  same(feed(r, 'FRED FOOBAR {7}\r\n'), [CONTINUE]);
  same(feed(r, 'fat man\r\n'), [cmd('A001 LOGIN {11}\r\nFRED FOOBAR {7}\r\nfat man')]);
  same(feed(r, 'A2 LOGIN {0}\n {0}\r\n\r\n'), [CONTINUE, CONTINUE, cmd('A2 LOGIN {0}\n {0}\r\n')]);
});

test('non-synchronizing literals and literal8 need no continuation', () => {
  same(feed(reader(), 'A1 LOGIN {3+}\r\nbob {3+}\r\n\r\n)\r\n'), [cmd('A1 LOGIN {3+}\r\nbob {3+}\r\n\r\n)')]);
  same(feed(reader(), 'A2 APPEND INBOX ~{3+}\r\n\0\n\xff\r\n'), [cmd('A2 APPEND INBOX ~{3+}\r\n\0\n\xff')]);
  same(feed(reader(), 'A3 APPEND INBOX ~{2}\r\n', '\r\n\r\n'), [CONTINUE, cmd('A3 APPEND INBOX ~{2}\r\n\r\n')]);
});

test('a literal over the command cap is NO [TOOBIG]; nothing is kept', () => {
  const r = reader();
  same(feed(r, 'A1 LOGIN {51}\r\n'), [err('A1', 'NO', 'TOOBIG')]);
  assert.equal(r.buffered, 0);
  // The client got no continuation, so it sends the next command, not the literal.
  same(feed(r, 'A2 NOOP\r\n'), [cmd('A2 NOOP')]);
  same(feed(r, 'A3 APPEND INBOX {10000}\r\n'), [CONTINUE]);
  same(feed(r, `${'x'.repeat(10_000)}\r\n`), [cmd(`A3 APPEND INBOX {10000}\r\n${'x'.repeat(10_000)}`)]);
  // The cap covers all literals of one command together.
  same(feed(r, 'A4 LOGIN {30}\r\n', `${'u'.repeat(30)} {21}\r\n`), [CONTINUE, err('A4', 'NO', 'TOOBIG')]);
});

test('the cap is asked for by upper-case command name', () => {
  const names: string[] = [];
  const r = reader({ maxLiteralBytes: (c) => (names.push(c), 100) });
  feed(r, 'a append x {1}\r\ny\r\n', 'a uid {1}\r\n', 'x\r\n', '{1}\r\n');
  assert.deepEqual(names, ['APPEND', 'UID', '']);
});

test('an over-cap non-synchronizing literal is read and dropped with the rest of its command', () => {
  const r = reader();
  same(feed(r, 'A1 LOGIN {60+}\r\n', 'x'.repeat(30)), [err('A1', 'NO', 'TOOBIG')]);
  assert.equal(r.buffered, 0);
  same(feed(r, 'x'.repeat(30), ' {5+}\r\n12345 more\r\nA2 NOOP\r\n'), [cmd('A2 NOOP')]);
});

test('an absurd non-synchronizing literal is fatal', () => {
  const r = reader();
  same(feed(r, 'A1 LOGIN {100000000+}\r\n'), [err('A1', 'BAD', undefined, true)]);
  same(feed(r, 'A2 NOOP\r\n'), []);
  assert.equal(r.buffered, 0);
  same(feed(reader(), `A3 LOGIN {${'9'.repeat(40)}+}\r\n`), [err('A3', 'BAD', undefined, true)]);
  same(feed(reader(), `A4 LOGIN {${'9'.repeat(40)}}\r\nA5 NOOP\r\n`), [err('A4', 'NO', 'TOOBIG'), cmd('A5 NOOP')]);
});

test('LITERAL-: non-synchronizing literals over 4096 octets are refused (RFC 7888 §4)', () => {
  const big = (n: number): string => `A1 APPEND INBOX {${n}+}\r\n${'m'.repeat(n)}\r\nA2 NOOP\r\n`;
  same(feed(reader({ literalMinus: true }), big(4096)), [cmd(`A1 APPEND INBOX {4096+}\r\n${'m'.repeat(4096)}`), cmd('A2 NOOP')]);
  same(feed(reader({ literalMinus: true }), big(4097)), [err('A1', 'BAD', 'TOOBIG'), cmd('A2 NOOP')]);
  same(feed(reader({ literalMinus: false }), big(4097)), [cmd(`A1 APPEND INBOX {4097+}\r\n${'m'.repeat(4097)}`), cmd('A2 NOOP')]);
  // A synchronizing literal of any size within the cap is still fine.
  same(feed(reader({ literalMinus: true }), 'A3 APPEND INBOX {5000}\r\n'), [CONTINUE]);
});

test('a line over maxLineBytes is BAD, skipped to its end, and the next command is fine', () => {
  const r = reader();
  const long = `T1 NOOP ${'x'.repeat(200)}`;
  same(feed(r, long.slice(0, 150)), [err('T1', 'BAD', undefined)]);
  assert.ok(r.buffered <= 32);
  same(feed(r, long.slice(150), '\r\nT2 NOOP\r\n'), [cmd('T2 NOOP')]);
  // Exactly at the limit is allowed, one more byte is not, with either line end.
  const at = (n: number, end: string): string => `T3 ${'y'.repeat(n - 3)}${end}`;
  same(feed(reader(), at(100, '\r\n')), [cmd(at(100, ''))]);
  same(feed(reader(), at(100, '\n')), [cmd(at(100, ''))]);
  same(feed(reader(), at(101, '\r\n')), [err('T3', 'BAD', undefined)]);
  same(feed(reader(), at(101, '\n')), [err('T3', 'BAD', undefined)]);
  // Line ends between literals count: many small literals cannot get around the limit.
  const many = `T4 LOGIN${' {0+}\r\n'.repeat(30)}\r\nT5 NOOP\r\n`;
  same(feed(reader(), many), [err('T4', 'BAD', undefined), cmd('T5 NOOP')]);
  // A too-long line that announces a non-synchronizing literal: the literal is skipped too.
  same(feed(reader(), `T6 LOGIN ${'z'.repeat(200)} {4+}\r\nT7 X\r\nT8 NOOP\r\n`), [err('T6', 'BAD', undefined), cmd('T8 NOOP')]);
  same(feed(reader(), `${'t'.repeat(300)} NOOP\r\n`), [err(undefined, 'BAD', undefined)]);
  // Once answered, a command that then turns out to be absurd closes without a second tagged reply.
  same(feed(reader(), `T9 ${'w'.repeat(200)}`, ' {999999999+}\r\n'), [err('T9', 'BAD', undefined), err(undefined, 'BAD', undefined, true)]);
  same(feed(reader(), `U1 ${'w'.repeat(200)} {999999999+}\r\n`), [err('U1', 'BAD', undefined), err(undefined, 'BAD', undefined, true)]);
  same(feed(reader(), `U2 ${'w'.repeat(70)} {999999999+}\r\n`), [err('U2', 'BAD', undefined, true)]);
});

test('reset drops what was buffered', () => {
  const r = reader();
  feed(r, 'A1 STARTTLS\r\nA2 LOGIN {5}\r\nab');
  assert.ok(r.buffered > 0);
  r.reset();
  assert.equal(r.buffered, 0);
  same(feed(r, 'A3 NOOP\r\n'), [cmd('A3 NOOP')]);
});

const STREAMS = [
  'a1 NOOP\r\na2 LOGIN {3}\r\nbob {3+}\r\npwd\r\n\r\na3 FETCH 1 BODY[]\n',
  `A1 APPEND INBOX {60+}\r\n${'q'.repeat(60)} {70+}\r\n${'r'.repeat(70)}\r\nA2 SELECT {51}\r\nA3 NOOP\r\n`,
  `A1 NOOP ${'l'.repeat(130)} {7+}\r\nabcdefg\r\nA2 LOGIN {4}\r\nabcd {0}\r\n\r\n`,
  `A1 APPEND x {4097+}\r\n${'m'.repeat(4097)}\r\nA2 CHECK\r\nA3 LOGIN {99999999+}\r\nA4 NOOP\r\n`,
  'A1 LOGIN ~{2}\r\n\r\n {1+}\r\n\n\r\nA2 ID ("a" "{3}")\r\nA3 X {1}\nY\n',
];

test('events do not depend on where the input is split', () => {
  for (const limits of [{}, { literalMinus: true }]) {
    for (const stream of STREAMS) {
      const whole = feed(reader(limits), stream);
      assert.deepEqual(feed(reader(limits), ...stream.split('')), whole, 'byte by byte');
      for (let k = 1; k < stream.length; k++) {
        assert.deepEqual(feed(reader(limits), stream.slice(0, k), stream.slice(k)), whole, `split at ${k}`);
      }
    }
  }
});

// Quadratic buffering would take minutes here; the timeout catches it, no threshold needed.
test('a large literal pushed one byte at a time stays linear', { timeout: 60_000 }, () => {
  const r = reader({ maxLiteralBytes: () => 300_000 });
  const head = b('A1 APPEND INBOX {200000+}\r\n');
  let events: ReaderEvent[] = [];
  for (const byte of head) events = r.push(Buffer.of(byte));
  const one = Buffer.alloc(1, 0x61);
  for (let i = 0; i < 200_000; i++) r.push(one);
  events = r.push(b('\r\n'));
  assert.equal(events.length, 1);
  assert.equal((events[0] as { data: Buffer }).data.length, head.length + 200_000);
});

// --- fuzz ---------------------------------------------------------------------------------

const CORPUS = [
  'A1 LOGIN joe "s3cr\\"et"',
  'A2 LOGIN {3}\r\njoe {6+}\r\nsecret',
  'A3 SELECT INBOX',
  'A4 EXAMINE "~peter/mail/&U,BTFw-/&ZeVnLIqe-"',
  'A5 CREATE "Tom &- Jerry"',
  'A6 RENAME foo bar',
  'A7 LIST "" *',
  'A8 STATUS INBOX (MESSAGES UIDNEXT UNSEEN)',
  'A9 APPEND INBOX (\\Seen $Label) " 7-Feb-1994 21:52:25 -0800" {23}\r\nSubject: hi\r\n\r\nbody\r\n',
  'B1 APPEND Sent ~{5+}\r\na\0b\r\n',
  'B2 FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY.PEEK[HEADER.FIELDS (From To "Subject")]<0.2048>)',
  'B3 UID FETCH 4827313:4828442,* (UID BODY[1.2.MIME] BINARY.PEEK[1]<0.10> BINARY.SIZE[2]) (CHANGEDSINCE 12345 VANISHED)',
  'B4 FETCH $ ALL',
  'B5 UID SEARCH RETURN (MIN MAX COUNT) CHARSET UTF-8 OR (FROM "alice" SINCE 1-Feb-1994) NOT (KEYWORD $Junk LARGER 1024) UID 1:100',
  'B6 SEARCH MODSEQ "/flags/\\\\draft" all 620162338 HEADER X-Foo {3}\r\nbar 1,3:5 $',
  'B7 STORE 1:3 +FLAGS.SILENT (\\Deleted \\Seen)',
  'B8 UID STORE 5 FLAGS \\Answered $Forwarded',
  'B9 COPY 1:2 "Archive/2024"',
  'C1 UID MOVE 3:* Trash',
  'C2 ID ("name" "mutt" "version" NIL)',
  'C3 SEARCH SENTBEFORE "31-Dec-2023" SMALLER 4294967295 TEXT "über"',
];

function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SPICE = b(' \0\r\n{}()[]<>"\\*%$+~:,.-0123456789\x7f\x80\xc3\xa9\xffAZaz');

function mutate(rand: () => number, input: Buffer): Buffer {
  const int = (n: number): number => Math.floor(rand() * n);
  let x = input;
  for (let m = 1 + int(4); m > 0; m--) {
    const at = int(x.length + 1);
    const ins = (add: Buffer): Buffer => Buffer.concat([x.subarray(0, at), add, x.subarray(at)]);
    switch (int(12)) {
      case 0: if (x.length) { x = Buffer.from(x); x[int(x.length)] = int(256); } break;
      case 1: x = ins(Buffer.from(Array.from({ length: 1 + int(4) }, () => SPICE[int(SPICE.length)]!))); break;
      case 2: x = Buffer.concat([x.subarray(0, at), x.subarray(Math.min(x.length, at + 1 + int(10)))]); break;
      case 3: x = x.subarray(0, at); break;
      case 4: x = ins(b(['99999999999999999999999', '4294967296', '0', '18446744073709551616'][int(4)]!)); break;
      case 5: { // a literal whose announced length is sometimes off by one
        const n = int(60);
        x = ins(Buffer.concat([b(`{${n + int(3) - 1}${rand() < 0.5 ? '+' : ''}}\r\n`), Buffer.alloc(n, int(256))]));
        break;
      }
      case 6: x = ins(b(`{${['5000', '100000', '99999999999', '4097'][int(4)]}${rand() < 0.5 ? '+' : ''}}\r\n`)); break;
      case 7: x = ins(b((rand() < 0.5 ? '(' : ')').repeat(1 + int(40)))); break;
      case 8: x = ins(x.subarray(int(x.length), int(x.length) + int(20))); break;
      case 9: x = ins(b(CORPUS[int(CORPUS.length)]!)); break;
      case 10: x = ins(b(['NOT ', 'OR ALL ', '(', 'BODY[', '1.', '\\'][int(6)]!.repeat(1 + int(200)))); break;
      default: x = ins(b(rand() < 0.5 ? '\r\n' : '\n'));
    }
  }
  return x;
}

/** What the command handlers will do with a command: anything but an ImapError is a bug. */
function exercise(data: Buffer, esearch: boolean): void {
  try {
    const { name, scanner: s } = parseCommandHead(data);
    let cmdName = name;
    if (name === 'UID') {
      s.sp();
      cmdName = s.atomUpper();
    }
    s.spUnlessConsumed();
    switch (cmdName) {
      case 'FETCH': s.sequenceSet(); s.sp(); parseFetch(s); break;
      case 'SEARCH': parseSearch(s, { esearch }); break;
      case 'STORE': s.sequenceSet(); s.sp(); s.atom(); s.sp(); s.flagList(); break;
      case 'APPEND':
        s.mailbox(); s.sp();
        if (s.peek() === 0x28) { s.flagList(); s.sp(); }
        if (s.peek() === 0x22) { s.dateTime(); s.sp(); }
        s.string();
        break;
      case 'LOGIN': s.astring(); s.sp(); s.astring(); break;
      case 'RENAME': s.mailbox(); s.sp(); s.mailbox(); break;
      case 'LIST': s.mailbox(); s.sp(); s.listMailbox(); break;
      case 'STATUS': s.mailbox(); s.sp(); s.list((x) => x.atom()); break;
      case 'COPY': case 'MOVE': s.sequenceSet(); s.sp(); s.mailbox(); break;
      case 'ID': if (s.peek() === 0x28) s.list((x) => x.nstring()); else s.nstring(); break;
      default: s.mailbox(); s.date(); s.number64();
    }
    s.end();
  } catch (e) {
    if (!(e instanceof ImapError)) throw e;
  }
}

test('fuzz: mutated and random commands never throw anything but ImapError, hang or hoard memory', { timeout: 300_000 }, (t) => {
  const rand = mulberry32(0x5eed);
  const int = (n: number): number => Math.floor(rand() * n);
  const limits: ReaderLimits = { maxLineBytes: 2000, maxLiteralBytes: (c) => (c === 'APPEND' ? 20_000 : 1000), literalMinus: false };
  const bound = limits.maxLineBytes + 2 + 20_000;
  const TOTAL = 110_000;
  let r = new CommandReader(limits);
  let slowest = 0;
  let commands = 0;
  let errors = 0;
  const start = performance.now();
  for (let n = 0; n < TOTAL; n++) {
    const t0 = performance.now();
    let input: Buffer;
    if (n % 10 === 9) input = Buffer.from(Array.from({ length: int(120) }, () => (rand() < 0.5 ? SPICE[int(SPICE.length)]! : int(256))));
    else input = mutate(rand, b(CORPUS[int(CORPUS.length)]!));
    if (rand() < 0.9) input = Buffer.concat([input, b('\r\n')]);
    if (n % 100 === 0) r = new CommandReader({ ...limits, literalMinus: n % 200 === 0 });
    const esearch = (n & 1) === 0;
    exercise(input, esearch); // the parsers also see unframed garbage
    for (let i = 0; i < input.length; ) {
      const size = rand() < 0.3 ? input.length : 1 + int(16);
      for (const e of r.push(input.subarray(i, i + size))) {
        if (e.type === 'command') {
          commands++;
          exercise(e.data, esearch);
        } else if (e.type === 'error') {
          errors++;
          if (e.fatal) r = new CommandReader(limits);
        }
      }
      assert.ok(r.buffered <= bound, `buffered ${r.buffered} > ${bound}`);
      i += size;
    }
    slowest = Math.max(slowest, performance.now() - t0);
  }
  const seconds = (performance.now() - start) / 1000;
  assert.ok(commands > TOTAL / 2, `only ${commands} commands were framed`);
  assert.ok(errors > 0);
  // No timing threshold (a GC pause on a loaded machine is not a bug); a pathological input
  // would show as a hang, which the test's own timeout catches.
  t.diagnostic(`fuzz: ${TOTAL} inputs, ${commands} commands, ${errors} reader errors in ${seconds.toFixed(2)} s ` +
    `(${Math.round(TOTAL / seconds)} inputs/s, slowest ${slowest.toFixed(2)} ms)`);
});
