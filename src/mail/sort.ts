/**
 * SORT (RFC 5256 §3, with DISPLAYFROM/DISPLAYTO from RFC 5957) and the base subject of
 * RFC 5256 §2.1, which THREAD shares.
 *
 * Strings compare as Dovecot 2.3 compares them (index-sort.c): folded to decomposed upper
 * case and then octet by octet as UTF-8, which for ASCII is the i;ascii-casemap collation
 * RFC 5256 asks for. Messages equal under every key keep ascending UID (= sequence) order,
 * whatever REVERSE says (RFC 5256 §3).
 */
import type { Address, Envelope } from '../model/message.js';
import { decodeWords, fold, parseMailDate } from './search.js';

export type SortKey = 'ARRIVAL' | 'CC' | 'DATE' | 'FROM' | 'SIZE' | 'SUBJECT' | 'TO' | 'DISPLAYFROM' | 'DISPLAYTO';

export interface SortCriterion {
  key: SortKey;
  reverse: boolean;
}

export interface SortableMessage {
  uid: number;
  internalDate: Date;
  size: number;
  envelope: Envelope;
}

/** UIDs of `messages` in the order the criteria give. */
export function sortMessages(criteria: SortCriterion[], messages: SortableMessage[]): number[] {
  // Each key is computed once per message, not once per comparison.
  const rows = messages.map((m) => ({ uid: m.uid, keys: criteria.map((c) => sortValue(c.key, m)) }));
  rows.sort((a, b) => {
    for (let i = 0; i < criteria.length; i++) {
      const x = a.keys[i]!;
      const y = b.keys[i]!;
      const d = typeof x === 'number' ? x - (y as number) : Buffer.compare(x, y as Buffer);
      if (d !== 0) return (d < 0 ? -1 : 1) * (criteria[i]!.reverse ? -1 : 1);
    }
    return a.uid - b.uid;
  });
  return rows.map((r) => r.uid);
}

function sortValue(key: SortKey, m: SortableMessage): number | Buffer {
  switch (key) {
    case 'ARRIVAL':
      return m.internalDate.getTime();
    case 'DATE':
      return sentTime(m.envelope, m.internalDate);
    case 'SIZE':
      return m.size;
    case 'SUBJECT':
      return collationKey(baseSubject(m.envelope.subject));
    case 'FROM':
      return collationKey(first(m.envelope.from)?.mailbox ?? '');
    case 'TO':
      return collationKey(first(m.envelope.to)?.mailbox ?? '');
    case 'CC':
      return collationKey(first(m.envelope.cc)?.mailbox ?? '');
    case 'DISPLAYFROM':
      return collationKey(displayName(first(m.envelope.from)));
    case 'DISPLAYTO':
      return collationKey(displayName(first(m.envelope.to)));
  }
}

const collationKey = (s: string): Buffer => Buffer.from(fold(s), 'utf8');

/**
 * The first entry of the first field, as Dovecot takes it (a group's first entry is the
 * group itself, whose mailbox is the group name).
 */
const first = (list: Address[] | null): Address | undefined => list?.[0];

/**
 * RFC 5957 §3: the decoded display name, or when there is none the addr-spec
 * ("mailbox@host"), or just the mailbox when there is no host.
 */
function displayName(a: Address | undefined): string {
  if (!a) return '';
  const name = a.name === null ? '' : decodeWords(a.name);
  if (name !== '') return name;
  if (a.mailbox !== null && a.host !== null) return `${a.mailbox}@${a.host}`;
  return a.mailbox ?? '';
}

/**
 * The sent date of RFC 5256 §2.2 in UTC ms: the Date: field with its zone applied, or the
 * INTERNALDATE when Date: is missing or unreadable. Like Dovecot, a Date: that reads as the
 * epoch itself also counts as missing.
 */
export function sentTime(envelope: Envelope, internalDate: Date): number {
  const time = parseMailDate(envelope.date)?.time;
  return time === undefined || time === 0 ? internalDate.getTime() : time;
}

/** RFC 5256 §2.1 base subject, with whether the original was a reply or forward (§4). */
export interface BaseSubject {
  /** The base subject as written (case kept); compare with fold(). */
  base: string;
  /** A "Re:"/"Fwd:" leader, a "(fwd)" trailer or a "[fwd: ...]" wrapper was removed. */
  replyOrForward: boolean;
}

/** RFC 5256 §2.1 base subject of a raw Subject: value (encoded-words allowed). */
export function baseSubject(subject: string | null): string {
  return extractBaseSubject(subject).base;
}

/**
 * The steps of RFC 5256 §2.1, in the order Dovecot's imap-base-subject.c runs them. The ABNF
 * allows at most one WSP between tokens here because step (1) has already packed blanks.
 */
export function extractBaseSubject(subject: string | null): BaseSubject {
  // (1) decode encoded-words; tabs, continuations and runs of blanks become one space
  let s = decodeWords(subject ?? '').replace(/[ \t\r\n]+/g, ' ');
  let replyOrForward = false;
  for (;;) {
    // (2) subj-trailer = "(fwd)" / WSP, repeatedly
    for (;;) {
      if (s.endsWith(' ')) s = s.slice(0, -1);
      else if (/\(fwd\)$/i.test(s)) {
        s = s.slice(0, -5);
        replyOrForward = true;
      } else break;
    }
    // (3) subj-leader, (4) a subj-blob that leaves something behind, (5) until neither applies
    for (let found = true; found; ) {
      found = false;
      const leader = subjLeader(s);
      if (leader) {
        s = s.slice(leader.length);
        replyOrForward ||= leader.refwd;
        found = true;
      }
      const blob = subjBlob(s, 0);
      if (blob > 0 && blob < s.length) {
        s = s.slice(blob);
        found = true;
      }
    }
    // (6) subj-fwd-hdr "[fwd:" ... subj-fwd-trl "]": unwrap and go back to (2)
    if (!/^\[fwd:/i.test(s) || !s.endsWith(']')) break;
    s = s.slice(5, -1);
    replyOrForward = true;
  }
  return { base: s, replyOrForward };
}

/**
 * subj-leader = (*subj-blob subj-refwd) / WSP
 * subj-refwd  = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
 * Returns how much to cut, or undefined. A leading space is cut even when no refwd follows.
 */
function subjLeader(s: string): { length: number; refwd: boolean } | undefined {
  let p = s.startsWith(' ') ? 1 : 0;
  const space = p;
  for (let b; s[p] === '['; p = b) {
    b = subjBlob(s, p);
    if (b === 0) return space ? { length: space, refwd: false } : undefined;
  }
  const word = /^(re|fwd|fw)/i.exec(s.slice(p, p + 3));
  if (!word) return space ? { length: space, refwd: false } : undefined;
  p += word[1]!.length;
  if (s[p] === ' ') p++;
  if (s[p] === '[') {
    const b = subjBlob(s, p);
    if (b === 0) return space ? { length: space, refwd: false } : undefined;
    p = b;
  }
  if (s[p] !== ':') return space ? { length: space, refwd: false } : undefined;
  return { length: p + 1, refwd: true };
}

/** subj-blob = "[" *BLOBCHAR "]" *WSP at `p`: the offset just past it, or 0 when there is none. */
function subjBlob(s: string, p: number): number {
  if (s[p] !== '[') return 0;
  let q = p + 1;
  while (q < s.length && s[q] !== '[' && s[q] !== ']') q++;
  if (s[q] !== ']') return 0;
  q++;
  return s[q] === ' ' ? q + 1 : q;
}
