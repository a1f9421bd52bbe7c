/**
 * ENVELOPE / BODYSTRUCTURE computed from raw messages. The full response strings below were
 * produced by Dovecot 2.3.19 (FETCH ENVELOPE BODYSTRUCTURE BODY on the same bytes), so each
 * such test pins both the RFC 3501 shape and the Dovecot choices we copy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseMime } from '../../../src/mime/tree.js';
import { computeBodyStructure, computeEnvelope } from '../../../src/mime/structure.js';
import { encodeBodyStructure, encodeEnvelope } from '../../../src/imap/wire/structures.js';
import type { BodyStructure, MessageBody, MultipartBody, TextBody } from '../../../src/model/message.js';

const crlf = (s: string): Buffer => Buffer.from(s.replace(/\r?\n/g, '\r\n'), 'utf8');
const parse = (raw: Buffer) => {
  const root = parseMime(raw);
  return { env: computeEnvelope(raw, root), body: computeBodyStructure(raw, root) };
};
/** What Dovecot answers to FETCH (ENVELOPE BODYSTRUCTURE BODY), minus the FETCH wrapper. */
const fetchItems = (raw: Buffer): string => {
  const { env, body } = parse(raw);
  return `ENVELOPE ${encodeEnvelope(env)} BODYSTRUCTURE ${encodeBodyStructure(body, true)} BODY ${encodeBodyStructure(body, false)}`;
};
const multipart = (b: BodyStructure): MultipartBody => {
  assert.equal(b.kind, 'multipart');
  return b as MultipartBody;
};
const lines = (n: number, width: number, lastWidth = width): string =>
  Array.from({ length: n }, (_, i) => 'x'.repeat(i === n - 1 ? lastWidth : width) + '\r\n').join('');

test('RFC 3501 §7.4.2 BODY example', () => {
  // 1152 octets in 23 lines; 4554 octets in 73 lines (the CRLF before a delimiter is not body).
  const raw = Buffer.from(
    'MIME-Version: 1.0\r\nContent-Type: MULTIPART/MIXED; BOUNDARY=x\r\n\r\n--x\r\n' +
      'Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\nContent-Transfer-Encoding: 7BIT\r\n\r\n' +
      lines(23, 48, 50) +
      '\r\n--x\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII; NAME=cc.diff\r\n' +
      'Content-ID: <960723163407.20117h@cac.washington.edu>\r\nContent-Description: Compiler diff\r\n' +
      'Content-Transfer-Encoding: BASE64\r\n\r\n' +
      lines(73, 60, 88) +
      '\r\n--x--\r\n',
    'latin1',
  );
  assert.equal(
    encodeBodyStructure(parse(raw).body, false),
    // The first part only restates the defaults, so (like Dovecot 2.3) it is answered in the
    // canonical form; the RFC's own text shows it upper-cased as written.
    '(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 1152 23)("TEXT" "PLAIN" ("CHARSET" "US-ASCII" ' +
      '"NAME" "cc.diff") "<960723163407.20117h@cac.washington.edu>" "Compiler diff" "BASE64" 4554 73) "MIXED")',
  );
});

test('RFC 3501 §8 ENVELOPE example; BODY of plain 7-bit text is canonical lower case', () => {
  const raw = Buffer.from(
    'Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\nFrom: Terry Gray <gray@cac.washington.edu>\r\n' +
      'Subject: IMAP4rev1 WG mtg summary and minutes\r\nTo: imap@cac.washington.edu\r\n' +
      'cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\r\n' +
      'Message-Id: <B27397-0100000@cac.washington.edu>\r\nMIME-Version: 1.0\r\n' +
      'Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\nContent-Transfer-Encoding: 7BIT\r\n\r\n' +
      lines(92, 31, 23),
    'latin1',
  );
  const { env, body } = parse(raw);
  assert.equal(
    encodeEnvelope(env),
    '("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev1 WG mtg summary and minutes" ' +
      '(("Terry Gray" NIL "gray" "cac.washington.edu")) (("Terry Gray" NIL "gray" "cac.washington.edu")) ' +
      '(("Terry Gray" NIL "gray" "cac.washington.edu")) ((NIL NIL "imap" "cac.washington.edu")) ' +
      '((NIL NIL "minutes" "CNRI.Reston.VA.US")("John Klensin" NIL "KLENSIN" "MIT.EDU")) NIL NIL ' +
      '"<B27397-0100000@cac.washington.edu>")',
  );
  assert.equal(encodeBodyStructure(body, true), '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 3028 92 NIL NIL NIL NIL)');
  assert.equal(encodeBodyStructure(body, false), '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 3028 92)');
});

test('groups, comments and encoded-words (RFC 5322 A.5)', () => {
  const raw = crlf(`From: Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>
To:A Group(Some people):Chris Jones <c@(Chris's host.)public.example>, joe@example.org, John <jdoe@one.test> (my dear friend); (the end of the group)
Cc:(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;
Subject: =?utf-8?q?caf=C3=A9?= and =?utf-8?b?w6k=?=

x
`);
  const { env } = parse(raw);
  assert.equal(env.subject, '=?utf-8?q?caf=C3=A9?= and =?utf-8?b?w6k=?=');
  assert.deepEqual(env.from, [{ name: 'Pete', adl: null, mailbox: 'pete', host: 'silly.test' }]);
  assert.deepEqual(env.to?.[0], { name: null, adl: null, mailbox: 'A Group', host: null });
  assert.deepEqual(env.to?.at(-1), { name: null, adl: null, mailbox: null, host: null });
  assert.equal(env.to?.length, 5);
  assert.deepEqual(env.cc, [
    { name: null, adl: null, mailbox: 'Hidden recipients', host: null },
    { name: null, adl: null, mailbox: null, host: null },
  ]);
  assert.equal(
    fetchItems(raw),
    'ENVELOPE (NIL "=?utf-8?q?caf=C3=A9?= and =?utf-8?b?w6k=?=" (("Pete" NIL "pete" "silly.test")) (("Pete" NIL "pete" "silly.test")) (("Pete" NIL "pete" "silly.test")) ((NIL NIL "A Group" NIL)("Chris Jones" NIL "c" "public.example")(NIL NIL "joe" "example.org")("John" NIL "jdoe" "one.test")(NIL NIL NIL NIL)) ((NIL NIL "Hidden recipients" NIL)(NIL NIL NIL NIL)) NIL NIL NIL) BODYSTRUCTURE ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 3 1 NIL NIL NIL NIL) BODY ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 3 1)',
  );
});

test('missing headers: NIL everywhere, text/plain us-ascii 7bit, sender and reply-to from From', () => {
  const bare = parse(crlf('\nhello\n'));
  assert.deepEqual(Object.values(bare.env), Array(10).fill(null));
  assert.deepEqual(bare.body, {
    kind: 'text', type: 'text', subtype: 'plain', params: [['charset', 'us-ascii']], id: null, description: null,
    encoding: '7bit', size: 7, lines: 1, md5: null, disposition: null, language: null, location: null,
  });
  const { env } = parse(crlf('From: a@b\nSender:\nSubject:\nDate: x\nDate: last\n\n'));
  assert.deepEqual(env.sender, env.from);
  assert.deepEqual(env.replyTo, [{ name: null, adl: null, mailbox: 'a', host: 'b' }]);
  assert.equal(env.subject, '');
  assert.equal(env.date, 'last'); // a repeated string field: the last one counts
  // Without MIME-Version or Content-Type, Content-* fields do not count.
  assert.equal((parse(crlf('Content-Transfer-Encoding: base64\nContent-ID: <x>\n\naGk=\n')).body as TextBody).encoding, '7bit');
  assert.equal(parse(crlf('Subject: no blank line')).body.kind, 'text');
});

test('multipart/alternative inside multipart/mixed', () => {
  const raw = crlf(`MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=x

--x
Content-Type: multipart/alternative; boundary=y

--y

plain
--y
Content-Type: text/html

html
--y--
--x
Content-Type: application/pdf; name=a.pdf
Content-Disposition: attachment; filename="a.pdf"
Content-Transfer-Encoding: base64

AAAA
--x--
`);
  const top = multipart(parse(raw).body);
  const alt = multipart(top.parts[0]!);
  assert.deepEqual([top.subtype, alt.subtype, alt.parts.map((p) => (p as TextBody).subtype)], ['mixed', 'alternative', ['plain', 'html']]);
  assert.deepEqual(top.parts[1], {
    kind: 'basic', type: 'application', subtype: 'pdf', params: [['name', 'a.pdf']], id: null, description: null,
    encoding: 'base64', size: 4, md5: null, disposition: { type: 'attachment', params: [['filename', 'a.pdf']] },
    language: null, location: null,
  });
  assert.equal(
    fetchItems(raw).slice(fetchItems(raw).indexOf('BODYSTRUCTURE')),
    'BODYSTRUCTURE ((("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 5 0 NIL NIL NIL NIL)("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 4 0 NIL NIL NIL NIL) "alternative" ("boundary" "y") NIL NIL NIL)("application" "pdf" ("name" "a.pdf") NIL NIL "base64" 4 NIL ("attachment" ("filename" "a.pdf")) NIL NIL) "mixed" ("boundary" "x") NIL NIL NIL) BODY ((("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 5 0)("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 4 0) "alternative")("application" "pdf" ("name" "a.pdf") NIL NIL "base64" 4) "mixed")',
  );
});

test('message/rfc822 attachment: envelope, nested body and lines of the whole message', () => {
  const raw = crlf(`MIME-Version: 1.0
Content-Type: message/rfc822; x=y
Content-Description: wrapped

From: inner@x
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=z

--z

one
--z
Content-Type: message/rfc822

Subject: deepest

deep
--z--
`);
  const msg = parse(raw).body as MessageBody;
  assert.equal(msg.kind, 'message');
  assert.deepEqual([msg.params, msg.description, msg.size, msg.lines], [[['x', 'y']], 'wrapped', 161, 14]);
  assert.deepEqual(msg.envelope.from, [{ name: null, adl: null, mailbox: 'inner', host: 'x' }]);
  const inner = multipart(msg.body);
  assert.equal((inner.parts[1] as MessageBody).envelope.subject, 'deepest');
  assert.match(
    fetchItems(raw),
    /BODY \("message" "rfc822" \("x" "y"\) NIL "wrapped" "7bit" 161 \(NIL NIL \(\(NIL NIL "inner" "x"\)\) .*\) \(\("text" "plain" \("charset" "us-ascii"\) NIL NIL "7bit" 3 0\)\("message" "rfc822" NIL NIL NIL "7bit" 24 \(NIL "deepest" NIL NIL NIL NIL NIL NIL NIL NIL\) \("text" "plain" \("charset" "us-ascii"\) NIL NIL "7bit" 4 0\) 2\) "mixed"\) 14\)$/,
  );
  // Transfer-encoded message/rfc822 is still read as a message, as Dovecot does (here: no header).
  const b64 = parse(crlf('MIME-Version: 1.0\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nRnJvbTogeEB5DQoNCmhp\n')).body as MessageBody;
  assert.deepEqual([b64.kind, b64.encoding, b64.size, b64.lines, b64.envelope.from, b64.body.kind], ['message', 'base64', 22, 1, null, 'text']);
  // message/global has no body-type-msg in IMAP4rev1: a basic body.
  assert.equal(parse(crlf('MIME-Version: 1.0\nContent-Type: message/global\n\nFrom: a@b\n\nx\n')).body.kind, 'basic');
});

test('multipart/digest parts default to message/rfc822', () => {
  const raw = crlf(`MIME-Version: 1.0
Content-Type: multipart/digest; boundary=b

--b

From: x@y
Subject: in digest

hello
--b
Content-Type: text/plain

explicit
--b--
`);
  const digest = multipart(parse(raw).body);
  const first = digest.parts[0] as MessageBody;
  assert.deepEqual([first.kind, first.params, first.envelope.subject, first.lines], ['message', null, 'in digest', 3]);
  assert.equal(digest.parts[1]!.kind, 'text');
  assert.equal(
    fetchItems(raw),
    'ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) BODYSTRUCTURE (("message" "rfc822" NIL NIL NIL "7bit" 38 (NIL "in digest" ((NIL NIL "x" "y")) ((NIL NIL "x" "y")) ((NIL NIL "x" "y")) NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 5 0 NIL NIL NIL NIL) 3 NIL NIL NIL NIL)("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 8 0 NIL NIL NIL NIL) "digest" ("boundary" "b") NIL NIL NIL) BODY (("message" "rfc822" NIL NIL NIL "7bit" 38 (NIL "in digest" ((NIL NIL "x" "y")) ((NIL NIL "x" "y")) ((NIL NIL "x" "y")) NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 5 0) 3)("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 8 0) "digest")',
  );
});

test('parameters: case kept, RFC 2231 sections joined but not decoded, extension fields', () => {
  const { body } = parse(crlf(`MIME-Version: 1.0
Content-Type: application/octet-stream; name*0="long"; name*1="name.txt"
Content-Disposition: ATTACHMENT; filename*=utf-8''%E2%82%AC.txt; size=3
Content-Language: en-US, de
Content-Location: http://x/y
Content-MD5: abc
Content-ID: <id@x>
Content-Description: a
  folded description

xyz
`));
  assert.equal(
    encodeBodyStructure(body, true),
    '("application" "octet-stream" ("name" "longname.txt") "<id@x>" "a  folded description" "7bit" 5 "abc" ("ATTACHMENT" ("size" "3" "filename*" "utf-8\'\'%E2%82%AC.txt")) ("en-US" "de") "http://x/y")',
  );
  const params = (ct: string) => (parse(crlf(`MIME-Version: 1.0\nContent-Type: ${ct}\n\nx\n`)).body as TextBody).params;
  assert.deepEqual(params('TEXT/HTML; CHARSET=UTF-8; Format=Flowed'), [['CHARSET', 'UTF-8'], ['Format', 'Flowed']]);
  assert.deepEqual(params(`text/plain; title*0*=us-ascii'en'This%20is%20; title*1*=%2A%2A%2Afun%2A%2A%2A; title*2="isn't it!"; A*0=x; A*2=z`), [
    ['A*0', 'x'], ['A*2', 'z'], ['title*', "us-ascii'en'This%20is%20%2A%2A%2Afun%2A%2A%2Aisn't it!"], ['charset', 'us-ascii'],
  ]);
  // Dovecot keeps the section number across parameters: a bare `b*` after `a*1` is section 1.
  assert.deepEqual(params('application/x; a*0=x; a*1=y; b*=z; c*1=q'), [['a', 'xy'], ['b*1*', 'z'], ['c*1', 'q']]);
  assert.deepEqual(params('text/plain; Name="x"; name="y"; charset="a \\"q\\" b"'), [['Name', 'x'], ['name', 'y'], ['charset', 'a "q" b']]);
  assert.deepEqual(params('text/plain; charset=us-ascii (comment); x=  "y"; p=a b; r='), [['charset', 'us-ascii'], ['x', 'y'], ['p', 'a'], ['r', '']]);
});

test('broken and odd Content-Type values read as Dovecot reads them', () => {
  const shape = (header: string) => {
    const b = parse(crlf(`MIME-Version: 1.0\n${header}\n\nx\n`)).body;
    return b.kind === 'multipart' ? ['multipart', b.subtype] : [b.kind, b.type, b.subtype, b.params];
  };
  assert.deepEqual(shape('Content-Type: text'), ['text', 'text', '', [['charset', 'us-ascii']]]);
  assert.deepEqual(shape('Content-Type: text; charset=us-ascii'), ['basic', '', '', null]);
  assert.deepEqual(shape('Content-Type: text/plain garbage'), ['basic', '', '', null]);
  assert.deepEqual(shape('Content-Type: ; charset=x'), ['basic', '', '', null]);
  assert.deepEqual(shape('Content-Type: Message/RFC822'), ['message', 'message', 'rfc822', null]);
  assert.deepEqual(shape('Content-Type: multipart/mixed'), ['multipart', 'mixed']);
  const cte = (v: string) => (parse(crlf(`MIME-Version: 1.0\nContent-Transfer-Encoding: ${v}\n\nx\n`)).body as TextBody).encoding;
  assert.deepEqual([cte('BASE64'), cte('8bit (comment)'), cte('x-weird; p=1')], ['BASE64', '8bit', '7bit']);
});

test('a multipart whose boundary never appears has one empty text/plain part', () => {
  for (const ct of ['multipart/mixed; boundary="nope"', 'multipart/mixed']) {
    const mp = multipart(parse(crlf(`MIME-Version: 1.0\nContent-Type: ${ct}\n\nno boundary\nhere\n`)).body);
    assert.equal(mp.parts.length, 1);
    assert.deepEqual([mp.parts[0]!.kind, (mp.parts[0] as TextBody).size, (mp.parts[0] as TextBody).lines], ['text', 0, 0]);
    assert.equal(mp.params === null, !ct.includes('boundary'));
  }
});

test('Content-* of multipart parts count without MIME-Version; a later Disposition may replace one without params', () => {
  const raw = crlf(`Content-Type: multipart/mixed; boundary=b

--b
Content-Transfer-Encoding: base64
Content-Description: child
Content-Disposition: attachment
Content-Disposition: inline; x=y

aGk=
--b
Content-Type: message/rfc822

Content-Description: inner no mime
Subject: inner

x
--b--
`);
  const [child, msg] = multipart(parse(raw).body).parts as [TextBody, MessageBody];
  assert.deepEqual([child.encoding, child.description, child.disposition], ['base64', 'child', { type: 'inline', params: [['x', 'y']] }]);
  assert.equal((msg.body as TextBody).description, null); // the inner message is not MIME
});

test('header text stays raw: encoded-words, folds, 8-bit UTF-8, Latin-1 and NUL', () => {
  const { env } = parse(crlf('From: =?iso-8859-1?q?J=F6rg?= <j@x>\nSubject: multi\n line\nMessage-ID:\n <folded@id>\n\n'));
  assert.deepEqual([env.from?.[0]?.name, env.subject, env.messageId], ['=?iso-8859-1?q?J=F6rg?=', 'multi\r\n line', '\r\n <folded@id>']);
  assert.equal(encodeEnvelope(env).includes('{10}\r\nmulti line') && encodeEnvelope(env).endsWith(' " <folded@id>")'), true);

  const utf8 = Buffer.from('Subject: caf\xc3\xa9\r\nFrom: J\xc3\xb6rg <j@x>\r\n\r\n', 'latin1');
  const u = parse(utf8).env;
  assert.deepEqual([u.subject, u.from?.[0]?.name], ['café', 'Jörg']);
  assert.ok(encodeEnvelope(u).startsWith('(NIL {5}\r\ncafé (({5}\r\nJörg NIL'));
  // Not UTF-8: read as Latin-1 (sent as UTF-8, where Dovecot would send the raw byte).
  assert.equal(parse(Buffer.from('Subject: caf\xe9\r\n\r\n', 'latin1')).env.subject, 'caf\u00e9');
  assert.equal(parse(Buffer.from('Subject: nul\x00here\r\n\r\n', 'latin1')).env.subject, 'nul\uFFFDhere');
  assert.equal(parse(crlf('Date: Mon, 1 Jan 2001   \nIn-Reply-To:  <lead@sp>\n\n')).env.date, 'Mon, 1 Jan 2001   ');
});

test('CRLF and bare-LF copies of a message: same structure and lines, size in stored octets', () => {
  const text = 'Subject: eol\nContent-Type: multipart/mixed; boundary=q\nMIME-Version: 1.0\n\npre\n--q\n\nline1\nline2\n--q\nContent-Type: text/html\n\n<p>\n\n--q--\nepi\n';
  const lf = multipart(parse(Buffer.from(text)).body);
  const cr = multipart(parse(crlf(text)).body);
  const sizes = (m: MultipartBody) => m.parts.map((p) => [(p as TextBody).size, (p as TextBody).lines]);
  assert.deepEqual(sizes(lf), [[11, 1], [4, 1]]);
  assert.deepEqual(sizes(cr), [[12, 1], [5, 1]]);
  assert.equal(encodeBodyStructure(cr, false), '(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 12 1)("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 5 1) "mixed")');
  // A last line without a line end is not counted (Dovecot counts LF characters).
  assert.equal((parse(crlf('\nno newline at end')).body as TextBody).lines, 0);
});

/** CPython's email test messages, CRLF, as an IMAP server stores them. */
function cpythonMessages(): Array<[string, Buffer]> | undefined {
  const dirs: string[] = [];
  try {
    const cmd = 'import test.test_email,os;print(os.path.dirname(test.test_email.__file__))';
    dirs.push(join(execFileSync('python3', ['-c', cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(), 'data'));
  } catch {
    // no python3, or no test package: try the Debian location below
  }
  for (const v of ['3.13', '3.12', '3.11', '3.10', '3.9']) dirs.push(`/usr/lib/python${v}/test/test_email/data`);
  const dir = dirs.find((d) => existsSync(join(d, 'msg_01.txt')));
  if (!dir) return undefined;
  return readdirSync(dir)
    .filter((n) => /^msg_.*\.txt$/.test(n))
    .sort()
    .map((n) => [n, crlf(readFileSync(join(dir, n), 'latin1').replace(/\r\n/g, '\n'))] as [string, Buffer]);
}

test('CPython email test messages: never throw, known answers', (t) => {
  const msgs = cpythonMessages();
  if (!msgs) return t.skip('CPython email test data not installed');
  assert.ok(msgs.length >= 40);
  const answers = new Map<string, string>();
  for (const [name, raw] of msgs) answers.set(name, fetchItems(raw));
  assert.equal(
    answers.get('msg_01.txt'),
    'ENVELOPE ("Fri, 4 May 2001 14:05:44 -0400" "This is a test message" (("John X. Doe" NIL "bbb" "ddd.com")) (("John X. Doe" NIL "bbb" "ddd.com")) (("John X. Doe" NIL "bbb" "ddd.com")) ((NIL NIL "bbb" "zzz.org")) NIL NIL NIL "<15090.61304.110929.45684@aaa.zzz.org>") BODYSTRUCTURE ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 43 6 NIL NIL NIL NIL) BODY ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 43 6)',
  );
  assert.equal(
    answers.get('msg_07.txt'),
    'ENVELOPE ("Fri, 20 Apr 2001 19:35:02 -0400" "Here is your dingus fish" (("Barry" NIL "barry" "digicool.com")) (("Barry" NIL "barry" "digicool.com")) (("Barry" NIL "barry" "digicool.com")) (("Dingus Lovers" NIL "cravindogs" "cravindogs.com")) NIL NIL NIL NIL) BODYSTRUCTURE (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 39 3 NIL NIL NIL NIL)("image" "gif" ("name" "dingusfish.gif") NIL NIL "base64" 4808 NIL ("attachment" ("filename" "dingusfish.gif")) NIL NIL) "mixed" ("boundary" "BOUNDARY") NIL NIL NIL) BODY (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 39 3)("image" "gif" ("name" "dingusfish.gif") NIL NIL "base64" 4808) "mixed")',
  );
  assert.equal(
    answers.get('msg_06.txt'),
    'ENVELOPE ("Thu, 13 Sep 2001 17:28:42 -0400" "forwarded message from Barry A. Warsaw" (("Barry A. Warsaw" NIL "barry" "python.org")) ((NIL NIL "barry" "python.org")) (("Barry A. Warsaw" NIL "barry" "python.org")) ((NIL NIL "barry" "python.org")) NIL NIL NIL "<15265.9482.641338.555352@python.org>") BODYSTRUCTURE ("message" "rfc822" NIL NIL "forwarded message" "7bit" 497 ("Thu, 13 Sep 2001 17:28:28 -0400" "testing" (("Barry A. Warsaw" NIL "barry" "python.org")) ((NIL NIL "barry" "python.org")) (("Barry A. Warsaw" NIL "barry" "python.org")) ((NIL NIL "barry" "python.org")) NIL NIL NIL "<15265.9468.713530.98441@python.org>") ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 2 1 NIL NIL NIL NIL) 16 NIL NIL NIL NIL) BODY ("message" "rfc822" NIL NIL "forwarded message" "7bit" 497 ("Thu, 13 Sep 2001 17:28:28 -0400" "testing" (("Barry A. Warsaw" NIL "barry" "python.org")) ((NIL NIL "barry" "python.org")) (("Barry A. Warsaw" NIL "barry" "python.org")) ((NIL NIL "barry" "python.org")) NIL NIL NIL "<15265.9468.713530.98441@python.org>") ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 2 1) 16)',
  );
  // msg_02: a digest of five messages between two text parts of a multipart/mixed.
  const m02 = multipart(parse(msgs.find(([n]) => n === 'msg_02.txt')![1]).body);
  assert.deepEqual(m02.parts.map((p) => (p.kind === 'multipart' ? p.subtype : p.kind)), ['text', 'text', 'digest', 'text']);
  const digest = m02.parts[2] as MultipartBody;
  assert.deepEqual(digest.parts.map((p) => (p as MessageBody).envelope.subject), ['[Ppp] testing #1', null, '[Ppp] testing #3', '[Ppp] testing #4', '[Ppp] testing #5']);
  assert.deepEqual([(m02.parts[0] as TextBody).description, (m02.parts[0] as TextBody).size, (m02.parts[0] as TextBody).lines], ['Masthead (Ppp digest, Vol 1 #2)', 419, 14]);
  // msg_14: `Content-Type: text; charset=us-ascii` is unreadable as type/subtype.
  assert.ok(answers.get('msg_14.txt')!.includes('BODYSTRUCTURE ("" "" NIL NIL NIL "7bit" 235 NIL NIL NIL NIL)'));
  assert.ok(answers.get('msg_29.txt')!.includes(`("charset" "us-ascii" "title*" "us-ascii'en'This%20is%20even%20more%20%2A%2A%2Afun%2A%2A%2A%20isn't it!")`));
});
