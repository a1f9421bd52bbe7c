/**
 * SORT and base subjects. The expected orders come from Dovecot 2.3.19 answering SORT on the
 * same messages; the base-subject table was checked against Dovecot by threading each subject
 * with its expected base (THREAD ORDEREDSUBJECT puts them in one thread).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeEnvelope } from '../../../src/mime/structure.js';
import { parseMime } from '../../../src/mime/tree.js';
import { type SortCriterion, type SortKey, baseSubject, extractBaseSubject, sentTime, sortMessages } from '../../../src/mail/sort.js';
import type { SortableMessage } from '../../../src/mail/sort.js';

interface Spec {
  id?: string;
  refs?: string;
  subj?: string;
  date?: string;
  from?: string;
  to?: string;
  cc?: string;
  pad?: number;
  internal?: string;
}

/** Compared with Dovecot as they stand: same bytes, same UIDs, same INTERNALDATEs. */
const CORPUS: Spec[] = [
  { id: 'a@x', subj: 'Hello', date: 'Mon, 1 Jan 2024 10:00:00 +0000', from: 'Zed <zed@x>', to: 'b@x', pad: 10 },
  { id: 'b@x', refs: '<a@x>', subj: 'Re: Hello', date: 'Mon, 1 Jan 2024 11:00:00 +0000', from: 'amy@x', to: '"Beta" <c@x>', pad: 5 },
  { id: 'c@x', refs: '<a@x> <b@x>', subj: 'Re: Re: Hello', date: 'Mon, 1 Jan 2024 09:00:00 +0000', from: '=?utf-8?q?=C3=84rger?= <arg@x>', cc: 'q@x', pad: 20 },
  { id: 'd@x', refs: '<missing@x>', subj: 'Other', date: 'Tue, 2 Jan 2024 10:00:00 +0000', from: 'bob@x' },
  { id: 'e@x', refs: '<missing@x>', subj: 'Other', date: 'Tue, 2 Jan 2024 09:00:00 +0000', from: 'Bob <bob@y>' },
  { id: 'f@x', subj: '[list] Fwd: Other', date: 'Wed, 3 Jan 2024 10:00:00 +0000' },
  { id: 'g@x', subj: 'Re: Lonely', date: 'Thu, 4 Jan 2024 10:00:00 +0000', internal: '2024-01-05T00:00:00Z' },
  { id: 'h@x', subj: 'Lonely', date: 'Thu, 4 Jan 2024 12:00:00 +0000' },
  { id: 'a@x', subj: 'dup id', date: 'Fri, 5 Jan 2024 10:00:00 +0000' },
  { id: 'i@x', refs: undefined, subj: 'Re: Lonely (fwd)', internal: '2024-01-03T00:00:00Z' },
  { id: 'j@x', refs: '<k@x>', subj: 'loop1', date: 'Sat, 6 Jan 2024 10:00:00 +0000' },
  { id: 'k@x', refs: '<j@x>', subj: 'loop2', date: 'Sat, 6 Jan 2024 11:00:00 +0000' },
  { subj: '[fwd: Topic]', date: 'Sun, 7 Jan 2024 10:00:00 +0000' },
  { subj: 'Topic', date: 'Sun, 7 Jan 2024 09:00:00 +0000' },
  { subj: 'Topic', date: 'Sun, 7 Jan 2024 11:00:00 +0000' },
  { id: 'm@x', refs: '<p1@x> <p2@x>', subj: 'deep', date: 'Mon, 8 Jan 2024 10:00:00 +0000' },
  { id: 'n@x', refs: '<p1@x> <p3@x>', subj: 'deep2', date: 'Mon, 8 Jan 2024 09:00:00 +0000' },
  { id: 'o@x', refs: '<q1@x>', subj: '', date: 'Mon, 8 Jan 2024 09:00:00 +0000' },
  { id: 'p@x', refs: '<q1@x>', date: 'Mon, 8 Jan 2024 08:00:00 +0000' },
  { id: 'r@x', subj: 'Re: [PATCH] [v2] fix (fwd)', date: 'Mon, 8 Jan 2024 08:00:00 -0500' },
  { id: 's@x', subj: '=?utf-8?q?Re=3A_fix?=', date: 'Mon, 8 Jan 2024 08:00:00 -0600', to: 'undisclosed:;' },
  { id: 't@x', refs: '<u@x>', subj: 'self', date: 'Mon, 8 Jan 2024 08:00:00 +0000' },
  { id: 'u@x', refs: '<t@x> <u@x>', subj: 'self2', date: 'Mon, 8 Jan 2024 07:00:00 +0000' },
  { id: 'v@x', refs: '<w@x>', subj: 'Re: Samething', date: 'Tue, 9 Jan 2024 07:00:00 +0000' },
  { id: 'w2@x', refs: '<w3@x>', subj: 'Re: Samething', date: 'Tue, 9 Jan 2024 08:00:00 +0000' },
  { id: 'w4@x', refs: '<w3@x>', subj: 'Samething', date: 'Tue, 9 Jan 2024 06:00:00 +0000' },
  { id: 'x1@x', subj: 'Samething', date: 'Tue, 9 Jan 2024 09:00:00 +0000' },
];
// Message 10 replies through In-Reply-To only, with a second, ignored id.
const IN_REPLY_TO: Record<number, string> = { 10: '<h@x> <zz@x>' };

function rawOf(spec: Spec, uid: number): Buffer {
  const lines = [
    spec.id && `Message-ID: <${spec.id}>`,
    spec.refs && `References: ${spec.refs}`,
    IN_REPLY_TO[uid] && `In-Reply-To: ${IN_REPLY_TO[uid]}`,
    spec.subj !== undefined && `Subject: ${spec.subj}`,
    spec.date && `Date: ${spec.date}`,
    spec.from && `From: ${spec.from}`,
    spec.to && `To: ${spec.to}`,
    spec.cc && `Cc: ${spec.cc}`,
  ].filter(Boolean);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\nbody\r\n${'x'.repeat(spec.pad ?? 0)}\r\n`);
}

function sortable(raw: Buffer, uid: number, internal = '2024-01-01T00:00:00Z'): SortableMessage {
  return { uid, internalDate: new Date(internal), size: raw.length, envelope: computeEnvelope(raw, parseMime(raw)) };
}

const messages = CORPUS.map((spec, i) => sortable(rawOf(spec, i + 1), i + 1, spec.internal));
const order = (program: string, subset = messages): string => {
  const criteria: SortCriterion[] = [];
  let reverse = false;
  for (const word of program.split(' ')) {
    if (word === 'REVERSE') reverse = true;
    else {
      criteria.push({ key: word as SortKey, reverse });
      reverse = false;
    }
  }
  return sortMessages(criteria, subset).join(' ');
};

test('SORT orders as Dovecot orders them, ties in UID order even under REVERSE', () => {
  const expected: Array<[string, string]> = [
    ['SUBJECT', '18 19 16 17 9 20 21 1 2 3 7 8 10 11 12 4 5 6 24 25 26 27 22 23 13 14 15'],
    ['REVERSE SUBJECT', '13 14 15 23 22 24 25 26 27 4 5 6 12 11 7 8 10 1 2 3 20 21 9 17 16 18 19'],
    ['DATE', '3 1 2 5 4 10 6 7 8 9 11 12 14 13 15 23 19 22 17 18 16 20 21 26 24 25 27'],
    ['REVERSE DATE', '27 25 24 26 21 20 16 17 18 19 22 23 15 13 14 12 11 9 8 7 6 10 4 5 2 1 3'],
    ['ARRIVAL', '1 2 3 4 5 6 8 9 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 10 7'],
    ['REVERSE ARRIVAL', '7 10 1 2 3 4 5 6 8 9 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27'],
    ['FROM', '6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 2 3 4 5 1'],
    ['TO', '3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 22 23 24 25 26 27 1 2 21'],
    ['CC', '1 2 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 3'],
    ['DISPLAYFROM', '6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 2 3 5 4 1'],
    ['DISPLAYTO', '3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 22 23 24 25 26 27 1 2 21'],
    ['SIZE', '14 15 13 10 8 9 19 7 27 6 18 22 11 12 20 23 26 16 17 24 25 21 1 4 5 2 3'],
    ['REVERSE SIZE', '3 2 5 1 4 21 25 17 24 16 23 26 20 11 12 22 18 6 7 27 19 8 9 10 13 14 15'],
    ['SUBJECT REVERSE DATE', '18 19 16 17 9 21 20 2 1 3 8 7 10 11 12 6 4 5 27 25 24 26 22 23 15 13 14'],
  ];
  for (const [program, want] of expected) assert.equal(order(program), want, program);
  assert.equal(order('FROM SUBJECT', messages.slice(0, 10)), '9 7 8 10 6 2 3 4 5 1');
});

// Expected orders from Dovecot 2.3.19 on the same five messages.
test('SORT keys: DATE in UTC with INTERNALDATE for a missing Date:, addresses by mailbox, display names decoded', () => {
  const m = (uid: number, head: string, internal = '2024-01-01T12:00:00Z') => sortable(Buffer.from(`${head}\r\n\r\nx\r\n`), uid, internal);
  const msgs = [
    m(1, 'Date: Mon, 1 Jan 2024 10:00:00 -0500\r\nFrom: Zoe <a@x>'), // 15:00 UTC
    m(2, 'Date: Mon, 1 Jan 2024 14:00:00 +0000\r\nFrom: "" <b@x>'),
    m(3, 'Date: nonsense\r\nFrom: =?utf-8?q?=C3=A9mile?= <c@x>', '2024-01-01T14:30:00Z'),
    m(4, 'From: <_under@x>\r\nTo: g: a@x, b@x;', '2023-12-31T00:00:00Z'),
    m(5, 'Date: Thu, 1 Jan 1970 00:00:00 +0000\r\nFrom: Adam <Z@x>', '2024-01-01T13:00:00Z'),
  ];
  assert.deepEqual(sortMessages([{ key: 'DATE', reverse: false }], msgs), [4, 5, 2, 3, 1]);
  assert.deepEqual(sortMessages([{ key: 'FROM', reverse: false }], msgs), [1, 2, 3, 5, 4]); // A B C Z _ (upper case, then bytes)
  assert.deepEqual(sortMessages([{ key: 'DISPLAYFROM', reverse: false }], msgs), [5, 2, 3, 1, 4]); // ADAM, B@X, E\u0301MILE, ZOE, _UNDER@X
  assert.deepEqual(sortMessages([{ key: 'TO', reverse: true }], msgs), [4, 1, 2, 3, 5]); // the group name counts; ties keep UID order
  assert.deepEqual(sortMessages([], msgs.slice().reverse()), [1, 2, 3, 4, 5]);
  assert.equal(sentTime(msgs[2]!.envelope, new Date(7)), 7);
  assert.equal(sentTime(msgs[0]!.envelope, new Date(7)), Date.UTC(2024, 0, 1, 15));
});

test('base subject (RFC 5256 §2.1) edge cases, as Dovecot extracts them', () => {
  const cases: Array<[string | null, string]> = [
    ['Re: Hello', 'Hello'],
    ['RE:   re: Hello', 'Hello'],
    ['Fwd: Re: [list] Hello (fwd)', 'Hello'],
    ['[fwd: Re: Hello]', 'Hello'],
    ['[PATCH]', '[PATCH]'],
    ['[PATCH] [v2] fix it', 'fix it'],
    ['Re[2]: x', 'x'],
    ['Re [blob]: x', 'x'],
    ['x (fwd) (FWD)', 'x'],
    ['x(fwd)', 'x'],
    ['=?utf-8?q?Re=3A_caf=C3=A9?=', 'café'],
    ['a\t   b', 'a b'],
    ['a\r\n b', 'a b'],
    ['Re:', ''],
    ['Rest: x', 'Rest: x'],
    ['Fw: x', 'x'],
    ['FWD: x', 'x'],
    ['[fwd: [fwd: x]]', 'x'],
    ['[a]b', 'b'],
    ['Re: [a]', '[a]'],
    ['Re: [a] [b]', '[b]'],
    ['Re: Fwd: [x] Re: y', 'y'],
    ['[fwd: x] (fwd)', 'x'],
    ['Re : x', 'x'],
    ['Re  : x', 'x'],
    ['Fwd:[a] Re:x', 'x'],
    ['[a][b] Re: x', 'x'],
    ['Re: [fwd: y]', 'y'],
    ['[x] [fwd: y]', 'y'],
    ['  lead', 'lead'],
    ['re:re:re: z', 'z'],
    ['Re: =?iso-8859-1?q?=E9t=E9?=', 'été'],
    ['[a] Re: [b] x', 'x'],
    ['Re: Re: [fwd: Re: x] (fwd)', 'x'],
    ['[fwd: ]', ''],
    ['[fwd:]', ''],
    ['Fwd (fwd) x', 'Fwd (fwd) x'],
    ['AW: x', 'AW: x'],
    [null, ''],
  ];
  for (const [subject, base] of cases) assert.equal(baseSubject(subject), base, JSON.stringify(subject));
});

test('base subject remembers whether a reply or forward marker was removed', () => {
  assert.equal(extractBaseSubject('Hello').replyOrForward, false);
  assert.equal(extractBaseSubject('[list] Hello').replyOrForward, false);
  assert.equal(extractBaseSubject('Re: Hello').replyOrForward, true);
  assert.equal(extractBaseSubject('Hello (fwd)').replyOrForward, true);
  assert.equal(extractBaseSubject('[Fwd: Hello]').replyOrForward, true);
  assert.equal(extractBaseSubject('Rest: Hello').replyOrForward, false);
});
