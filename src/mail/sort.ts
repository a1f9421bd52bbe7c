/**
 * SORT (RFC 5256 §3, with DISPLAYFROM/DISPLAYTO from RFC 5957), the base subject of
 * RFC 5256 §2.1, which THREAD shares, and the header-text primitives all three of SEARCH,
 * SORT and THREAD need: RFC 2047 words, charsets, Date: values and the comparison fold.
 *
 * Strings compare as Dovecot 2.3 compares them (index-sort.c): folded to decomposed upper
 * case and then octet by octet as UTF-8, which for ASCII is the i;ascii-casemap collation
 * RFC 5256 asks for. Messages equal under every key keep ascending UID (= sequence) order,
 * whatever REVERSE says (RFC 5256 §3). Keys come from the cached ENVELOPE, so a message that
 * repeats Subject: or Date: sorts by the last one, where Dovecot reads the first.
 */
import { isUtf8 } from 'node:buffer';
import { TextDecoder } from 'node:util';
import type { Address, Envelope } from '../model/message.js';

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

// Header-text primitives shared with search.ts and thread.ts.

/**
 * Case-insensitive comparison form, like Dovecot's i;unicode-casemap (decomposed titlecase):
 * uppercase (ß becomes SS), then canonical decomposition.
 */
export function fold(s: string): string {
  return s.toUpperCase().normalize('NFD');
}

const pad2 = (n: number): string => String(n).padStart(2, '0');
/** The calendar date of an instant in UTC, as YYYY-MM-DD (how date keys are compared). */
export const utcDay = (d: Date): string =>
  `${String(d.getUTCFullYear()).padStart(4, '0')}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;

type Decode = (bytes: Buffer) => string;
const decoders = new Map<string, Decode>();

/**
 * WHATWG windows-1252, which is also what the iso-8859-1 and us-ascii labels mean there and
 * what stands in for "Latin-1" below: C1 controls never occur in real text, cp1252 punctuation
 * does. Node 20.18.3 and later decode 0x80-0x9F as Latin-1 (nodejs/node#56542), so the table
 * is applied here whatever the runtime does.
 */
const CP1252 = '\u20ac\x81\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\x8d\u017d\x8f' +
  '\x90\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\x9d\u017e\u0178';
const windows1252: Decode = (bytes) => bytes.toString('latin1').replace(/[\x80-\x9f]/g, (c) => CP1252[c.charCodeAt(0) - 0x80]!);

function decoderFor(label: string): Decode {
  let decode = decoders.get(label);
  if (!decode) {
    try {
      const decoder = new TextDecoder(label);
      decode = decoder.encoding === 'windows-1252' ? windows1252 : (bytes) => decoder.decode(bytes);
    } catch {
      decode = windows1252;
    }
    decoders.set(label, decode);
  }
  return decode;
}

/**
 * Bytes in a MIME charset as text. No charset (or us-ascii) means UTF-8 when the bytes are
 * valid UTF-8 and Latin-1 (windows-1252) otherwise; so does a charset TextDecoder does not know.
 */
export function decodeCharset(bytes: Uint8Array, charset: string | undefined): string {
  const label = (charset ?? '').trim().toLowerCase();
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (label === '' || label === 'us-ascii' || label === 'ascii') return isUtf8(buf) ? buf.toString('utf8') : windows1252(buf);
  return decoderFor(label)(buf);
}

// encoded-word = "=?" charset ["*" language] "?" encoding "?" encoded-text "?="
const ENCODED_WORD = /=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=/g;

/**
 * RFC 2047 encoded-words decoded wherever they appear (Dovecot does not insist on their
 * being separate tokens). White space between two encoded-words is dropped, and adjacent
 * words in one charset are joined as bytes first, so a character split between them survives.
 */
export function decodeWords(text: string): string {
  if (!text.includes('=?')) return text;
  let out = '';
  let last = 0;
  let pending: { charset: string; bytes: Buffer[] } | undefined;
  const flush = (): void => {
    if (pending) out += decodeCharset(Buffer.concat(pending.bytes), pending.charset);
    pending = undefined;
  };
  for (const m of text.matchAll(ENCODED_WORD)) {
    const gap = text.slice(last, m.index);
    const charset = m[1]!.toLowerCase();
    const bytes = /[bB]/.test(m[2]!) ? Buffer.from(m[3]!, 'base64') : qWord(m[3]!);
    if (pending && /^[ \t\r\n]*$/.test(gap)) {
      if (pending.charset === charset) pending.bytes.push(bytes);
      else {
        flush();
        pending = { charset, bytes: [bytes] };
      }
    } else {
      flush();
      out += gap;
      pending = { charset, bytes: [bytes] };
    }
    last = m.index + m[0].length;
  }
  flush();
  return out + text.slice(last);
}

function qWord(s: string): Buffer {
  return Buffer.from(
    s.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))),
    'latin1',
  );
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const ATOM = /[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\uffff]+|\S/g;

/**
 * A Date: field value read the way Dovecot's message_date_parse reads it:
 * [weekday ","] dd month [yy]yy hh (":" / ".") mm [(":" / ".") ss] [zone], comments ignored,
 * two-digit years 1970-2069, an unknown or missing zone taken as +0000. `day` is the calendar
 * date as written (what SENT* compares); `time` is the instant in UTC ms (what SORT compares).
 */
export function parseMailDate(value: string | null): { day: string; time: number } | null {
  if (value === null) return null;
  const tokens = stripComments(value).match(ATOM) ?? [];
  let i = 0;
  const next = (): string => tokens[i++] ?? '';
  let t = next();
  if (t.length === 3) {
    if (next() !== ',') return null;
    t = next();
  }
  if (!/^\d{1,2}$/.test(t)) return null;
  const day = Number(t);
  const month = MONTHS.indexOf((t = next()).slice(0, 3).toLowerCase());
  if (t.length < 3 || month < 0) return null;
  t = next();
  if (!/^(\d{2}|\d{4})$/.test(t)) return null;
  let year = Number(t);
  if (t.length === 2) year += year < 70 ? 2000 : 1900;
  else if (year < 1900) return null;
  t = next();
  if (!/^\d{1,2}$/.test(t)) return null;
  const hour = Number(t);
  if (!/^[:.]$/.test(next()) || !/^\d{2}$/.test((t = next()))) return null;
  const minute = Number(t);
  let second = 0;
  if (tokens[i] === ':' || tokens[i] === '.') {
    i++;
    if (!/^\d{2}$/.test((t = next()))) return null;
    second = Math.min(Number(t), 59);
  }
  const zone = tokens[i];
  if (zone !== undefined && !/^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]/.test(zone)) return null;
  const local = Date.UTC(year, month, day, hour, minute, second);
  const check = new Date(local);
  if (check.getUTCDate() !== day || check.getUTCMonth() !== month || hour > 23 || minute > 59) return null;
  return { day: utcDay(check), time: local - zoneOffset(zone ?? '') * 60_000 };
}

function stripComments(value: string): string {
  let out = '';
  let depth = 0;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (ch === '\\' && depth > 0) i++;
    else if (ch === '(') depth++;
    else if (ch === ')' && depth > 0) {
      depth--;
      out += ' ';
    } else if (depth === 0) out += ch;
  }
  return out;
}

/** Minutes east of UTC; Dovecot reads military zones by their letter and anything unknown as 0. */
function zoneOffset(zone: string): number {
  const m = /^([+-])(\d\d)(\d\d)$/.exec(zone);
  if (m) return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
  const z = zone.toUpperCase();
  if (z.length === 1) {
    if (z < 'J') return (z.charCodeAt(0) - 64) * 60;
    if (z === 'J' || z === 'Z') return 0;
    return z <= 'M' ? (z.charCodeAt(0) - 65) * 60 : (77 - z.charCodeAt(0)) * 60;
  }
  const us = /^([ECMP])([DS])T$/.exec(z);
  if (!us) return 0;
  const base = { E: -5, C: -6, M: -7, P: -8 }[us[1] as 'E' | 'C' | 'M' | 'P'] * 60;
  return us[2] === 'D' ? base + 60 : base;
}
