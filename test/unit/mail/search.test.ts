/**
 * SEARCH evaluation. Expected answers marked "Dovecot" are what Dovecot 2.3.19 (TZ=UTC)
 * answered for the same messages and keys.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SearchKey } from '../../../src/imap/types.js';
import { type SearchableMessage, decodeTransfer, searchMessages } from '../../../src/mail/search.js';
import { decodeCharset, decodeWords, parseMailDate } from '../../../src/mail/sort.js';

const crlf = (s: string, encoding: BufferEncoding = 'utf8'): Buffer => Buffer.from(s.replace(/\r?\n/g, '\r\n'), encoding);
const b64 = (s: string, encoding: BufferEncoding = 'utf8'): string => Buffer.from(s, encoding).toString('base64');

interface Probe extends SearchableMessage {
  loads: number;
}

function message(uid: number, raw: Buffer | string, extra: Partial<SearchableMessage> = {}): Probe {
  const bytes = typeof raw === 'string' ? crlf(raw) : raw;
  const m: Probe = {
    uid,
    flags: [],
    internalDate: new Date(Date.UTC(2024, 2, 10, 12)),
    size: bytes.length,
    modseq: uid,
    loads: 0,
    raw: async () => {
      m.loads++;
      return bytes;
    },
    ...extra,
  };
  return m;
}

const header = (field: string, value: string): SearchKey => ({ kind: 'header', field, value });
const body = (value: string): SearchKey => ({ kind: 'body', value });
const text = (value: string): SearchKey => ({ kind: 'text', value });
const flag = (f: string, set = true): SearchKey => ({ kind: 'flag', flag: f, set });
const not = (key: SearchKey): SearchKey => ({ kind: 'not', key });
const or = (a: SearchKey, b: SearchKey): SearchKey => ({ kind: 'or', a, b });
const and = (...keys: SearchKey[]): SearchKey => ({ kind: 'and', keys });
const sent = (op: 'before' | 'on' | 'since', date: string): SearchKey => ({ kind: 'date', which: 'sent', op, date });
const internal = (op: 'before' | 'on' | 'since', date: string): SearchKey => ({ kind: 'date', which: 'internal', op, date });

test('flag keys never read message bytes, and system flags and keywords ignore case (Dovecot)', async () => {
  const msgs = [
    message(1, 'Subject: a\n\nx\n', { flags: ['\\Seen', '$Foo'] }),
    message(2, 'Subject: b\n\nx\n', { flags: ['\\seen', '\\Flagged'] }),
    message(3, 'Subject: c\n\nx\n', { flags: [] }),
  ];
  const recent = new Set([2, 3]);
  const run = (key: SearchKey) => searchMessages(key, msgs, { recent });
  assert.deepEqual(await run(flag('\\SEEN')), [1, 2]);
  assert.deepEqual(await run(flag('\\Seen', false)), [3]);
  assert.deepEqual(await run(flag('$FOO')), [1]);
  assert.deepEqual(await run(flag('$foo', false)), [2, 3]);
  assert.deepEqual(await run({ kind: 'new' }), [3]);
  assert.deepEqual(await run({ kind: 'old' }), [1]);
  assert.deepEqual(await run({ kind: 'recent', set: true }), [2, 3]);
  assert.deepEqual(await run(flag('\\Recent')), [2, 3]);
  assert.deepEqual(await run(or(flag('\\Flagged'), not(or(flag('\\Seen'), { kind: 'new' })))), [2]);
  assert.deepEqual(await run(and(not(flag('\\Flagged')), { kind: 'all' })), [1, 3]);
  assert.deepEqual(await run({ kind: 'modseq', modseq: 2 }), [2, 3]);
  assert.deepEqual(await run({ kind: 'uid', set: { ranges: [[2, Infinity]] } }), [2, 3]);
  assert.deepEqual(msgs.map((m) => m.loads), [0, 0, 0]);
});

test('UID sets: * is the mailbox maximum, and n:* always takes in the last message', async () => {
  const msgs = [message(4, 'x'), message(9, 'x')];
  const uid = (ranges: Array<[number, number]>): SearchKey => ({ kind: 'uid', set: { ranges } });
  assert.deepEqual(await searchMessages(uid([[20, Infinity]]), msgs), [9]);
  assert.deepEqual(await searchMessages(uid([[20, Infinity]]), msgs, { maxUid: 30 }), []);
  assert.deepEqual(await searchMessages(uid([[5, 9]]), msgs), [9]);
  await assert.rejects(searchMessages({ kind: 'seq', set: { ranges: [[1, 1]] } }, msgs), /sequence-number keys/);
  await assert.rejects(searchMessages({ kind: 'all' }, msgs, { bogus: 1 } as never), /unknown option "bogus"/);
  const broken = message(5, 'x', { raw: () => Promise.reject(new Error('disk gone')) });
  await assert.rejects(searchMessages(body('x'), [broken]), (err: Error) => /UID 5/.test(err.message) && (err.cause as Error).message === 'disk gone');
});

test('LARGER and SMALLER are strict', async () => {
  const msgs = [message(1, 'x', { size: 99 }), message(2, 'x', { size: 100 }), message(3, 'x', { size: 101 })];
  assert.deepEqual(await searchMessages({ kind: 'size', op: 'larger', n: 100 }, msgs), [3]);
  assert.deepEqual(await searchMessages({ kind: 'size', op: 'smaller', n: 100 }, msgs), [1]);
  assert.deepEqual(await searchMessages(not({ kind: 'size', op: 'larger', n: 100 }), msgs), [1, 2]);
});

test('INTERNALDATE keys compare the UTC calendar date, at the midnight boundaries', async () => {
  const at = (iso: string) => ({ internalDate: new Date(iso) });
  const msgs = [
    message(1, 'x', at('2024-03-09T23:59:59.999Z')),
    message(2, 'x', at('2024-03-10T00:00:00.000Z')),
    message(3, 'x', at('2024-03-10T23:59:59.999Z')),
    message(4, 'x', at('2024-03-11T00:00:00.000Z')),
  ];
  assert.deepEqual(await searchMessages(internal('on', '2024-03-10'), msgs), [2, 3]);
  assert.deepEqual(await searchMessages(internal('before', '2024-03-10'), msgs), [1]);
  assert.deepEqual(await searchMessages(internal('since', '2024-03-10'), msgs), [2, 3, 4]);
  assert.deepEqual(await searchMessages(internal('since', '2024-03-11'), msgs), [4]);
  assert.equal(msgs[0]!.loads, 0);
});

test('SENT* keys use the date written in Date:, ignoring time and zone; no Date: is 1970-01-01 (Dovecot)', async () => {
  const msgs = [
    message(1, 'Subject: no date\n\nhello\n'),
    message(2, 'Date: garbage here\n\nhello\n'),
    message(3, 'Date: Sun, 10 Mar 2024 23:30:00 -0800\n\nhello\n'), // 11 March in UTC
    message(4, 'Date: 10 Mar 24 01:00 +1400\n\nhello\n'), // 9 March in UTC
    message(5, 'Date: Mon, 11 Mar 2024 00:00:00 (comment) +0000\n\nhello\n'),
  ];
  assert.deepEqual(await searchMessages(sent('on', '2024-03-10'), msgs), [3, 4]);
  assert.deepEqual(await searchMessages(not(sent('on', '2024-03-10')), msgs), [1, 2, 5]);
  assert.deepEqual(await searchMessages(sent('before', '2000-01-01'), msgs), [1, 2]);
  assert.deepEqual(await searchMessages(sent('on', '1970-01-01'), msgs), [1, 2]);
  assert.deepEqual(await searchMessages(sent('since', '2024-03-11'), msgs), [5]);
  assert.deepEqual(await searchMessages(sent('before', '2024-03-11'), msgs), [1, 2, 3, 4]);
});

test('Date: values read as Dovecot reads them', () => {
  assert.deepEqual(parseMailDate('Sun, 10 Mar 2024 23:30:00 -0800'), { day: '2024-03-10', time: Date.UTC(2024, 2, 11, 7, 30) });
  assert.deepEqual(parseMailDate('1 jan 69 1.02 EDT'), { day: '2069-01-01', time: Date.UTC(2069, 0, 1, 5, 2) });
  assert.equal(parseMailDate('1 January 70 10:00:60 XYZ')?.time, Date.UTC(1970, 0, 1, 10, 0, 59));
  assert.equal(parseMailDate('Tue, 1 Jul 2003 10:52:37 +0200 (CEST)')?.time, Date.UTC(2003, 6, 1, 8, 52, 37));
  assert.equal(parseMailDate('1 Jan 2024 10:00 Z')?.time, Date.UTC(2024, 0, 1, 10));
  for (const bad of ['Sunday, 1 Jan 2024 10:00', 'Sun 1 Jan 2024 10:00', '31 Feb 2024 10:00', '1 Foo 2024 10:00', '1 Jan 1899 10:00', '1 Jan 2024 24:00', '1 Jan 2024 10:00:00-0800', '2024-01-01T10:00:00Z']) {
    assert.equal(parseMailDate(bad), null, bad);
  }
});

test('HEADER: decoded, unfolded, case-insensitive substring; an empty value tests existence', async () => {
  const msgs = [
    message(1, 'From: =?iso-8859-1?q?J=F6rg?= <j@x.org>\nSubject: fold\n one\nX-Fold: foo\n\tbar\n\nbody\n'),
    message(2, 'From: "Joe Q. Public" <joe@example.com>\nTo: (comment) jane @ example.com\nSubject: addr   many    spaces\n\nx\n'),
    message(3, 'Subject: =?utf-8?b?w6lsw6h2ZQ==?= =?utf-8?q?_x?=\nX-Empty:\n\nbody\n'),
  ];
  const run = (key: SearchKey) => searchMessages(key, msgs);
  assert.deepEqual(await run(header('FROM', 'JÖRG')), [1]);
  assert.deepEqual(await run(header('FROM', 'jorg')), []); // no accent folding (Dovecot)
  assert.deepEqual(await run(header('SUBJECT', 'fold one')), [1]);
  assert.deepEqual(await run(header('X-Fold', 'foo bar')), [1]);
  assert.deepEqual(await run(header('FROM', 'Joe Q. Public')), [2]);
  assert.deepEqual(await run(header('FROM', 'Public <joe')), []); // the written form quotes the name (Dovecot)
  assert.deepEqual(await run(header('TO', 'jane@example.com')), [2]); // matched on the normalized address
  assert.deepEqual(await run(header('SUBJECT', 'addr many spaces')), [2]); // blanks packed, as for SUBJECT
  assert.deepEqual(await run(header('SUBJECT', 'addr  many')), []);
  assert.deepEqual(await run(header('subject', 'ÉLÈVE X')), [3]);
  assert.deepEqual(await run(header('Subject', 'subject')), []); // values only, never the name
  assert.deepEqual(await run(header('X-Empty', '')), [3]);
  assert.deepEqual(await run(header('X-None', '')), []);
  assert.deepEqual(await run(header('Subject', '')), [1, 2, 3]);
});

const MIXED = `From: a@x.org
Subject: =?utf-8?q?caf=C3=A9?=
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=b

preamble-word
--b
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

na=EFve gar=E7on, soft=
break
--b
Content-Type: message/rfc822

From: inner@y.org
Subject: innersubj

innerbody text
--b
Content-Type: application/octet-stream

binarystuff
--b--
`;

test('BODY: text parts decoded from QP/base64 and their charset, attached messages included', async () => {
  const msgs = [
    message(1, MIXED),
    message(2, `Subject: b64\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n${b64('Grüße aus Köln — ÉCOLE')}\n`),
    message(3, `Subject: html\nContent-Type: text/html; charset=windows-1252\nContent-Transfer-Encoding: base64\n\n${b64('<b>\x93quoted\x94 \x80uro Straße</b>', 'latin1')}\n`),
    message(4, crlf('Subject: koi\nContent-Type: text/plain; charset=koi8-r\n\n\xf0\xd2\xc9\xd7\xc5\xd4 \xed\xc9\xd2\n', 'latin1')),
    message(5, crlf('Subject: latin1, no charset\n\ncaf\xe9 au lait\n', 'latin1')),
    message(6, crlf('Subject: unknown\nContent-Type: text/plain; charset=x-unknown\n\ngr\xfc\xdfe\n', 'latin1')),
  ];
  const run = (key: SearchKey) => searchMessages(key, msgs);
  assert.deepEqual(await run(body('naïve garçon')), [1]); // ISO-8859-1 QP found with a UTF-8 string
  assert.deepEqual(await run(body('softbreak')), [1]);
  assert.deepEqual(await run(body('innerbody')), [1]);
  assert.deepEqual(await run(body('innersubj')), []); // an attached message's header is not body
  assert.deepEqual(await run(body('binarystuff')), []); // nor is a non-text part
  assert.deepEqual(await run(body('preamble-word')), []);
  assert.deepEqual(await run(body('grüße aus köln')), [2]);
  assert.deepEqual(await run(body('école')), [2]);
  assert.deepEqual(await run(body('ecole')), []);
  assert.deepEqual(await run(body('“QUOTED” €URO')), [3]);
  assert.deepEqual(await run(body('strasse')), [3]); // ß folds to SS (Dovecot)
  assert.deepEqual(await run(body('<b>')), [3]); // HTML is searched as written
  assert.deepEqual(await run(body('привет МИР')), [4]);
  assert.deepEqual(await run(body('café')), [5]); // departs from Dovecot: Latin-1 fallback
  assert.deepEqual(await run(body('grüße')), [2, 6]); // 6 departs from Dovecot: Latin-1 fallback
  assert.deepEqual(await run(body('a@x.org')), []);
  assert.deepEqual(await run(body('')), [1, 2, 3, 4, 5, 6]);
});

test('TEXT: every header line ("Name: value") of every entity, then the body', async () => {
  const msgs = [message(1, MIXED), message(2, 'Subject: kw\nX-Tag: cafe\n\nplain body\n')];
  const run = (key: SearchKey) => searchMessages(key, msgs);
  assert.deepEqual(await run(text('innersubj')), [1]);
  assert.deepEqual(await run(text('content-transfer-encoding: quoted')), [1]);
  assert.deepEqual(await run(text('subject: café')), [1]);
  assert.deepEqual(await run(text('subject: kw')), [2]);
  assert.deepEqual(await run(text('cafe')), [1, 2]); // decomposed folding: "CAFE" starts "CAFE\u0301"
  assert.deepEqual(await run(text('plain body')), [2]);
  assert.deepEqual(await run(text('binarystuff')), []);
});

test('NOT/OR nesting mixes cheap and text keys; bytes load at most once, and only when needed', async () => {
  const msgs = [
    message(1, 'Subject: apple\n\nred fruit\n', { flags: ['\\Seen'] }),
    message(2, 'Subject: banana\n\nyellow fruit\n', { flags: [] }),
    message(3, 'Subject: cherry\n\nred stone fruit\n', { flags: ['\\Flagged'] }),
    message(4, 'Subject: date\n\nbrown fruit\n', { flags: ['\\Seen', '\\Flagged'] }),
  ];
  const key = or(flag('\\Seen'), and(body('red'), not(or(header('Subject', 'banana'), text('yellow')))));
  assert.deepEqual(await searchMessages(key, msgs), [1, 3, 4]);
  assert.deepEqual(msgs.map((m) => m.loads), [0, 1, 1, 0]); // seen messages are decided by the flag
  const nested = and(flag('\\Flagged'), not(and(body('fruit'), or(header('subject', 'date'), not(body('stone'))))));
  assert.deepEqual(await searchMessages(nested, msgs), [3]);
  assert.deepEqual(msgs.map((m) => m.loads), [0, 1, 2, 1]); // one more read each for 3 and 4 only
});

test('a large mailbox is read a window at a time, each message once', async () => {
  let inFlight = 0;
  let peak = 0;
  const msgs = Array.from({ length: 200 }, (_, i) => {
    const m = message(i + 1, `Subject: n${i}\n\n${i % 7 === 0 ? 'needle' : 'hay'}\n`);
    const raw = m.raw;
    m.raw = async () => {
      peak = Math.max(peak, ++inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight--;
      return raw();
    };
    return m;
  });
  const hits = await searchMessages(and(body('needle'), header('subject', 'n')), msgs);
  assert.deepEqual(hits, msgs.filter((_, i) => i % 7 === 0).map((m) => m.uid));
  assert.ok(peak > 1 && peak <= 16, `peak ${peak}`);
  assert.ok(msgs.every((m) => m.loads === 1));
});

test('RFC 2047 words: adjacent words join, split characters survive, unknown charsets read as Latin-1', () => {
  assert.equal(decodeWords('=?utf-8?q?a?= =?utf-8?q?b?=  c'), 'ab  c');
  assert.equal(decodeWords('=?utf-8?b?w6k=?==?utf-8?b?w6k=?='), 'éé');
  assert.equal(decodeWords('=?utf-8?q?=C3?= =?utf-8?q?=A9t=C3=A9?='), 'été');
  assert.equal(decodeWords('x=?ISO-8859-1*fr?Q?=E9_t?=y'), 'xé ty');
  assert.equal(decodeWords('=?x-nope?q?=E9?= =?utf-8?B?8J+YgA==?='), 'é😀');
  assert.equal(decodeWords('=?utf-8?q?not closed'), '=?utf-8?q?not closed');
});

test('transfer and charset decoding', () => {
  assert.equal(decodeTransfer(Buffer.from('a=3Db=\r\nc= \r\nd=ZZ=4'), 'quoted-printable').toString('latin1'), 'a=bcd=ZZ=4');
  assert.equal(decodeTransfer(Buffer.from('aGVs\r\nbG8=\r\n'), 'base64').toString(), 'hello');
  assert.equal(decodeTransfer(Buffer.from('=41'), '7bit').toString(), '=41');
  assert.equal(decodeCharset(Buffer.from([0x80, 0xe9]), 'ISO-8859-1'), '€é');
  assert.equal(decodeCharset(Buffer.from('é'), undefined), 'é');
  assert.equal(decodeCharset(Buffer.from([0xe9, 0x93]), 'us-ascii'), 'é“');
  assert.equal(decodeCharset(Buffer.from([0x93, 0x41, 0x94]), 'x-no-such-charset'), '“A”');
  assert.equal(decodeCharset(Buffer.from([0xa4]), 'iso-8859-15'), '€');
});

test('the raw-bytes pre-check of TEXT and BODY never hides a match that decoding finds', async () => {
  const hidden = [
    message(1, `Subject: plain\n\nnothing here\n`),
    message(2, `Subject: b64\nContent-Transfer-Encoding: base64\n\n${b64('the Zorblax plan')}\n`),
    message(3, `Subject: qp\nContent-Transfer-Encoding: quoted-printable\n\nthe Zorb=\nlax plan, Zorbl=61x too\n`),
    message(4, `Subject: =?utf-8?b?${b64('Zorblax')}?=\n\nx\n`),
    message(5, crlf(`Subject: 16\nContent-Type: text/plain; charset=utf-16le\n\n`).toString('latin1') + Buffer.from('Zorblax', 'utf16le').toString('latin1') + '\r\n'),
    message(6, crlf('Subject: accent\nContent-Type: text/plain; charset=utf-8\n\nZORBLAX in caf\u00e9 and Stra\u00dfe\n')),
    message(7, `Subject: folded\n  zorblax\n\nx\n`),
  ];
  for (const key of [text('zorblax'), body('ZorBlax'), text('cafe'), text('strasse'), body('nothing')]) {
    assert.deepEqual(await searchMessages(key, hidden), await searchMessages(key, hidden, { noPrefilter: true }), JSON.stringify(key));
  }
  assert.deepEqual(await searchMessages(text('zorblax'), hidden), [2, 3, 4, 5, 6, 7]);
  assert.deepEqual(await searchMessages(text('strasse'), hidden), [6]);
});

test('on a real corpus, TEXT and BODY answer the same with and without the pre-check', async () => {
  const { spamAssassin } = await import('../../harness/corpus.js');
  const corpus = [...spamAssassin('spam-2', 150), ...spamAssassin('easy-ham-1', 150)];
  const msgs = corpus.map((m, i) => message(i + 1, m.raw));
  const words = new Set(['viagra', 'remove', 'click', 'money', '2002', 'zzzz', 'the', 'spamassassin', 'html', 'nbsp']);
  for (let i = 0; i < corpus.length; i += 15) {
    const found = corpus[i]!.raw.toString('latin1').match(/[A-Za-z0-9]{5,}/g) ?? [];
    for (const w of found.slice(-3)) words.add(w);
  }
  let matched = 0;
  for (const w of words) {
    for (const key of [text(w), body(w)]) {
      const fast = await searchMessages(key, msgs);
      assert.deepEqual(fast, await searchMessages(key, msgs, { noPrefilter: true }), JSON.stringify(key));
      matched += fast.length;
    }
  }
  assert.ok(matched > 0, 'the words are found somewhere');
});
