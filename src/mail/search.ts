/**
 * IMAP SEARCH evaluation (RFC 3501 §6.4.4) over a mailbox's messages. The header-text
 * primitives it shares with SORT and THREAD (RFC 2047, charsets, dates, folding) are in sort.ts.
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
 * Two deliberate departures: a charset that TextDecoder does not know, and a text part with
 * no charset that is not valid UTF-8, are read as Latin-1 (windows-1252); Dovecot reads both
 * as UTF-8 with replacement characters, so nothing non-ASCII in them can be found.
 */
import { isAscii } from 'node:buffer';
import { expandSet, inSet } from '../imap/types.js';
import type { SearchKey } from '../imap/types.js';
import { parseAddressList } from '../mime/address.js';
import { type HeaderBlock, type HeaderField, parseHeaderBlock } from '../mime/header.js';
import { type MimeNode, parseMime } from '../mime/tree.js';
import { wrapError } from '../util/errors.js';
import { withDefaults } from '../util/options.js';
import { decodeCharset, decodeWords, fold, parseMailDate, utcDay } from './sort.js';

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
  /** Skip the raw-bytes pre-check of TEXT/BODY keys (for tests that compare both roads). */
  noPrefilter?: boolean;
}

/**
 * Messages matched together; the next window's bytes load meanwhile, so at most twice this
 * many are loaded at once: bounds memory, lets reads overlap matching.
 */
const WINDOW = 8;

/** UIDs of `messages` that match `key`, in input order. Each message's bytes are read at most once. */
export async function searchMessages(key: SearchKey, messages: SearchableMessage[], opts?: SearchOptions): Promise<number[]> {
  const o = withDefaults<SearchOptions>('searchMessages', { recent: undefined, maxUid: undefined, noPrefilter: false }, opts);
  const maxUid = o.maxUid ?? messages.reduce((max, m) => Math.max(max, m.uid), 0);
  const pred = compile(key, { recent: o.recent ?? new Set(), maxUid, prefilter: !o.noPrefilter });
  const out: number[] = [];
  if (pred.cost === 0) {
    for (const m of messages) if (pred.quick(m)) out.push(m.uid);
    return out;
  }
  // The next window's bytes load while this one is matched (two windows in memory at most).
  const load = (batch: SearchableMessage[]) =>
    batch.map((m) => {
      if (pred.quick(m) !== undefined) return undefined;
      const raw = m.raw();
      raw.catch(() => undefined); // awaited (and so reported) in matches()
      return raw;
    });
  let next = load(messages.slice(0, WINDOW));
  for (let i = 0; i < messages.length; i += WINDOW) {
    const batch = messages.slice(i, i + WINDOW);
    const loaded = next;
    if (i + WINDOW < messages.length) next = load(messages.slice(i + WINDOW, i + 2 * WINDOW));
    const hits = await Promise.all(batch.map((m, j) => matches(pred, m, loaded[j])));
    hits.forEach((hit, j) => hit && out.push(batch[j]!.uid));
  }
  return out;
}

async function matches(pred: Pred, m: SearchableMessage, loading?: Promise<Buffer>): Promise<boolean> {
  const quick = pred.quick(m);
  if (quick !== undefined) return quick;
  let raw: Buffer;
  try {
    raw = await (loading ?? m.raw());
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
  prefilter: boolean;
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
      const absent = absentTest(needle, ctx);
      return needsBytes(2, (text) => !absent(text) && text.bodyMatches(needle));
    }
    case 'text': {
      const needle = fold(key.value);
      const absent = absentTest(needle, ctx);
      return needsBytes(2, (text) => !absent(text) && (text.headerLinesMatch(needle) || text.bodyMatches(needle)));
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

/**
 * A cheap "cannot match" for TEXT and BODY, before parsing and decoding a message: when a
 * message is plain 7-bit ASCII with no encoded-words, no base64 or quoted-printable and no
 * charset that maps ASCII bytes to other text, every header line and body text it has is
 * in its raw bytes as they are (unfolding only puts a space where a line break was), and
 * case folding of ASCII is ASCII's. So a needle of letters and digits that is not in the raw
 * bytes, ignoring case, is in none of them. Anything else takes the full road.
 */
function absentTest(needle: string, ctx: CompileContext): (text: MessageText) => boolean {
  if (!ctx.prefilter || !/^[A-Z0-9]+$/.test(needle)) return () => false;
  const lower = needle.toLowerCase();
  return (text) => text.plainAscii() && !text.lowerRaw().includes(lower);
}

const ADDRESS_FIELDS = new Set(['from', 'to', 'cc', 'bcc']);
/** What, in a 7-bit message, can decode to text that is not in its raw bytes. */
const DECODED = /=\?|base64|quoted-printable|utf-?7|utf-?16|utf-?32|ucs-?2|ucs-?4|iso-?2022|hz-gb/;

/** One message's bytes, parsed and decoded only as far as the keys being evaluated ask. */
class MessageText {
  private header?: HeaderBlock;
  private root?: MimeNode;
  private bodies?: string[];
  private lines?: string[];
  private lower?: string;
  private plain?: boolean;

  constructor(private readonly raw: Buffer) {}

  lowerRaw(): string {
    this.lower ??= this.raw.toString('latin1').toLowerCase();
    return this.lower;
  }

  /** 7-bit, and nothing in it decodes to other text (see absentTest). */
  plainAscii(): boolean {
    this.plain ??= isAscii(this.raw) && !DECODED.test(this.lowerRaw());
    return this.plain;
  }

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

/** A body as it was before Content-Transfer-Encoding; unknown encodings pass through. */
export function decodeTransfer(body: Buffer, encoding: string): Buffer {
  if (encoding === 'base64') return Buffer.from(body.toString('latin1').replace(/[^A-Za-z0-9+/]/g, ''), 'base64');
  if (encoding !== 'quoted-printable') return body;
  const out = Buffer.allocUnsafe(body.length);
  let o = 0;
  for (let i = 0; i < body.length; i++) {
    const eq = body.indexOf(0x3d, i); // copy the runs between escapes in one go
    if (eq === -1) {
      o += body.copy(out, o, i);
      break;
    }
    o += body.copy(out, o, i, eq);
    i = eq;
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
    } else out[o++] = 0x3d; // a stray '=' is kept, as lenient decoders do
  }
  return out.subarray(0, o);
}

function hexValue(c: number | undefined): number {
  if (c === undefined) return -1;
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x61 + 10 : -1;
}
