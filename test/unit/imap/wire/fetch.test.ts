import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFetch } from '../../../../src/imap/wire/fetch.js';
import { Scanner, parseCommandHead } from '../../../../src/imap/wire/scanner.js';
import { ParseError } from '../../../../src/imap/types.js';
import type { FetchItem } from '../../../../src/imap/types.js';

/** Parse the whole command the way the FETCH handler will: head, set, then parseFetch. */
function fetch(line: string): ReturnType<typeof parseFetch> {
  const { name, scanner: s } = parseCommandHead(Buffer.from(line));
  s.sp();
  if (name === 'UID') {
    assert.equal(s.atomUpper(), 'FETCH');
    s.sp();
  }
  s.sequenceSet();
  s.sp();
  return parseFetch(s);
}
const items = (line: string): FetchItem[] => fetch(line).items;

test('RFC 3501 §6.4.5 examples', () => {
  assert.deepEqual(items('A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])'), [
    { kind: 'FLAGS' },
    { kind: 'BODY[]', section: { path: [], text: 'HEADER.FIELDS', fields: ['DATE', 'FROM'] }, peek: false },
  ]);
  assert.deepEqual(items('A999 UID FETCH 4827313:4828442 FLAGS'), [{ kind: 'FLAGS' }]);
});

test('macros expand, and only stand alone', () => {
  const fast = [{ kind: 'FLAGS' }, { kind: 'INTERNALDATE' }, { kind: 'RFC822.SIZE' }];
  assert.deepEqual(items('a FETCH 1 fast'), fast);
  assert.deepEqual(items('a FETCH 1 ALL'), [...fast, { kind: 'ENVELOPE' }]);
  assert.deepEqual(items('a FETCH 1 FULL'), [...fast, { kind: 'ENVELOPE' }, { kind: 'BODY' }]);
  assert.throws(() => items('a FETCH 1 (FLAGS ALL)'), ParseError);
});

test('simple attributes, case-insensitive', () => {
  assert.deepEqual(items('a FETCH 1 (uid Flags INTERNALDATE rfc822.size ENVELOPE BODYSTRUCTURE BODY MODSEQ)'), [
    { kind: 'UID' },
    { kind: 'FLAGS' },
    { kind: 'INTERNALDATE' },
    { kind: 'RFC822.SIZE' },
    { kind: 'ENVELOPE' },
    { kind: 'BODYSTRUCTURE' },
    { kind: 'BODY' },
    { kind: 'MODSEQ' },
  ]);
});

test('RFC822 names map to BODY sections with legacy and the right peek', () => {
  assert.deepEqual(items('a FETCH 1 (RFC822 RFC822.HEADER RFC822.TEXT)'), [
    { kind: 'BODY[]', section: { path: [] }, peek: false, legacy: 'RFC822' },
    { kind: 'BODY[]', section: { path: [], text: 'HEADER' }, peek: true, legacy: 'RFC822.HEADER' },
    { kind: 'BODY[]', section: { path: [], text: 'TEXT' }, peek: false, legacy: 'RFC822.TEXT' },
  ]);
});

test('sections and partials', () => {
  const body = (section: object, peek = false, partial?: object): FetchItem =>
    ({ kind: 'BODY[]', section, peek, ...(partial ? { partial } : {}) }) as FetchItem;
  assert.deepEqual(items('a FETCH 1 BODY[]'), [body({ path: [] })]);
  assert.deepEqual(items('a FETCH 1 BODY.PEEK[]<0.1024>'), [body({ path: [] }, true, { start: 0, length: 1024 })]);
  assert.deepEqual(items('a FETCH 1 body[header]'), [body({ path: [], text: 'HEADER' })]);
  assert.deepEqual(items('a FETCH 1 BODY[TEXT]<100.5>'), [body({ path: [], text: 'TEXT' }, false, { start: 100, length: 5 })]);
  assert.deepEqual(items('a FETCH 1 BODY[1]'), [body({ path: [1] })]);
  assert.deepEqual(items('a FETCH 1 BODY[1.2.3]'), [body({ path: [1, 2, 3] })]);
  assert.deepEqual(items('a FETCH 1 BODY[4.2.MIME]'), [body({ path: [4, 2], text: 'MIME' })]);
  assert.deepEqual(items('a FETCH 1 BODY[3.HEADER]'), [body({ path: [3], text: 'HEADER' })]);
  assert.deepEqual(items('a FETCH 1 BODY.PEEK[2.TEXT]'), [body({ path: [2], text: 'TEXT' }, true)]);
  assert.deepEqual(items('a FETCH 1 BODY[HEADER.FIELDS.NOT (Received "X-Spam" {4}\r\nDate)]'), [
    body({ path: [], text: 'HEADER.FIELDS.NOT', fields: ['Received', 'X-Spam', 'Date'] }),
  ]);
  assert.deepEqual(items('a FETCH 1 BODY[1.HEADER.FIELDS (Subject)]'), [
    body({ path: [1], text: 'HEADER.FIELDS', fields: ['Subject'] }),
  ]);
});

test('BINARY (RFC 3516)', () => {
  assert.deepEqual(items('a FETCH 1 (BINARY[1] BINARY.PEEK[1.2]<0.10> BINARY.SIZE[] BINARY[])'), [
    { kind: 'BODY[]', section: { path: [1] }, peek: false, binary: 'BINARY' },
    { kind: 'BODY[]', section: { path: [1, 2] }, peek: true, binary: 'BINARY', partial: { start: 0, length: 10 } },
    { kind: 'BODY[]', section: { path: [] }, peek: true, binary: 'SIZE' },
    { kind: 'BODY[]', section: { path: [] }, peek: false, binary: 'BINARY' },
  ]);
  for (const bad of ['BINARY[HEADER]', 'BINARY[1.TEXT]', 'BINARY', 'BINARY.SIZE[1]<0.1>', 'BINARY.SIZE']) {
    assert.throws(() => items(`a FETCH 1 ${bad}`), ParseError, bad);
  }
});

test('modifiers (RFC 7162)', () => {
  assert.deepEqual(fetch('a FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)').modifiers, { changedSince: 12345 });
  assert.deepEqual(fetch('a UID FETCH 1:* FLAGS (changedsince 0 vanished)').modifiers, { changedSince: 0, vanished: true });
  assert.deepEqual(fetch('a FETCH 1 FLAGS').modifiers, {});
  for (const bad of [
    '(VANISHED)',
    '()',
    '(CHANGEDSINCE)',
    '(CHANGEDSINCE x)',
    '(CHANGEDSINCE 1 CHANGEDSINCE 2)',
    '(FOO)',
    '(CHANGEDSINCE 99999999999999999999)',
    'CHANGEDSINCE 1',
  ]) {
    assert.throws(() => fetch(`a FETCH 1 FLAGS ${bad}`), ParseError, bad);
  }
});

test('syntax errors', () => {
  for (const bad of [
    '()',
    '(FLAGS',
    'FLAGS)',
    '(FLAGS  UID)',
    '( FLAGS)',
    'FOO',
    'BODY.PEEK',
    'BODY[',
    'BODY[0]',
    'BODY[1.0]',
    'BODY[MIME]',
    'BODY[HEADER.FIELDS]',
    'BODY[HEADER.FIELDS ()]',
    'BODY[HEADER.FIELDS (A]',
    'BODY[TEXT.1]',
    'BODY[1.]',
    'BODY[]<1>',
    'BODY[]<1.0>',
    'BODY[]<.5>',
    'BODY[]<0.5',
    'RFC822.FOO',
    'FLAGS UID',
    'FLAGS ',
    '',
  ]) {
    assert.throws(() => items(`a FETCH 1 ${bad}`), ParseError, JSON.stringify(bad));
  }
});

test('works when the caller already consumed the SP, or not', () => {
  const s = new Scanner(Buffer.from('1:3 (UID)'));
  s.sequenceSet();
  assert.deepEqual(parseFetch(s).items, [{ kind: 'UID' }]);
});
