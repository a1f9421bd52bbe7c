/**
 * THREAD. The long expected strings are Dovecot 2.3.19's THREAD answers for the same
 * messages (same bytes, UIDs and INTERNALDATEs), which settles every place where RFC 5256
 * leaves a choice; the short cases pin single steps of the algorithm (Dovecot gives the same
 * answers for them too).
 */
import { encodeThreads } from '../../../src/imap/wire/encode.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeEnvelope } from '../../../src/mime/structure.js';
import { parseMime } from '../../../src/mime/tree.js';
import {
  type ThreadNode,
  type ThreadableMessage,
  messageIds,
  parseReferences,
  threadMessages,
} from '../../../src/mail/thread.js';

function threadable(uid: number, head: string[], internal = '2024-01-01T00:00:00Z'): ThreadableMessage {
  const raw = Buffer.from(`${head.join('\r\n')}\r\n\r\nbody\r\n`);
  return { uid, internalDate: new Date(internal), envelope: computeEnvelope(raw, parseMime(raw)), references: parseReferences(raw) };
}

const both = (messages: ThreadableMessage[]) => ({
  references: encodeThreads(threadMessages('REFERENCES', messages)),
  orderedSubject: encodeThreads(threadMessages('ORDEREDSUBJECT', messages)),
});

test('THREAD response syntax (RFC 5256 §4 examples)', () => {
  const n = (uid: number | null, ...children: ThreadNode[]): ThreadNode => ({ uid, children });
  assert.equal(encodeThreads([n(2), n(3, n(6, n(4, n(23)), n(44, n(7, n(96)))))]), '(2)(3 6 (4 23)(44 7 96))');
  assert.equal(encodeThreads([n(null, n(3), n(5))]), '((3)(5))');
  assert.equal(encodeThreads([n(1, n(2), n(3, n(4)))]), '(1 (2)(3 4))');
  assert.equal(encodeThreads([n(null, n(7))]), '(7)');
  assert.equal(encodeThreads([]), '');
});

test('references: References first, else the first id of In-Reply-To; ids read as Dovecot reads them', () => {
  const refs = (head: string) => parseReferences(Buffer.from(`${head}\r\n\r\n`));
  assert.deepEqual(refs('References: <a@x>\r\n <b@x> junk <nope> <c\r\n @x>\r\nIn-Reply-To: <z@x>'), ['a@x', 'b@x', 'c@x']);
  assert.deepEqual(refs('References: no ids here\r\nIn-Reply-To: (x) <z@x> <y@x>'), ['z@x']);
  assert.deepEqual(refs('In-Reply-To: "Joe" <"joe q"@(c)x.org> <y@x>'), ['joe q@x.org']);
  assert.deepEqual(refs('Subject: none'), []);
  assert.deepEqual(messageIds('<a@[1.2.3.4]> <"x\\"y" @ z> <broken'), ['a@[1.2.3.4]', 'x"y@z']);
});

test('REFERENCES: links, loops, duplicate ids and dummies, step by step', () => {
  const at = (h: number) => `Date: Mon, 1 Jan 2024 ${String(h).padStart(2, '0')}:00:00 +0000`;
  // 3 replies to an absent message (a dummy); 4's References were truncated, so 4 keeps
  // the parent its own last reference names (1B), not the one 3 implied for it (1A).
  const chain = [
    threadable(1, ['Message-ID: <1@x>', 'Subject: one', at(1)]),
    threadable(2, ['Message-ID: <2@x>', 'References: <1@x>', 'Subject: two', at(2)]),
    threadable(3, ['Message-ID: <3@x>', 'References: <gone@x> <4@x>', 'Subject: three', at(3)]),
    threadable(4, ['Message-ID: <4@x>', 'References: <1@x>', 'Subject: four', at(4)]),
  ];
  assert.equal(both(chain).references, '(1 (2)(4 3))');
  // A loop through References is not followed; a repeated Message-ID is the first holder's.
  const loop = [
    threadable(1, ['Message-ID: <a@x>', 'References: <b@x>', 'Subject: a', at(1)]),
    threadable(2, ['Message-ID: <b@x>', 'References: <a@x>', 'Subject: b', at(2)]),
    threadable(3, ['Message-ID: <a@x>', 'References: <a@x>', 'Subject: c', at(3)]),
  ];
  assert.equal(both(loop).references, '(2 1 3)');
  // A dummy at the top with one child gives way to it; with two it stays (sorted by its
  // earliest child), and messages without Message-ID still thread by their references.
  const dummies = [
    threadable(1, ['References: <p@x>', 'Subject: x', at(5)]),
    threadable(2, ['References: <q@x>', 'Subject: y', at(4)]),
    threadable(3, ['References: <q@x>', 'Subject: z', at(3)]),
  ];
  assert.equal(both(dummies).references, '((3)(2))(1)');
});

test('REFERENCES step 5: threads gather by base subject', () => {
  const at = (h: number) => `Date: Tue, 2 Jan 2024 ${String(h).padStart(2, '0')}:00:00 +0000`;
  const m = (uid: number, subject: string, h: number, extra: string[] = []) =>
    threadable(uid, [`Message-ID: <${uid}@x>`, `Subject: ${subject}`, at(h), ...extra]);
  // Two originals with one subject meet under a new dummy; a reply joins the original.
  assert.equal(both([m(1, 'Plan', 1), m(2, 'Plan', 2), m(3, 'Re: Lunch', 3), m(4, 'Lunch', 4)]).references, '((1)(2))(4 3)');
  // A reply met first yields its table entry to the original that comes after it.
  assert.equal(both([m(1, 'Re: Plan', 1), m(2, 'plan', 2)]).references, '(2 1)');
  // Empty base subjects never gather.
  assert.equal(both([m(1, 'Re:', 1), m(2, '', 2)]).references, '(1)(2)');
  // A dummy table entry takes in the other thread's messages.
  const withDummy = [m(1, 'Re: Plan', 3, ['References: <0@x>']), m(2, 'Re: Plan', 4, ['References: <0@x>']), m(3, 'Plan', 1)];
  assert.equal(both(withDummy).references, '((3)(1)(2))');
});

// The corpus of sort.test.ts, threaded (the In-Reply-To of 10 names h@x and then zz@x).
const SPECS: Array<[id: string | null, refs: string | null, subject: string | null, date: string | null, internal?: string]> = [
  ['a@x', null, 'Hello', 'Mon, 1 Jan 2024 10:00:00 +0000'],
  ['b@x', '<a@x>', 'Re: Hello', 'Mon, 1 Jan 2024 11:00:00 +0000'],
  ['c@x', '<a@x> <b@x>', 'Re: Re: Hello', 'Mon, 1 Jan 2024 09:00:00 +0000'],
  ['d@x', '<missing@x>', 'Other', 'Tue, 2 Jan 2024 10:00:00 +0000'],
  ['e@x', '<missing@x>', 'Other', 'Tue, 2 Jan 2024 09:00:00 +0000'],
  ['f@x', null, '[list] Fwd: Other', 'Wed, 3 Jan 2024 10:00:00 +0000'],
  ['g@x', null, 'Re: Lonely', 'Thu, 4 Jan 2024 10:00:00 +0000', '2024-01-05T00:00:00Z'],
  ['h@x', null, 'Lonely', 'Thu, 4 Jan 2024 12:00:00 +0000'],
  ['a@x', null, 'dup id', 'Fri, 5 Jan 2024 10:00:00 +0000'],
  ['i@x', null, 'Re: Lonely (fwd)', null, '2024-01-03T00:00:00Z'],
  ['j@x', '<k@x>', 'loop1', 'Sat, 6 Jan 2024 10:00:00 +0000'],
  ['k@x', '<j@x>', 'loop2', 'Sat, 6 Jan 2024 11:00:00 +0000'],
  [null, null, '[fwd: Topic]', 'Sun, 7 Jan 2024 10:00:00 +0000'],
  [null, null, 'Topic', 'Sun, 7 Jan 2024 09:00:00 +0000'],
  [null, null, 'Topic', 'Sun, 7 Jan 2024 11:00:00 +0000'],
  ['m@x', '<p1@x> <p2@x>', 'deep', 'Mon, 8 Jan 2024 10:00:00 +0000'],
  ['n@x', '<p1@x> <p3@x>', 'deep2', 'Mon, 8 Jan 2024 09:00:00 +0000'],
  ['o@x', '<q1@x>', '', 'Mon, 8 Jan 2024 09:00:00 +0000'],
  ['p@x', '<q1@x>', null, 'Mon, 8 Jan 2024 08:00:00 +0000'],
  ['r@x', null, 'Re: [PATCH] [v2] fix (fwd)', 'Mon, 8 Jan 2024 08:00:00 -0500'],
  ['s@x', null, '=?utf-8?q?Re=3A_fix?=', 'Mon, 8 Jan 2024 08:00:00 -0600'],
  ['t@x', '<u@x>', 'self', 'Mon, 8 Jan 2024 08:00:00 +0000'],
  ['u@x', '<t@x> <u@x>', 'self2', 'Mon, 8 Jan 2024 07:00:00 +0000'],
  ['v@x', '<w@x>', 'Re: Samething', 'Tue, 9 Jan 2024 07:00:00 +0000'],
  ['w2@x', '<w3@x>', 'Re: Samething', 'Tue, 9 Jan 2024 08:00:00 +0000'],
  ['w4@x', '<w3@x>', 'Samething', 'Tue, 9 Jan 2024 06:00:00 +0000'],
  ['x1@x', null, 'Samething', 'Tue, 9 Jan 2024 09:00:00 +0000'],
];
const corpus = SPECS.map(([id, refs, subject, date, internal], i) => {
  const head = [
    id && `Message-ID: <${id}>`,
    refs && `References: ${refs}`,
    i === 9 && 'In-Reply-To: <h@x> <zz@x>',
    subject !== null && `Subject: ${subject}`,
    date && `Date: ${date}`,
  ].filter((l): l is string => typeof l === 'string');
  return threadable(i + 1, head, internal);
});
const uids = (from: number, to: number) => corpus.filter((m) => m.uid >= from && m.uid <= to);

test('REFERENCES and ORDEREDSUBJECT answer as Dovecot does on a crafted corpus', () => {
  assert.deepEqual(both(corpus), {
    references: '(1 2 3)((5)(4)(6))(8 (10)(7))(9)(12 11)((14 13)(15))(23 22)((19)(18))((17)(16))((20)(21))((26)(24)(25)(27))',
    orderedSubject: '(3 (1)(2))(5 (4)(6))(10 (7)(8))(9)(11)(12)(14 (13)(15))(23)(19 18)(22)(17)(16)(20 21)(26 (24)(25)(27))',
  });
  assert.equal(both(uids(1, 12)).references, '(1 2 3)((5)(4)(6))(8 (10)(7))(9)(12 11)');
  assert.equal(both(uids(13, 27)).references, '((14 13)(15))(23 22)((19)(18))((17)(16))((20)(21))((26)(24)(25)(27))');
  assert.equal(both(uids(2, 27)).references, '((5)(4)(6))(8 (10)(7))(9 2 3)(12 11)((14 13)(15))(23 22)((19)(18))((17)(16))((20)(21))((26)(24)(25)(27))');
  assert.equal(both(uids(5, 20)).orderedSubject, '(5 6)(10 (7)(8))(9)(11)(12)(14 (13)(15))(19 18)(17)(16)(20)');
});

/** 140 messages with random ids (some repeated), references (loops included), subjects and dates. */
function randomCorpus(seed: number): ThreadableMessage[] {
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const pick = <T>(a: T[]): T => a[Math.floor(rnd() * a.length)]!;
  const ids = Array.from({ length: 70 }, (_, i) => `id${i}@h`);
  const bases = ['alpha', 'Beta', 'gamma ray', '', 'ALPHA', '=?utf-8?q?caf=C3=A9?=', 'Café', 'x'];
  const prefixes = ['', '', 'Re: ', 'RE: ', 'Fwd: ', '[list] ', '[list] Re: ', 'Re[2]: ', 'Fw: Re: '];
  const suffixes = ['', '', ' (fwd)', '  ', ' (FWD) '];
  const names = ['', 'Zed', '=?utf-8?q?=C3=84rger?=', '"Q. Public"', 'amy'];
  const out: ThreadableMessage[] = [];
  for (let i = 0; i < 140; i++) {
    const lines: string[] = [];
    if (rnd() < 0.9) lines.push(`Message-ID: <${pick(ids)}>`);
    const nref = Math.floor(rnd() * 4);
    if (nref > 0 && rnd() < 0.8) lines.push(`References: ${Array.from({ length: nref }, () => `<${pick(ids)}>`).join(' ')}`);
    else if (rnd() < 0.5) lines.push(`In-Reply-To: <${pick(ids)}> (comment)`);
    const subj = rnd() < 0.1 ? `[fwd: ${pick(bases)}]` : pick(prefixes) + pick(bases) + pick(suffixes);
    if (rnd() < 0.95) lines.push(`Subject: ${subj}`);
    const day = 1 + Math.floor(rnd() * 5);
    const hour = Math.floor(rnd() * 24);
    if (rnd() < 0.85) lines.push(`Date: ${day} Jan 2024 ${String(hour).padStart(2, '0')}:00:00 ${pick(['+0000', '-0500', '+0900', 'EST', 'GMT'])}`);
    const who = (n: string): string => `${n ? `${n} ` : ''}<${pick(['a', 'b', 'C', 'dd', ''])}@${pick(['x', 'y'])}>`;
    if (rnd() < 0.9) lines.push(`From: ${who(pick(names))}`);
    if (rnd() < 0.7) lines.push(`To: ${who(pick(names))}`);
    if (rnd() < 0.4) lines.push(`Cc: ${who(pick(names))}`);
    const iday = 1 + Math.floor(rnd() * 5);
    rnd(); // the body length, which threading does not look at
    out.push(threadable(i + 1, lines, `2024-01-0${iday}T${String(Math.floor(rnd() * 24)).padStart(2, '0')}:00:00Z`));
  }
  return out;
}

test('REFERENCES and ORDEREDSUBJECT answer as Dovecot does on a random corpus', () => {
  const all = randomCorpus(7);
  const got = both(all);
  assert.equal(
    got.references,
    '((118)(92)(116)(52)(51)(17 (22)(18 10 (31 38)(11 (131)(129 (98)(21 68)(59)(71 (102)(20))(6 (60 135)(133))(80 76 (14 (78)(90 113)(65))(97)(114 (81 62)(57 (86 (122)(55)(88))(119))(124 (49)(117)(126 (77)(106))(5)(134)(125)))(130)(79)(94)(28))(26 109)(56)(107)(39)(112))(66 (42)(34)(74 63 (16)(43 93)(46))(50)))))(13 (44)(108)(82)))((7 128)(19)(33)(75 54)(140 3 101)(2 (69 (9 (67)(100)(91)(72)(8 (4 (111)(70))(104))(45))(137)(47))(132))(15 40)(35 (24)(23 (29 (85)(105 (36)(95)))(115 (27 73)(30)))))(89)(37 (53 121 83)(110))((138)(136 (96)(25))(99)(103))((87 (139)(32)(61)(127)(41))(120))(58)(1 123 (84)(12 64))(48)',
  );
  assert.equal(
    got.orderedSubject,
    '(78 (98)(31)(90)(135)(122)(138)(75)(20)(136)(99)(3)(79)(47)(103)(23))(67 (36)(93)(118)(53)(34)(9)(11)(43)(77)(92)(97)(86)(121)(91)(49)(57)(84)(126)(108)(114)(131)(72)(64)(116)(45)(95)(52)(124)(40)(62)(85)(105)(107)(76)(65)(82)(18)(51)(28)(17))(68 (69)(21)(137)(37)(117)(25)(109)(24)(113)(58)(133)(38)(119)(39)(1)(83)(46)(48))(81 (42)(123)(16)(132)(100)(111)(71)(106)(6)(22)(87)(139)(96)(60)(4)(63)(32)(55)(61)(127)(41)(8)(50)(5)(115)(12)(54)(2)(56)(120)(30)(35)(112))(14 (44)(110)(89)(102)(26)(129)(101)(88)(66)(128)(125))(59 (7)(29)(74)(19)(27)(80)(33)(73)(140)(104)(130)(70)(94)(15)(134)(10)(13))',
  );
  assert.equal(
    both(all.slice(0, 70)).references,
    '((7)(19)(33)(2 (69 (9 (67)(63 (16)(43)(46))(45)(3 (36)(49)(5)))(47))(27)(30))(15 40)(35 (24)(23 29)))(37 53 (21 68)(59)(56))((6 (14 65)(60)(28))(32)(55)(61)(41)(8 4 70)(12 64 20)(54)(39))((57)(52)(62)(51)(17 (22)(18 10 (31 38)(11 66 (42)(34)(50))))(13 44))(25)(26)(58)(1)(48)',
  );
  assert.equal(
    both(all.filter((m) => m.uid <= 30 || (m.uid >= 71 && m.uid <= 100))).references,
    '((98)(6)(80 76 (14 (78 86 88)(90 (96)(25)))(97)(79)(94 (21)(71 20))(28))(26 74 (72)(3))(99)(95))((81)(87)(8 4)(5))((9 (100)(91))(92)(84)(12)(17 (22)(18 10 11 93)))((7)(19)(75)(2 (27 73)(30))(15 16)(13 82))(89)(1 (77)(24)(23 29 85))(83)',
  );
});
