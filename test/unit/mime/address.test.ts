/**
 * Address lists as IMAP ENVELOPE carries them. Expected values were checked against
 * Dovecot 2.3.19's ENVELOPE for the same header values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAddressList } from '../../../src/mime/address.js';
import type { Address } from '../../../src/model/message.js';

const A = (name: string | null, mailbox: string | null, host: string | null, adl: string | null = null): Address => ({
  name,
  adl,
  mailbox,
  host,
});
const groupStart = (name: string) => A(null, name, null);
const groupEnd = A(null, null, null);

test('mailboxes: addr-spec and name-addr, names unquoted, words joined by one space', () => {
  assert.deepEqual(parseAddressList('"Joe Q. Public" <john.q.public@example.com>'), [A('Joe Q. Public', 'john.q.public', 'example.com')]);
  assert.deepEqual(parseAddressList('Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>'), [
    A('Mary Smith', 'mary', 'x.test'),
    A(null, 'jdoe', 'example.org'),
    A('Who?', 'one', 'y.test'),
  ]);
  assert.deepEqual(parseAddressList('"Giant; \\"Big\\" Box" <sysservices@example.net>'), [A('Giant; "Big" Box', 'sysservices', 'example.net')]);
  assert.deepEqual(parseAddressList('Joe   Q.  Public <j@x>'), [A('Joe Q. Public', 'j', 'x')]);
  assert.deepEqual(parseAddressList('<boss@nil.test>'), [A(null, 'boss', 'nil.test')]);
  assert.deepEqual(parseAddressList('"" <a@b>'), [A(null, 'a', 'b')]);
  assert.deepEqual(parseAddressList('"quoted local"@host, a@[1.2.3.4], a @ b . c'), [
    A(null, 'quoted local', 'host'),
    A(null, 'a', '[1.2.3.4]'),
    A(null, 'a', 'b.c'),
  ]);
});

test('encoded-words and 8-bit names are kept as written', () => {
  assert.deepEqual(parseAddressList('=?iso-8859-1?q?J=F6rg?= <j@x>'), [A('=?iso-8859-1?q?J=F6rg?=', 'j', 'x')]);
  assert.deepEqual(parseAddressList('Jörg Müller <j@x>'), [A('Jörg Müller', 'j', 'x')]);
});

test('comments: ignored around name-addr, the last one names an addr-spec', () => {
  assert.deepEqual(parseAddressList('Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>'), [A('Pete', 'pete', 'silly.test')]);
  assert.deepEqual(parseAddressList('a@b.c (Comment Name)'), [A('Comment Name', 'a', 'b.c')]);
  assert.deepEqual(parseAddressList('(only comment) user@host (trailing (nested) com\\) x)'), [A('trailing (nested) com) x', 'user', 'host')]);
  assert.deepEqual(parseAddressList('John <john@x> (c)'), [A('John', 'john', 'x')]);
  assert.deepEqual(parseAddressList('<a(c1)@b(c2)>'), [A(null, 'a', 'b')]);
});

test('groups: a start marker named by the group, members, an all-NIL end marker', () => {
  assert.deepEqual(
    parseAddressList('A Group(Some people):Chris Jones <c@(Chris\'s host.)public.example>, joe@example.org, John <jdoe@one.test> (my dear friend); (the end)'),
    [groupStart('A Group'), A('Chris Jones', 'c', 'public.example'), A(null, 'joe', 'example.org'), A('John', 'jdoe', 'one.test'), groupEnd],
  );
  assert.deepEqual(parseAddressList('undisclosed-recipients:;'), [groupStart('undisclosed-recipients'), groupEnd]);
  assert.deepEqual(parseAddressList('(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;'), [groupStart('Hidden recipients'), groupEnd]);
  assert.deepEqual(parseAddressList('First Group: a@b, c@d;, Second: ;'), [
    groupStart('First Group'), A(null, 'a', 'b'), A(null, 'c', 'd'), groupEnd, groupStart('Second'), groupEnd,
  ]);
  // An unterminated group still ends.
  assert.deepEqual(parseAddressList('a@b, Group: c@d'), [A(null, 'a', 'b'), groupStart('Group'), A(null, 'c', 'd'), groupEnd]);
  assert.deepEqual(parseAddressList('group: a@b (c), "d" <e@f> ;, x@y'), [
    groupStart('group'), A('c', 'a', 'b'), A('d', 'e', 'f'), groupEnd, A(null, 'x', 'y'),
  ]);
});

test('obsolete source routes become the adl', () => {
  assert.deepEqual(parseAddressList('<@route1,@route2:user@host>'), [A(null, 'user', 'host', '@route1,@route2')]);
  assert.deepEqual(parseAddressList('Name <@r1:x@y>, N <@bad x@y>'), [A('Name', 'x', 'y', '@r1'), A('N', 'x', 'y', 'INVALID_ROUTE')]);
});

test('missing parts are filled the way Dovecot fills them', () => {
  assert.deepEqual(parseAddressList('user'), [A(null, 'user', 'MISSING_DOMAIN')]);
  assert.deepEqual(parseAddressList('user@'), [A(null, 'user', 'MISSING_DOMAIN')]);
  assert.deepEqual(parseAddressList('@host'), [A(null, 'MISSING_MAILBOX', 'host')]);
  assert.deepEqual(parseAddressList('<>'), [A(null, 'MISSING_MAILBOX', 'MISSING_DOMAIN')]);
  assert.deepEqual(parseAddressList('"Name" <>'), [A('Name', 'MISSING_MAILBOX', 'MISSING_DOMAIN')]);
  assert.deepEqual(parseAddressList('Name Only'), [A('Name Only', 'MISSING_MAILBOX', 'MISSING_DOMAIN')]);
  assert.deepEqual(parseAddressList('"quoted"'), [A('quoted', 'MISSING_MAILBOX', 'MISSING_DOMAIN')]);
  assert.deepEqual(parseAddressList('Name <'), [A('Name', 'MISSING_MAILBOX', 'SYNTAX_ERROR')]);
  assert.deepEqual(parseAddressList(',,, a@b ,,'), [
    A(null, 'MISSING_MAILBOX', 'MISSING_DOMAIN'), A(null, 'MISSING_MAILBOX', 'MISSING_DOMAIN'), A(null, 'MISSING_MAILBOX', 'MISSING_DOMAIN'),
    A(null, 'a', 'b'), A(null, 'MISSING_MAILBOX', 'MISSING_DOMAIN'),
  ]);
  // Dovecot's loose dots in local parts; a dot followed by a space ends the address list.
  assert.deepEqual(parseAddressList('a..b@c.d, .a@b, a.@b'), [A(null, 'a..b', 'c.d'), A(null, '.a', 'b'), A(null, 'a.', 'b')]);
  assert.deepEqual(parseAddressList('a . b@c, x@y'), [A('a.  b', 'MISSING_MAILBOX', 'MISSING_DOMAIN')]);
  assert.deepEqual(parseAddressList('@a:b@c'), [A(null, 'MISSING_MAILBOX', 'a')]);
});

test('no address at all is NIL', () => {
  for (const v of ['', '   ', '(comment only)', '\r\n ']) assert.equal(parseAddressList(v), null, JSON.stringify(v));
  assert.deepEqual(parseAddressList(','), [A(null, 'MISSING_MAILBOX', 'MISSING_DOMAIN')]);
});

test('folded values: quoted-strings and comments lose their line ends', () => {
  assert.deepEqual(parseAddressList('"fold\r\n ed" <a@b>, (c\r\n d) e@f'), [A('fold ed', 'a', 'b'), A(null, 'e', 'f')]);
  assert.deepEqual(parseAddressList('Mary <mary@x>,\r\n John <john@y>'), [A('Mary', 'mary', 'x'), A('John', 'john', 'y')]);
  assert.deepEqual(parseAddressList('x@y (multi\r\n line)'), [A('multi line', 'x', 'y')]);
});

test('garbage never throws and always yields well-formed addresses', () => {
  const alphabet = ['a', 'b', '@', '.', ',', ';', ':', '<', '>', '(', ')', '"', '\\', ' ', '\r\n ', '[', ']', 'é', '\0', '=?'];
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let i = 0; i < 5000; i++) {
    let s = '';
    for (let j = rnd(30); j > 0; j--) s += alphabet[rnd(alphabet.length)];
    const list = parseAddressList(s);
    if (list === null) continue;
    assert.ok(list.length > 0);
    for (const a of list) {
      for (const v of Object.values(a)) assert.ok(v === null || typeof v === 'string', JSON.stringify(s));
      // A mailbox always has both parts; group markers have no host.
      if (a.host !== null) assert.notEqual(a.mailbox, null, JSON.stringify(s));
    }
  }
});
