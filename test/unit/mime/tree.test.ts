import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMime, leaves, type MimeNode } from '../../../src/mime/tree.js';
import { sectionRange } from '../../../src/mime/section.js';

const crlf = (s: string) => Buffer.from(s.replace(/\r?\n/g, '\r\n'), 'latin1');
const body = (raw: Buffer, n: MimeNode) => raw.toString('latin1', n.bodyStart, n.end);
const cut = (raw: Buffer, spec: Parameters<typeof sectionRange>[1]) => {
  const r = sectionRange(parseMime(raw), spec);
  return r === undefined ? undefined : raw.toString('latin1', r.start, r.end);
};

const NESTED = crlf(`From: a@example.org
Subject: nested
Content-Type: multipart/mixed; boundary="outer"

preamble text
--outer
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain

plain body
--inner
Content-Type: text/html

<p>html</p>
--inner--
--outer
Content-Type: message/rfc822

From: b@example.org
Subject: inside

inner message body
--outer
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

AAECAw==
--outer--
epilogue
`);

test('nested multiparts: parts, bodies and the CRLF before each delimiter', () => {
  const root = parseMime(NESTED);
  assert.equal(root.contentType.type, 'multipart');
  assert.equal(root.children.length, 3);
  const [alt, msg, bin] = root.children as [MimeNode, MimeNode, MimeNode];
  assert.equal(alt.contentType.subtype, 'alternative');
  assert.deepEqual(alt.children.map((c) => body(NESTED, c)), ['plain body', '<p>html</p>']);
  assert.equal(msg.message?.header.fields[1]?.name, 'Subject');
  assert.equal(body(NESTED, msg.message!), 'inner message body');
  assert.equal(body(NESTED, bin), 'AAECAw==');
  assert.equal(bin.encoding, 'base64');
  assert.equal(leaves(root).length, 4);
});

test('sections address parts, their MIME headers and encapsulated messages (RFC 3501 6.4.5)', () => {
  assert.equal(cut(NESTED, { path: [1, 1] }), 'plain body');
  assert.equal(cut(NESTED, { path: [1, 2] }), '<p>html</p>');
  assert.equal(cut(NESTED, { path: [1, 2], text: 'MIME' }), 'Content-Type: text/html\r\n\r\n');
  assert.equal(cut(NESTED, { path: [2], text: 'HEADER' }), 'From: b@example.org\r\nSubject: inside\r\n\r\n');
  assert.equal(cut(NESTED, { path: [2], text: 'TEXT' }), 'inner message body');
  assert.equal(cut(NESTED, { path: [2, 1] }), 'inner message body');
  assert.equal(cut(NESTED, { path: [2] })?.startsWith('From: b@example.org'), true);
  assert.equal(cut(NESTED, { path: [3] }), 'AAECAw==');
  assert.equal(cut(NESTED, { path: [] })?.length, NESTED.length);
  assert.ok(cut(NESTED, { path: [], text: 'TEXT' })!.startsWith('preamble text\r\n--outer'));
  assert.ok(cut(NESTED, { path: [], text: 'HEADER' })!.endsWith('boundary="outer"\r\n\r\n'));
  assert.equal(cut(NESTED, { path: [4] }), undefined);
  assert.equal(cut(NESTED, { path: [3, 1] }), undefined);
  assert.equal(cut(NESTED, { path: [3], text: 'HEADER' }), undefined);
});

test('a single-part message has exactly part 1, its body', () => {
  const raw = crlf('Subject: x\n\nhello\n');
  assert.equal(cut(raw, { path: [1] }), 'hello\r\n');
  assert.equal(cut(raw, { path: [2] }), undefined);
});

test('missing close delimiter: the last part runs to the end', () => {
  const raw = crlf('Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\n\ntwo\n');
  const root = parseMime(raw);
  assert.deepEqual(root.children.map((c) => body(raw, c)), ['one', 'two\r\n']);
});

test('a boundary that never appears leaves the multipart a leaf with its whole body', () => {
  const raw = crlf('Content-Type: multipart/mixed; boundary=nothere\n\njust text\n');
  const root = parseMime(raw);
  assert.equal(root.children.length, 0);
  assert.deepEqual(leaves(root), [root]);
});

test('a line only has to start with the boundary to be a delimiter (RFC 2046 5.1.1, as Dovecot)', () => {
  const raw = crlf('Content-Type: multipart/mixed; boundary=b\n\n--b \t\nContent-Type: text/plain\n\none\n--b--</BODY>\n');
  const root = parseMime(raw);
  assert.equal(root.children.length, 1);
  assert.equal(body(raw, root.children[0]!), 'one');
  const two = crlf('Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--bx\n\ny\n--b--\n');
  assert.deepEqual(parseMime(two).children.map((c) => body(two, c)), ['x', 'y']);
});

test('a nested multipart that reuses its parent boundary finds its own parts (innermost first)', () => {
  const raw = crlf(
    'Content-Type: multipart/mixed; boundary=same\n\n--same\nContent-Type: multipart/alternative; boundary=same\n\n--same\n\ninner one\n--same\n\ninner two\n--same--\n',
  );
  const root = parseMime(raw);
  assert.equal(root.children.length, 1);
  assert.deepEqual(root.children[0]!.children.map((c) => body(raw, c)), ['inner one', 'inner two']);
});

test('header quirks: white space around the media type slash; a colon-less line ends a field', () => {
  const raw = crlf('Content-Type: multipart / mixed; boundary=q\nSubject: a\ngarbage line\n\n--q\n\nx\n--q--\n');
  const root = parseMime(raw);
  assert.equal(root.contentType.type, 'multipart');
  assert.equal(root.children.length, 1);
  const subject = root.header.fields.find((f) => f.key === 'subject')!;
  assert.equal(raw.toString('latin1', subject.start, subject.end), 'Subject: a\r\n');
  assert.equal(root.header.fields.length, 2);
});

test('message/rfc822 is parsed whatever its encoding; message/global is left alone', () => {
  const raw = crlf('Content-Type: multipart/mixed; boundary=z\n\n--z\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nSubject: in\n\nbody\n--z\nContent-Type: message/global\n\nSubject: g\n\nbody\n--z--\n');
  const [rfc, global] = parseMime(raw).children as [MimeNode, MimeNode];
  assert.ok(rfc.message);
  assert.equal(global.message, undefined);
});

test('bare LF messages parse with the same structure', () => {
  const raw = Buffer.from('Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nx\n--b--\n');
  const root = parseMime(raw);
  assert.equal(root.children.length, 1);
  assert.equal(body(raw, root.children[0]!), 'x');
});

test('nesting past the limit stops descending without throwing', () => {
  let raw = 'x';
  for (let i = 0; i < 150; i++) raw = `Content-Type: multipart/mixed; boundary=b${i}\r\n\r\n--b${i}\r\n${raw}\r\n--b${i}--\r\n`;
  const root = parseMime(Buffer.from(raw));
  let depth = 0;
  for (let n: MimeNode | undefined = root; n && n.children.length; n = n.children[0]) depth++;
  assert.equal(depth, 100);
});
