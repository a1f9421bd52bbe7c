import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSearch } from '../../../../src/imap/wire/search.js';
import { parseCommandHead } from '../../../../src/imap/wire/scanner.js';
import { ImapError, ParseError } from '../../../../src/imap/types.js';
import type { SearchKey } from '../../../../src/imap/types.js';

function search(line: string, esearch = true): ReturnType<typeof parseSearch> {
  const { name, scanner: s } = parseCommandHead(Buffer.from(line));
  if (name === 'UID') {
    s.sp();
    assert.equal(s.atomUpper(), 'SEARCH');
  }
  return parseSearch(s, { esearch });
}
const key = (criteria: string): SearchKey => search(`a SEARCH ${criteria}`).key;
const and = (...keys: SearchKey[]): SearchKey => ({ kind: 'and', keys });

test('RFC 3501 §6.4.4 examples', () => {
  assert.deepEqual(search('A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"'), {
    key: and(
      { kind: 'flag', flag: '\\Flagged', set: true },
      { kind: 'date', which: 'internal', op: 'since', date: '1994-02-01' },
      { kind: 'not', key: { kind: 'header', field: 'From', value: 'Smith' } },
    ),
  });
  assert.deepEqual(search('A283 SEARCH TEXT "string not in mailbox"').key, { kind: 'text', value: 'string not in mailbox' });
  assert.deepEqual(search('A284 SEARCH CHARSET UTF-8 TEXT {6}\r\nXXXXXX'), {
    charset: 'UTF-8',
    key: { kind: 'text', value: 'XXXXXX' },
  });
});

test('flag keys', () => {
  const f = (flag: string, set: boolean): SearchKey => ({ kind: 'flag', flag, set });
  const all = (set: boolean): SearchKey[] => ['\\Answered', '\\Deleted', '\\Draft', '\\Flagged', '\\Seen'].map((x) => f(x, set));
  assert.deepEqual(key('ANSWERED DELETED DRAFT FLAGGED SEEN'), and(...all(true)));
  assert.deepEqual(key('unanswered undeleted undraft unflagged unseen'), and(...all(false)));
  assert.deepEqual(key('KEYWORD $Junk UNKEYWORD work'), and(f('$Junk', true), f('work', false)));
  assert.deepEqual(key('NEW OLD RECENT ALL'), and({ kind: 'new' }, { kind: 'old' }, { kind: 'recent', set: true }, { kind: 'all' }));
  assert.throws(() => key('KEYWORD \\Seen'), ParseError);
});

test('header, body and text keys', () => {
  assert.deepEqual(key('FROM a TO b CC c BCC d SUBJECT "e f"'), and(
    { kind: 'header', field: 'From', value: 'a' },
    { kind: 'header', field: 'To', value: 'b' },
    { kind: 'header', field: 'Cc', value: 'c' },
    { kind: 'header', field: 'Bcc', value: 'd' },
    { kind: 'header', field: 'Subject', value: 'e f' },
  ));
  assert.deepEqual(key('HEADER Message-ID "<x@y>"'), { kind: 'header', field: 'Message-ID', value: '<x@y>' });
  assert.deepEqual(key('HEADER X-Empty ""'), { kind: 'header', field: 'X-Empty', value: '' });
  assert.deepEqual(key('BODY "caf\u00e9"'), { kind: 'body', value: 'café' });
});

test('dates, sizes, sets, UID and MODSEQ', () => {
  assert.deepEqual(key('BEFORE 1-Jan-2020 ON "2-Jan-2020" SENTBEFORE 3-Jan-2020 SENTON 4-Jan-2020 SENTSINCE 5-Jan-2020'), and(
    { kind: 'date', which: 'internal', op: 'before', date: '2020-01-01' },
    { kind: 'date', which: 'internal', op: 'on', date: '2020-01-02' },
    { kind: 'date', which: 'sent', op: 'before', date: '2020-01-03' },
    { kind: 'date', which: 'sent', op: 'on', date: '2020-01-04' },
    { kind: 'date', which: 'sent', op: 'since', date: '2020-01-05' },
  ));
  assert.deepEqual(key('LARGER 1024 SMALLER 4294967295'), and({ kind: 'size', op: 'larger', n: 1024 }, { kind: 'size', op: 'smaller', n: 4294967295 }));
  assert.deepEqual(key('1:5,7'), { kind: 'seq', set: { ranges: [[1, 5], [7, 7]] } });
  assert.deepEqual(key('*'), { kind: 'seq', set: { ranges: [[Infinity, Infinity]] } });
  assert.deepEqual(key('$'), { kind: 'seq', set: { ranges: [], saved: true } });
  assert.deepEqual(key('UID 3:*'), { kind: 'uid', set: { ranges: [[3, Infinity]] } });
  assert.deepEqual(key('UID $'), { kind: 'uid', set: { ranges: [], saved: true } });
  assert.deepEqual(key('MODSEQ 620162338'), { kind: 'modseq', modseq: 620162338 });
  // RFC 7162 §3.1.5 example: the per-flag entry is accepted and ignored.
  assert.deepEqual(key('MODSEQ "/flags/\\\\draft" all 620162338'), { kind: 'modseq', modseq: 620162338 });
  assert.throws(() => key('MODSEQ "/flags/x" other 5'), ParseError);
});

test('OR, NOT and groups nest', () => {
  assert.deepEqual(key('OR (SEEN FLAGGED) NOT OR 1 2'), {
    kind: 'or',
    a: and({ kind: 'flag', flag: '\\Seen', set: true }, { kind: 'flag', flag: '\\Flagged', set: true }),
    b: { kind: 'not', key: { kind: 'or', a: { kind: 'seq', set: { ranges: [[1, 1]] } }, b: { kind: 'seq', set: { ranges: [[2, 2]] } } } },
  });
  assert.deepEqual(key('(((ALL)))'), { kind: 'all' });
  assert.deepEqual(key(`${'NOT '.repeat(60)}ALL`).kind, 'not');
  assert.throws(() => key(`${'NOT '.repeat(1000)}ALL`), ParseError);
  assert.throws(() => key(`${'('.repeat(1000)}ALL${')'.repeat(1000)}`), ParseError);
  assert.throws(() => key(`${'OR ALL '.repeat(1000)}ALL`), ParseError);
});

test('CHARSET: US-ASCII and UTF-8 only, else NO [BADCHARSET]', () => {
  assert.equal(search('a SEARCH CHARSET us-ascii ALL').charset, 'US-ASCII');
  assert.equal(search('a SEARCH CHARSET "utf-8" ALL').charset, 'UTF-8');
  assert.throws(
    () => search('a SEARCH CHARSET ISO-8859-1 ALL'),
    (e: unknown) => e instanceof ImapError && !(e instanceof ParseError) && e.status === 'NO' && e.code === 'BADCHARSET (US-ASCII UTF-8)',
  );
  assert.throws(() => search('a SEARCH CHARSET UTF-8'), ParseError);
  assert.throws(() => search('a SEARCH ALL CHARSET UTF-8'), ParseError);
});

test('ESEARCH RETURN options (RFC 4731, RFC 5182)', () => {
  assert.deepEqual(search('a SEARCH RETURN (MIN MAX) UNSEEN'), { returns: ['MIN', 'MAX'], key: { kind: 'flag', flag: '\\Seen', set: false } });
  assert.deepEqual(search('a UID SEARCH RETURN (all count save) ALL').returns, ['ALL', 'COUNT', 'SAVE']);
  assert.deepEqual(search('a SEARCH RETURN () ALL').returns, ['ALL']);
  assert.deepEqual(search('a SEARCH RETURN (COUNT COUNT) ALL').returns, ['COUNT']);
  assert.deepEqual(search('a SEARCH RETURN (SAVE) CHARSET UTF-8 ALL'), { returns: ['SAVE'], charset: 'UTF-8', key: { kind: 'all' } });
  assert.equal(search('a SEARCH ALL').returns, undefined);
  assert.throws(() => search('a SEARCH RETURN (FOO) ALL'), ParseError);
  assert.throws(() => search('a SEARCH RETURN MIN ALL'), ParseError);
  assert.throws(() => search('a SEARCH RETURN (MIN)'), ParseError);
  assert.throws(() => search('a SEARCH RETURN (MIN) ALL', false), ParseError); // not offered without ESEARCH
});

test('syntax errors', () => {
  for (const bad of [
    'a SEARCH',
    'a SEARCH ',
    'a SEARCH  ALL',
    'a SEARCH ALL ',
    'a SEARCH FOO',
    'a SEARCH FROM',
    'a SEARCH (ALL',
    'a SEARCH ALL)',
    'a SEARCH ()',
    'a SEARCH OR ALL',
    'a SEARCH NOT',
    'a SEARCH LARGER x',
    'a SEARCH LARGER 4294967296',
    'a SEARCH SINCE 1-Foo-2020',
    'a SEARCH UID',
    'a SEARCH 0',
    'a SEARCH MODSEQ 99999999999999999999',
    'a SEARCHALL',
  ]) {
    assert.throws(() => search(bad), ParseError, JSON.stringify(bad));
  }
});
