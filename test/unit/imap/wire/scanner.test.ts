import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Scanner, parseCommandHead, type TaggedParseError } from '../../../../src/imap/wire/scanner.js';
import { ParseError } from '../../../../src/imap/types.js';

const sc = (s: string | Buffer): Scanner => new Scanner(typeof s === 'string' ? Buffer.from(s) : s);
const bad = (fn: () => unknown, what?: string): void => assert.throws(fn, ParseError, what);

test('parseCommandHead: tag and upper-cased name; UID stays a prefix', () => {
  const h = parseCommandHead(Buffer.from('a001 login joe secret'));
  assert.equal(h.tag, 'a001');
  assert.equal(h.name, 'LOGIN');
  h.scanner.sp();
  assert.equal(h.scanner.astring(), 'joe');

  const u = parseCommandHead(Buffer.from('A999 UID fetch 4827313:4828442 FLAGS'));
  assert.equal(u.name, 'UID');
  u.scanner.sp();
  assert.equal(u.scanner.atomUpper(), 'FETCH');

  const n = parseCommandHead(Buffer.from('x] NOOP'));
  assert.equal(n.tag, 'x]'); // resp-specials are allowed in tags
  assert.ok(n.scanner.atEnd());
});

test('parseCommandHead: errors carry the tag when there is one', () => {
  for (const [input, tag] of [
    ['', undefined],
    ['+ NOOP', undefined],
    ['* NOOP', undefined],
    ['(A) NOOP', undefined],
    ['A1', 'A1'],
    ['A1 ', 'A1'],
    ['A1  NOOP', 'A1'],
    ['A1 (NOOP', 'A1'],
  ] as const) {
    try {
      parseCommandHead(Buffer.from(input));
      assert.fail(`no error for ${JSON.stringify(input)}`);
    } catch (err) {
      assert.ok(err instanceof ParseError);
      assert.equal((err as TaggedParseError).tag, tag, JSON.stringify(input));
    }
  }
});

test('errors name the grammar, never the client data', () => {
  const s = sc('LOGIN joe hunter2 extra');
  s.atom();
  s.sp();
  s.astring();
  s.sp();
  s.astring();
  assert.throws(() => s.end(), (e: Error) => e instanceof ParseError && /^Unexpected SP after astring$/.test(e.message));
  assert.throws(() => sc('"hunter2').string(), (e: Error) => !e.message.includes('hunter2'));
});

test('sp, end, tryChar, expect, peek, rest', () => {
  const s = sc('A (B)');
  assert.equal(s.peek(), 0x41);
  assert.equal(s.atom(), 'A');
  s.sp();
  bad(() => s.sp());
  assert.equal(s.tryChar(')'), false);
  s.expect('(');
  assert.equal(s.rest(), 'B)');
  bad(() => s.end());
  s.atom();
  s.expect(')');
  s.end();
  assert.equal(s.peek(), -1);
  assert.equal(s.pos, 5);
});

test('atom, tag and numbers', () => {
  assert.equal(sc('Fo.o-1[x y').atom(), 'Fo.o-1[x');
  assert.equal(sc('fetch').atomUpper(), 'FETCH');
  bad(() => sc('"x"').atom());
  bad(() => sc('\xe9t\xe9').atom()); // 8-bit is not ATOM-CHAR (Dovecot: "8bit data in atom")
  bad(() => {
    const s = sc('caf\xe9');
    s.atom();
    s.end();
  });
  assert.equal(sc('A+1 x').tag(), 'A');
  assert.equal(sc('0').number(), 0);
  assert.equal(sc('007').number(), 7);
  assert.equal(sc('4294967295').number(), 4294967295);
  bad(() => sc('4294967296').number());
  bad(() => sc('99999999999999999999999999').number());
  bad(() => sc('x').number());
  bad(() => sc('0').nzNumber());
  assert.equal(sc('12').nzNumber(), 12);
  assert.equal(sc('9007199254740991').number64(), Number.MAX_SAFE_INTEGER);
  bad(() => sc('9007199254740992').number64());
  bad(() => sc('9223372036854775807').number64()); // valid MODSEQ, but past what a JS number holds
});

test('quoted strings', () => {
  assert.equal(sc('"a \\"b\\" \\\\c"').string().toString(), 'a "b" \\c');
  assert.equal(sc('""').string().length, 0);
  assert.equal(sc('"ünï"').astring(), 'ünï'); // UTF-8 in quoted strings (RFC 6855)
  bad(() => sc('"open').string());
  bad(() => sc('"a\\b"').string()); // only quoted-specials may be escaped
  bad(() => sc('"a\r\nb"').string());
  bad(() => sc(Buffer.from('"a\0b"', 'latin1')).string());
  bad(() => sc('"\\').string());
});

test('every literal form', () => {
  assert.equal(sc('{5}\r\nhello').string().toString(), 'hello');
  assert.equal(sc('{5+}\r\nhello').string().toString(), 'hello');
  assert.equal(sc('{5}\nhello').string().toString(), 'hello'); // bare LF, as the reader accepts
  assert.equal(sc('{0}\r\n').string().length, 0);
  assert.deepEqual([...sc(Buffer.from('~{3}\r\n\0\x01\xff', 'latin1')).string()], [0, 1, 255]);
  assert.equal(sc('~{2+}\r\nab').string().toString(), 'ab');
  const s = sc('{3}\r\n( )) rest');
  assert.equal(s.string().toString(), '( )');
  assert.equal(s.rest(), ') rest');
  bad(() => sc('{6}\r\nhello').string());
  bad(() => sc('{5}hello').string());
  bad(() => sc('{5\r\nhello').string());
  bad(() => sc('{}\r\n').string());
  bad(() => sc('{99999999999999999999}\r\nx').string());
  bad(() => sc('~5').string());
});

test('astring, astringBytes and nstring', () => {
  assert.equal(sc('foo]bar baz').astring(), 'foo]bar');
  assert.equal(sc('"two words"').astring(), 'two words');
  assert.equal(sc('{3}\r\nabc').astring(), 'abc');
  assert.deepEqual([...sc(Buffer.from('{2}\r\n\xff\xfe', 'latin1')).astringBytes()], [0xff, 0xfe]);
  bad(() => sc(Buffer.from('{2}\r\n\xff\xfe', 'latin1')).astring()); // invalid UTF-8
  bad(() => sc('(x)').astring());
  bad(() => sc('').astring());
  assert.equal(sc('NIL').nstring(), null);
  assert.equal(sc('nil)').nstring(), null);
  assert.equal(sc('"NIL"').nstring(), 'NIL');
  assert.equal(sc('{1}\r\nx').nstring(), 'x');
  bad(() => sc('foo').nstring());
  bad(() => sc('NILS').nstring());
});

test('mailbox: INBOX in any case, modified UTF-7 decoded, UTF-8 accepted', () => {
  assert.equal(sc('inbox').mailbox(), 'INBOX');
  assert.equal(sc('"InBoX"').mailbox(), 'INBOX');
  assert.equal(sc('INBOX/sub').mailbox(), 'INBOX/sub');
  assert.equal(sc('inbox.sub').mailbox(), 'inbox.sub');
  assert.equal(sc('~peter/mail/&U,BTFw-/&ZeVnLIqe-').mailbox(), '~peter/mail/台北/日本語');
  assert.equal(sc('"Tom &- Jerry"').mailbox(), 'Tom & Jerry');
  assert.equal(sc('"Entwürfe"').mailbox(), 'Entwürfe');
  assert.equal(sc('""').mailbox(), '');
  assert.equal(sc('"\u0131nbox"').mailbox(), '\u0131nbox'); // dotless i upper-cases to I, yet is not INBOX
  bad(() => sc('a&b').mailbox());
  bad(() => sc('"a\x01b"').mailbox());
  bad(() => sc('{3}\r\na\tb').mailbox());
});

test('listMailbox keeps wildcards', () => {
  assert.equal(sc('*').listMailbox(), '*');
  assert.equal(sc('INBOX/%').listMailbox(), 'INBOX/%');
  assert.equal(sc('"" rest').listMailbox(), '');
  assert.equal(sc('&U,BTFw-/*').listMailbox(), '台北/*');
  bad(() => sc('(x)').listMailbox());
});

test('flags and flag lists', () => {
  assert.equal(sc('\\seen').flag(), '\\Seen');
  assert.equal(sc('\\ANSWERED').flag(), '\\Answered');
  assert.equal(sc('\\Draft').flag(), '\\Draft');
  assert.equal(sc('\\Custom').flag(), '\\Custom');
  assert.equal(sc('$Forwarded').flag(), '$Forwarded');
  bad(() => sc('\\').flag());
  bad(() => sc('"x"').flag());
  assert.deepEqual(sc('(\\Seen \\deleted $Label)').flagList(), ['\\Seen', '\\Deleted', '$Label']);
  assert.deepEqual(sc('()').flagList(), []);
  assert.deepEqual(sc('\\Seen').flagList(), ['\\Seen']);
  assert.deepEqual(sc('\\Seen \\Flagged foo').flagList(), ['\\Seen', '\\Flagged', 'foo']); // STORE's bare form
  bad(() => sc('(\\Seen').flagList());
  bad(() => sc('(\\Seen )').flagList());
  bad(() => sc('( \\Seen)').flagList());
});

test('sequence sets', () => {
  assert.deepEqual(sc('1:*').sequenceSet(), { ranges: [[1, Infinity]] });
  assert.deepEqual(sc('*').sequenceSet(), { ranges: [[Infinity, Infinity]] });
  assert.deepEqual(sc('3,5:7,9:2').sequenceSet(), { ranges: [[3, 3], [5, 7], [9, 2]] });
  assert.deepEqual(sc('$').sequenceSet(), { ranges: [], saved: true });
  const s = sc('2:4 FLAGS');
  s.sequenceSet();
  assert.equal(s.rest(), ' FLAGS');
  for (const b of ['0', '1:0', '', ',1', '1,', '1:', ':1', '4294967296', 'a', '$,1']) {
    const x = sc(b);
    assert.throws(() => {
      x.sequenceSet();
      x.end();
    }, ParseError, b);
  }
});

test('date-time (APPEND)', () => {
  assert.equal(sc('"17-Jul-1996 02:44:25 -0700"').dateTime().toISOString(), '1996-07-17T09:44:25.000Z');
  assert.equal(sc('" 7-Feb-1994 21:52:25 +0100"').dateTime().toISOString(), '1994-02-07T20:52:25.000Z');
  assert.equal(sc('"7-feb-1994 21:52:25 +0000"').dateTime().toISOString(), '1994-02-07T21:52:25.000Z');
  assert.equal(sc('"29-Feb-2024 00:00:00 +0530"').dateTime().toISOString(), '2024-02-28T18:30:00.000Z');
  assert.equal(sc('"01-Jan-0099 00:00:00 +0000"').dateTime().getUTCFullYear(), 99);
  for (const b of [
    '17-Jul-1996 02:44:25 -0700', // not quoted
    '"29-Feb-2023 00:00:00 +0000"',
    '"32-Jan-2020 00:00:00 +0000"',
    '"00-Jan-2020 00:00:00 +0000"',
    '"17-Jux-1996 02:44:25 -0700"',
    '"17-Jul-96 02:44:25 -0700"',
    '"17-Jul-1996 24:00:00 -0700"',
    '"17-Jul-1996 02:60:00 -0700"',
    '"17-Jul-1996 02:44:25 0700"',
    '"17-Jul-1996 02:44:25 -07"',
    '"17-Jul-1996 02:44:25 -0760"',
    '"17-Jul-1996 2:44:25 -0700"',
    '"17-Jul-1996 02:44:25 -0700',
  ]) {
    bad(() => sc(b).dateTime(), b);
  }
});

test('search date', () => {
  assert.equal(sc('1-Feb-1994').date(), '1994-02-01');
  assert.equal(sc('"01-feb-1994"').date(), '1994-02-01');
  assert.equal(sc('29-Feb-2000').date(), '2000-02-29');
  for (const b of ['29-Feb-1900', '1-Feb-94', '123-Feb-1994', '"1-Feb-1994', 'Feb-1-1994', '1 Feb 1994']) {
    bad(() => sc(b).date(), b);
  }
});

test('list', () => {
  assert.deepEqual(sc('(a b c)').list((s) => s.atom()), ['a', 'b', 'c']);
  assert.deepEqual(sc('()').list((s) => s.atom()), []);
  assert.deepEqual(sc('(1 (2 3))').list((s) => (s.peek() === 0x28 ? s.list((t) => t.number()) : s.number())), [1, [2, 3]]);
  bad(() => sc('(a b').list((s) => s.atom()));
  bad(() => sc('a b)').list((s) => s.atom()));
  bad(() => sc('(a  b)').list((s) => s.atom()));
});

test('spUnlessConsumed accepts either convention but never two spaces', () => {
  const a = sc('X Y');
  a.atom();
  a.spUnlessConsumed();
  assert.equal(a.atom(), 'Y');
  const b = sc('X Y');
  b.atom();
  b.sp();
  b.spUnlessConsumed();
  assert.equal(b.atom(), 'Y');
  const c = sc('X  Y');
  c.atom();
  c.sp();
  c.spUnlessConsumed();
  bad(() => c.atom());
});
