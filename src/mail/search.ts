/**
 * IMAP SEARCH evaluation (RFC 3501 §6.4.4) over a mailbox's messages, plus the text decoding
 * that SEARCH, SORT and THREAD share (RFC 2047 words, transfer encodings, charsets, dates).
 *
 * Where RFC 3501 is loose this answers what Dovecot 2.3 answers, checked against Dovecot
 * 2.3.19 on the same messages:
 *  - flags and keywords compare case-insensitively;
 *  - INTERNALDATE keys compare its UTC calendar date; SENT* keys compare the calendar date
 *    written in the Date: field, ignoring its time and zone; a missing or unreadable Date:
 *    counts as 1970-01-01 (Dovecot falls back to INTERNALDATE only in SORT and THREAD);
 *  - strings match as substrings after Unicode case folding and canonical decomposition
 *    (so "strasse" finds "Straße", and "cafe" finds "café" but "ecole" does not find "école");
 *  - HEADER matches the RFC 2047-decoded, unfolded value of any field of that name; for
 *    From/To/Cc/Bcc the normalized address list also counts and for every field the value
 *    with runs of blanks packed does (Dovecot's FROM… and SUBJECT keys), since the parsed key
 *    no longer says whether the client wrote FROM x or HEADER FROM x;
 *  - BODY looks in text/* and message/* parts, including those of attached messages, decoded
 *    from their transfer encoding and charset (HTML is not stripped); TEXT also looks in every
 *    header line, "Name: value", of the message, its MIME parts and attached messages.
 * Two deliberate departures: a charset that TextDecoder does not know is read as Latin-1, and
 * a text part without a charset that is not valid UTF-8 is read as Latin-1 (Dovecot reads
 * both as UTF-8 with replacement characters, so nothing in them can be found).
 */
import { isUtf8 } from 'node:buffer';
import { TextDecoder } from 'node:util';
import { expandSet, inSet } from '../imap/types.js';
import type { SearchKey } from '../imap/types.js';
import { parseAddressList } from '../mime/address.js';
import { type HeaderBlock, type HeaderField, parseHeaderBlock } from '../mime/header.js';
import { type MimeNode, parseMime } from '../mime/tree.js';
import { wrapError } from '../util/errors.js';
import { withDefaults } from '../util/options.js';

export interface SearchableMessage {
  uid: number;
  flags: readonly string[];
  internalDate: Date;
  size: number;
  modseq: number;
  /** Raw message bytes, loaded only when a text/header/sent-date key needs them. */
  raw(): Promise<Buffer>;
}

export interface SearchOptions {
  /** UIDs that are \Recent in this session. */
  recent?: ReadonlySet<number>;
  /** What `*` in a UID set stands for: the mailbox's highest UID (default: the highest given). */
  maxUid?: number;
}

/** How many messages have their bytes loaded at once: bounds memory, lets reads overlap. */
const WINDOW = 16;

/** UIDs of `messages` that match `key`, in input order. Each message's bytes are read at most once. */
export async function searchMessages(key: SearchKey, messages: SearchableMessage[], opts?: SearchOptions): Promise<number[]> {
  const o = withDefaults<SearchOptions>('searchMessages', { recent: undefined, maxUid: undefined }, opts);
  const maxUid = o.maxUid ?? messages.reduce((max, m) => Math.max(max, m.uid), 0);
  const pred = compile(key, { recent: o.recent ?? new Set(), maxUid });
  const out: number[] = [];
  if (pred.cost === 0) {
    for (const m of messages) if (pred.quick(m)) out.push(m.uid);
    return out;
  }
  for (let i = 0; i < messages.length; i += WINDOW) {
    const batch = messages.slice(i, i + WINDOW);
    const hits = await Promise.all(batch.map((m) => matches(pred, m)));
    hits.forEach((hit, j) => hit && out.push(batch[j]!.uid));
  }
  return out;
}

async function matches(pred: Pred, m: SearchableMessage): Promise<boolean> {
  const quick = pred.quick(m);
  if (quick !== undefined) return quick;
  let raw: Buffer;
  try {
    raw = await m.raw();
  } catch (err) {
    throw wrapError('ESEARCH', `search: could not read message UID ${m.uid}`, err);
  }
  return pred.full(m, new MessageText(raw));
}

/**
 * A compiled search key. `quick` answers from what the index holds (undefined: the message
 * bytes are needed); `full` answers with the bytes at hand. Cost 0 needs no bytes, 1 the
 * header, 2 the body: AND/OR try cheaper operands first so they can stop early.
 */
interface Pred {
  cost: 0 | 1 | 2;
  quick(m: SearchableMessage): boolean | undefined;
  full(m: SearchableMessage, text: MessageText): boolean;
}

interface CompileContext {
  recent: ReadonlySet<number>;
  maxUid: number;
}

const indexed = (test: (m: SearchableMessage) => boolean): Pred => ({ cost: 0, quick: test, full: test });
const needsBytes = (cost: 1 | 2, test: (text: MessageText) => boolean): Pred => ({
  cost,
  quick: () => undefined,
  full: (_m, text) => test(text),
});
const hasFlag = (m: SearchableMessage, lower: string): boolean => m.flags.some((f) => f.toLowerCase() === lower);

function compile(key: SearchKey, ctx: CompileContext): Pred {
  switch (key.kind) {
    case 'all':
      return indexed(() => true);
    case 'seq':
      throw new Error('searchMessages: sequence-number keys must be rewritten to UID sets by the caller');
    case 'uid': {
      const ranges = expandSet(key.set, ctx.maxUid);
      return indexed((m) => inSet(m.uid, ranges));
    }
    case 'flag': {
      const lower = key.flag.toLowerCase();
      if (lower === '\\recent') return indexed((m) => ctx.recent.has(m.uid) === key.set);
      return indexed((m) => hasFlag(m, lower) === key.set);
    }
    case 'new':
      return indexed((m) => ctx.recent.has(m.uid) && !hasFlag(m, '\\seen'));
    case 'old':
      return indexed((m) => !ctx.recent.has(m.uid));
    case 'recent':
      return indexed((m) => ctx.recent.has(m.uid) === key.set);
    case 'size':
      return indexed((m) => (key.op === 'larger' ? m.size > key.n : m.size < key.n));
    case 'modseq':
      return indexed((m) => m.modseq >= key.modseq);
    case 'date': {
      const compare = (day: string): boolean =>
        key.op === 'before' ? day < key.date : key.op === 'on' ? day === key.date : day >= key.date;
      if (key.which === 'internal') return indexed((m) => compare(utcDay(m.internalDate)));
      return needsBytes(1, (text) => compare(text.sentDay()));
    }
    case 'header': {
      const field = key.field.toLowerCase();
      const needle = fold(key.value);
      return needsBytes(1, (text) => text.headerMatches(field, needle));
    }
    case 'body': {
      const needle = fold(key.value);
      return needsBytes(2, (text) => text.bodyMatches(needle));
    }
    case 'text': {
      const needle = fold(key.value);
      return needsBytes(2, (text) => text.headerLinesMatch(needle) || text.bodyMatches(needle));
    }
    case 'not': {
      const inner = compile(key.key, ctx);
      return {
        cost: inner.cost,
        quick: (m) => {
          const r = inner.quick(m);
          return r === undefined ? undefined : !r;
        },
        full: (m, text) => !inner.full(m, text),
      };
    }
    case 'or':
      return combine([compile(key.a, ctx), compile(key.b, ctx)], true);
    case 'and':
      return combine(
        key.keys.map((k) => compile(k, ctx)),
        false,
      );
  }
}

/** AND (any = false) or OR (any = true): stop at the first operand that decides. */
function combine(parts: Pred[], any: boolean): Pred {
  parts.sort((a, b) => a.cost - b.cost);
  return {
    cost: parts.reduce<0 | 1 | 2>((c, p) => (p.cost > c ? p.cost : c), 0),
    quick: (m) => {
      let unknown = false;
      for (const p of parts) {
        const r = p.quick(m);
        if (r === undefined) unknown = true;
        else if (r === any) return any;
      }
      return unknown ? undefined : !any;
    },
    full: (m, text) => (any ? parts.some((p) => p.full(m, text)) : parts.every((p) => p.full(m, text))),
  };
}

const ADDRESS_FIELDS = new Set(['from', 'to', 'cc', 'bcc']);

/** One message's bytes, parsed and decoded only as far as the keys being evaluated ask. */
class MessageText {
  private header?: HeaderBlock;
  private root?: MimeNode;
  private bodies?: string[];
  private lines?: string[];

  constructor(private readonly raw: Buffer) {}

  /** Only the top-level header: cheaper than parsing the MIME tree when no body key needs it. */
  private topHeader(): HeaderBlock {
    this.header ??= this.root?.header ?? parseHeaderBlock(this.raw);
    return this.header;
  }

  private tree(): MimeNode {
    this.root ??= parseMime(this.raw);
    return this.root;
  }

  sentDay(): string {
    const field = this.topHeader().fields.find((f) => f.key === 'date');
    return (field && parseMailDate(rawValue(this.raw, field))?.day) ?? '1970-01-01';
  }

  headerMatches(key: string, needle: string): boolean {
    for (const field of this.topHeader().fields) {
      if (field.key !== key) continue;
      if (needle === '') return true;
      const value = rawValue(this.raw, field);
      const decoded = decodeWords(value);
      if (fold(decoded).includes(needle) || fold(packBlanks(decoded)).includes(needle)) return true;
      if (ADDRESS_FIELDS.has(key) && fold(normalizedAddresses(value)).includes(needle)) return true;
    }
    return false;
  }

  headerLinesMatch(needle: string): boolean {
    if (!this.lines) {
      this.lines = [];
      walk(this.tree(), (node) => {
        for (const f of node.header.fields) this.lines!.push(fold(`${f.name}: ${decodeWords(rawValue(this.raw, f))}`));
      });
    }
    return this.lines.some((line) => line.includes(needle));
  }

  bodyMatches(needle: string): boolean {
    if (!this.bodies) {
      this.bodies = [];
      walk(this.tree(), undefined, (leaf) => this.bodies!.push(fold(leafText(this.raw, leaf))));
    }
    return this.bodies.some((body) => body.includes(needle));
  }
}

/** Visit every entity's header (parts and attached messages too) and every searchable leaf. */
function walk(node: MimeNode, onEntity?: (node: MimeNode) => void, onText?: (leaf: MimeNode) => void): void {
  onEntity?.(node);
  if (node.message) walk(node.message, onEntity, onText);
  else if (node.children.length > 0) for (const child of node.children) walk(child, onEntity, onText);
  else if (node.contentType.type === 'text' || node.contentType.type === 'message') onText?.(node);
}

function leafText(raw: Buffer, leaf: MimeNode): string {
  const bytes = decodeTransfer(raw.subarray(leaf.bodyStart, leaf.end), leaf.encoding);
  return decodeCharset(bytes, leaf.contentType.type === 'text' ? leaf.contentType.params['charset'] : undefined);
}

/** The field value as text: UTF-8 when valid (RFC 6532), else Latin-1; folds become one space. */
function rawValue(raw: Buffer, field: HeaderField): string {
  return decodeCharset(raw.subarray(field.valueStart, field.end), undefined)
    .replace(/\r?\n[ \t]/g, ' ')
    .replace(/\r?\n$/, '')
    .replace(/^[ \t]+/, '');
}

/**
 * Dovecot writes an address header back out from its parse before a FROM/TO/CC/BCC search
 * (message_address_write): `name <mailbox@host>`, the name quoted when it is more than atoms
 * and spaces and left as it is when it holds encoded-words.
 */
function normalizedAddresses(value: string): string {
  let out = '';
  let sep = '';
  for (const a of parseAddressList(value) ?? []) {
    if (a.host === null) {
      out += a.mailbox === null ? ';' : `${sep}${a.mailbox}: `;
      sep = a.mailbox === null ? ', ' : '';
      continue;
    }
    const spec = `${a.adl ? `${a.adl}:` : ''}${a.mailbox ?? ''}@${a.host}`;
    const name = a.name ?? '';
    const shown = name.includes('=?') ? decodeWords(name) : PLAIN_PHRASE.test(name) ? name : `"${name.replace(/["\\]/g, '\\$&')}"`;
    out += sep + (name === '' ? spec : `${shown} <${spec}>`);
    sep = ', ';
  }
  return out;
}

const PLAIN_PHRASE = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ \u0080-\uffff]*$/;

const packBlanks = (s: string): string => s.replace(/[ \t\r\n]+/g, ' ');

/**
 * Case-insensitive comparison form, like Dovecot's i;unicode-casemap (decomposed titlecase):
 * uppercase (ß becomes SS), then canonical decomposition.
 */
export function fold(s: string): string {
  return s.toUpperCase().normalize('NFD');
}

const utcDay = (d: Date): string =>
  `${String(d.getUTCFullYear()).padStart(4, '0')}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
const pad2 = (n: number): string => String(n).padStart(2, '0');

type Decode = (bytes: Buffer) => string;
const decoders = new Map<string, Decode>();

/**
 * WHATWG windows-1252 for 0x80-0x9F, which is also what the iso-8859-1 and us-ascii labels
 * mean there. Node 20.18.3 and later decode those bytes as Latin-1 (nodejs/node#56542), so the
 * table is applied here whatever the runtime does.
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
      decode = (bytes) => bytes.toString('latin1');
    }
    decoders.set(label, decode);
  }
  return decode;
}

/**
 * Bytes in a MIME charset as text. No charset (or us-ascii) means UTF-8 when the bytes are
 * valid UTF-8 and Latin-1 otherwise; a charset TextDecoder does not know is read as Latin-1.
 */
export function decodeCharset(bytes: Uint8Array, charset: string | undefined): string {
  const label = (charset ?? '').trim().toLowerCase();
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (label === '' || label === 'us-ascii' || label === 'ascii') return buf.toString(isUtf8(buf) ? 'utf8' : 'latin1');
  return decoderFor(label)(buf);
}

/** A body as it was before Content-Transfer-Encoding; unknown encodings pass through. */
export function decodeTransfer(body: Buffer, encoding: string): Buffer {
  if (encoding === 'base64') return Buffer.from(body.toString('latin1').replace(/[^A-Za-z0-9+/]/g, ''), 'base64');
  if (encoding !== 'quoted-printable') return body;
  const out = Buffer.allocUnsafe(body.length);
  let o = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== 0x3d) {
      out[o++] = c;
      continue;
    }
    let j = i + 1;
    while (j < body.length && (body[j] === 0x20 || body[j] === 0x09)) j++;
    if (j >= body.length || body[j] === 0x0a || (body[j] === 0x0d && body[j + 1] === 0x0a)) {
      i = j >= body.length || body[j] === 0x0a ? j : j + 1; // soft line break
      continue;
    }
    const hi = hexValue(body[i + 1]);
    const lo = hexValue(body[i + 2]);
    if (hi >= 0 && lo >= 0) {
      out[o++] = hi * 16 + lo;
      i += 2;
    } else out[o++] = c; // a stray '=' is kept, as lenient decoders do
  }
  return out.subarray(0, o);
}

function hexValue(c: number | undefined): number {
  if (c === undefined) return -1;
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x61 + 10 : -1;
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
