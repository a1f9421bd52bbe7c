import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  astring,
  compressSet,
  flagList,
  literal,
  mailboxName,
  nstringBytes,
  taggedResponse,
  untagged,
} from '../../../../src/imap/wire/encode.js';
import { Scanner } from '../../../../src/imap/wire/scanner.js';

test('astring: atom when safe, else quoted, else literal', () => {
  assert.equal(astring('INBOX'), 'INBOX');
  assert.equal(astring('a]b'), 'a]b'); // resp-specials are ASTRING-CHARs
  assert.equal(astring(''), '""');
  assert.equal(astring('two words'), '"two words"');
  assert.equal(astring('NIL'), '"NIL"');
  assert.equal(astring('nil'), '"nil"');
  assert.equal(astring('50%'), '"50%"');
  assert.equal(astring('a*'), '"a*"');
  assert.equal(astring('say "hi"'), '"say \\"hi\\""');
  assert.equal(astring('über'), '{5}\r\nüber');
  assert.equal(astring('a\r\nb'), '{4}\r\na\r\nb');
});

test('astring output reads back as the same string', () => {
  for (const s of ['x', 'a b', '', 'q"uo\\te', 'ünï', 'line\nend', '(paren)', '{5}', 'NIL', '\\Seen']) {
    assert.equal(new Scanner(Buffer.from(astring(s))).astring(), s);
  }
});

test('mailboxName encodes modified UTF-7 first', () => {
  assert.equal(mailboxName('INBOX'), 'INBOX');
  assert.equal(mailboxName('台北'), '&U,BTFw-');
  assert.equal(mailboxName('Tom & Jerry'), '"Tom &- Jerry"');
  assert.equal(new Scanner(Buffer.from(mailboxName('Entwürfe/2024 Q1'))).mailbox(), 'Entwürfe/2024 Q1');
});

test('flagList', () => {
  assert.equal(flagList(['\\Seen', '$Label1']), '(\\Seen $Label1)');
  assert.equal(flagList([]), '()');
});

test('literal and nstringBytes keep binary data as a separate chunk', () => {
  const data = Buffer.from([0, 1, 0xff, 0x0d, 0x0a]);
  const chunks = literal(data);
  assert.equal(chunks[0], '{5}\r\n');
  assert.equal(chunks[1], data);
  assert.deepEqual(nstringBytes(null), ['NIL']);
  assert.deepEqual(nstringBytes(Buffer.alloc(0)), ['""']);
  assert.deepEqual(nstringBytes(data), ['{5}\r\n', data]);
});

test('compressSet', () => {
  assert.equal(compressSet([1, 2, 3, 5, 7, 8, 9]), '1:3,5,7:9');
  assert.equal(compressSet([42]), '42');
  assert.equal(compressSet([]), '');
  assert.equal(compressSet([4294967294, 4294967295]), '4294967294:4294967295');
  assert.equal(compressSet([9, 3, 1, 2, 2, 8]), '1:3,8:9');
});

test('taggedResponse and untagged', () => {
  assert.equal(taggedResponse('A1', 'OK', 'SELECT completed', 'READ-WRITE'), 'A1 OK [READ-WRITE] SELECT completed\r\n');
  assert.equal(
    taggedResponse('A2', 'NO', 'Unsupported charset', 'BADCHARSET (US-ASCII UTF-8)'),
    'A2 NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset\r\n',
  );
  assert.equal(taggedResponse('A3', 'BAD', 'Syntax error'), 'A3 BAD Syntax error\r\n');
  // A line end in the text must not let it forge a second response.
  assert.equal(taggedResponse('A4', 'NO', 'oops\r\nA5 OK forged'), 'A4 NO oops A5 OK forged\r\n');
  assert.equal(taggedResponse('A6', 'OK', ''), 'A6 OK OK\r\n');
  assert.equal(untagged('3 EXISTS'), '* 3 EXISTS\r\n');
});
