import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  encodeBodyStructure,
  encodeEnvelope,
  nstring,
  nstringNoLf,
  quoteString,
  stringForHumans,
} from '../../../../src/imap/wire/structures.js';
import type { Address, BodyStructure, Envelope, MessageBody, TextBody } from '../../../../src/model/message.js';

type Sexp = string | null | number | Sexp[];

/** A reader for what we write (RFC 3501 §4): NIL, numbers, quoted, literals (octet counts), lists. */
function readImap(wire: string): Sexp {
  const buf = Buffer.from(wire, 'utf8');
  let pos = 0;
  const value = (): Sexp => {
    const c = String.fromCharCode(buf[pos]!);
    if (c === '(') {
      pos++;
      const list: Sexp[] = [];
      while (buf[pos] !== 0x29) {
        if (list.length > 0 && buf[pos] === 0x20) pos++; // body parts follow each other unspaced
        list.push(value());
      }
      pos++;
      return list;
    }
    if (c === '"') {
      let out = '';
      for (pos++; buf[pos] !== 0x22; pos++) {
        assert.ok(buf[pos] !== 0x0d && buf[pos] !== 0x0a && buf[pos]! < 0x80, 'quoted strings are 7-bit TEXT-CHARs');
        if (buf[pos] === 0x5c) pos++;
        out += String.fromCharCode(buf[pos]!);
      }
      pos++;
      return out;
    }
    if (c === '{') {
      const close = buf.indexOf('}\r\n', pos);
      const n = Number(buf.toString('latin1', pos + 1, close));
      pos = close + 3;
      const s = buf.toString('utf8', pos, pos + n);
      pos += n;
      return s;
    }
    const m = /^(NIL|\d+)/.exec(buf.toString('latin1', pos, pos + 20));
    assert.ok(m, `unexpected ${JSON.stringify(buf.toString('utf8', pos, pos + 20))}`);
    pos += m[1]!.length;
    return m[1] === 'NIL' ? null : Number(m[1]);
  };
  const v = value();
  assert.equal(pos, buf.length, 'trailing data');
  return v;
}

test('quoteString: quoted when safe, literal for line ends, 8-bit and many quoted-specials', () => {
  assert.equal(quoteString('plain text'), '"plain text"');
  assert.equal(quoteString(''), '""');
  assert.equal(quoteString('a "q" \\ b'), '"a \\"q\\" \\\\ b"');
  assert.equal(quoteString('""""'), '"\\"\\"\\"\\""');
  assert.equal(quoteString('"""""'), '{5}\r\n"""""'); // a fifth special: a literal is shorter
  assert.equal(quoteString('a\r\nb'), '{4}\r\na\r\nb');
  assert.equal(quoteString('café'), '{5}\r\ncafé'); // octets, not characters
  assert.equal(quoteString('nul\0'), '{6}\r\nnul\uFFFD');
  assert.equal(nstring(null), 'NIL');
  assert.equal(nstring('NIL'), '"NIL"');
});

test('quoteString round-trips any text through an IMAP reader', () => {
  const alphabet = ['a', ' ', '"', '\\', '\r', '\n', '\t', 'é', '€', '😀', '{', '}', '(', ')'];
  let seed = 7;
  for (let i = 0; i < 2000; i++) {
    let s = '';
    for (let n = (seed = (seed * 48271) % 2147483647) % 12; n > 0; n--) s += alphabet[(seed = (seed * 48271) % 2147483647) % alphabet.length];
    assert.equal(readImap(quoteString(s)), s);
  }
});

test('nstringNoLf drops folds; a line end that starts no white space becomes a space', () => {
  assert.equal(nstringNoLf('\r\n <folded@id>'), '" <folded@id>"');
  assert.equal(nstringNoLf('x\r\n\ty'), '"x\ty"');
  assert.equal(nstringNoLf('a\r\nb'), '"a b"');
  assert.equal(nstringNoLf(null), 'NIL');
});

test('stringForHumans folds white space and sends anything it changed as a literal', () => {
  assert.equal(stringForHumans('Hello there'), '"Hello there"');
  assert.equal(stringForHumans('Hello   there\t tab  '), '{15}\r\nHello there tab');
  assert.equal(stringForHumans('multi\r\n line\r\n   folded'), '{17}\r\nmulti line folded');
  assert.equal(stringForHumans('only "quote"'), '{12}\r\nonly "quote"');
  assert.equal(stringForHumans('back\\slash'), '{10}\r\nback\\slash');
  assert.equal(stringForHumans('café'), '{5}\r\ncafé');
  assert.equal(stringForHumans('   '), '""');
  assert.equal(stringForHumans(''), '""');
});

const addr = (name: string | null, mailbox: string | null, host: string | null, adl: string | null = null): Address => ({
  name,
  adl,
  mailbox,
  host,
});

const ENVELOPE: Envelope = {
  date: 'Tue, 1 Jul 2003 10:52:37 +0200',
  subject: 'Re: "quoted" subject',
  from: [addr('Joe Q. Public', 'john.q.public', 'example.com')],
  sender: [addr(null, 'owner', 'lists.example', '@relay.example')],
  replyTo: null,
  to: [addr(null, 'A Group', null), addr('Mary', 'mary', 'x.test'), addr(null, null, null)],
  cc: [],
  bcc: null,
  inReplyTo: '<a@b>',
  messageId: '<1@x>',
};

test('encodeEnvelope writes the ten fields in RFC 3501 order', () => {
  assert.equal(
    encodeEnvelope(ENVELOPE),
    '("Tue, 1 Jul 2003 10:52:37 +0200" {20}\r\nRe: "quoted" subject (("Joe Q. Public" NIL "john.q.public" "example.com")) ' +
      '((NIL "@relay.example" "owner" "lists.example")) NIL ((NIL NIL "A Group" NIL)("Mary" NIL "mary" "x.test")(NIL NIL NIL NIL)) ' +
      'NIL NIL "<a@b>" "<1@x>")',
  );
  const read = readImap(encodeEnvelope(ENVELOPE)) as Sexp[];
  assert.equal(read.length, 10);
  assert.equal(read[1], 'Re: "quoted" subject');
  assert.deepEqual(read[5], [[null, null, 'A Group', null], ['Mary', null, 'mary', 'x.test'], [null, null, null, null]]);
  assert.equal(encodeEnvelope({ ...ENVELOPE, from: null, subject: null, date: null }).slice(0, 12), '(NIL NIL NIL');
});

const text = (over: Partial<TextBody> = {}): TextBody => ({
  kind: 'text',
  type: 'text',
  subtype: 'plain',
  params: [['charset', 'us-ascii']],
  id: null,
  description: null,
  encoding: '7bit',
  size: 10,
  lines: 2,
  md5: null,
  disposition: null,
  language: null,
  location: null,
  ...over,
});

test('single parts: BODY without and BODYSTRUCTURE with extension data', () => {
  const html = text({
    subtype: 'html',
    params: [['charset', 'utf-8'], ['name', 'a "b"']],
    id: '<id@x>',
    description: 'a\r\n folded',
    encoding: 'quoted-printable',
    md5: 'Q2hlY2s=',
    disposition: { type: 'inline', params: [['filename', 'x.html']] },
    language: ['en', 'de'],
    location: 'http://x/',
  });
  assert.equal(encodeBodyStructure(html, false), '("text" "html" ("charset" "utf-8" "name" "a \\"b\\"") "<id@x>" "a folded" "quoted-printable" 10 2)');
  assert.equal(
    encodeBodyStructure(html, true),
    '("text" "html" ("charset" "utf-8" "name" "a \\"b\\"") "<id@x>" "a folded" "quoted-printable" 10 2 "Q2hlY2s=" ("inline" ("filename" "x.html")) ("en" "de") "http://x/")',
  );
  const pdf: BodyStructure = { ...text(), kind: 'basic', type: 'application', subtype: 'pdf', params: null, encoding: 'base64', disposition: { type: 'attachment', params: [] } };
  assert.equal(encodeBodyStructure(pdf, true), '("application" "pdf" NIL NIL NIL "base64" 10 NIL ("attachment" NIL) NIL NIL)');
});

test('a plain 7-bit text/plain message gets the canonical BODY, BODYSTRUCTURE keeps its case', () => {
  const upper = text({ type: 'TEXT', subtype: 'PLAIN', params: [['CHARSET', 'US-ASCII']], encoding: '7BIT' });
  assert.equal(encodeBodyStructure(upper, false), '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 2)');
  assert.equal(encodeBodyStructure(upper, true), '("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 10 2 NIL NIL NIL NIL)');
  const flowed = text({ params: [['charset', 'US-ASCII'], ['format', 'flowed']] });
  assert.equal(encodeBodyStructure(flowed, false), '("text" "plain" ("charset" "US-ASCII" "format" "flowed") NIL NIL "7bit" 10 2)');
  // Only a whole message gets it, not a part.
  const mixed: BodyStructure = { kind: 'multipart', parts: [upper], subtype: 'mixed', params: null, disposition: null, language: null, location: null };
  assert.equal(encodeBodyStructure(mixed, false), '(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 10 2) "mixed")');
});

test('multipart and message/rfc822 nest as RFC 3501 body-type-mpart and body-type-msg', () => {
  const msg: MessageBody = {
    ...text(),
    kind: 'message',
    type: 'message',
    subtype: 'rfc822',
    params: null,
    size: 300,
    lines: 12,
    envelope: { ...ENVELOPE, subject: 'inner' },
    body: text({ size: 3, lines: 1 }),
  };
  const mixed: BodyStructure = {
    kind: 'multipart',
    parts: [text(), msg],
    subtype: 'mixed',
    params: [['boundary', 'b']],
    disposition: null,
    language: ['fr'],
    location: null,
  };
  const body = encodeBodyStructure(mixed, false);
  assert.ok(body.startsWith('(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 2)("message" "rfc822" NIL NIL NIL "7bit" 300 ("Tue'));
  assert.ok(body.endsWith(' ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 3 1) 12) "mixed")'));
  const full = encodeBodyStructure(mixed, true);
  assert.ok(full.endsWith(' 12 NIL NIL NIL NIL) "mixed" ("boundary" "b") NIL ("fr") NIL)'));
  const read = readImap(full) as Sexp[];
  assert.equal(read.length, 2 + 5); // two parts, subtype, params, dsp, lang, loc
  const readMsg = read[1] as Sexp[];
  assert.equal((readMsg[7] as Sexp[])[1], 'inner');
  assert.equal(readMsg[9], 12);
});
