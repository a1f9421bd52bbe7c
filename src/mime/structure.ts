/**
 * ENVELOPE and BODYSTRUCTURE (RFC 3501 §7.4.2) of a parsed message, as data for
 * imap/wire/structures.ts to encode and for the store to cache.
 *
 * Where RFC 3501 and RFC 2045 leave room, this does what Dovecot 2.3 does (lib-mail
 * message-part-data.c, message-parser.c, rfc2231-parser.c), so that clients see the answers
 * they get from Dovecot and the two can be compared byte for byte:
 *  - header values are the raw text after the colon: leading blanks cut, folds and trailing
 *    blanks kept; NUL becomes U+FFFD;
 *  - ENVELOPE: for a repeated field the last string field wins, repeated address fields are
 *    concatenated; Sender and Reply-To default to From;
 *  - type, subtype, parameter names and values, encoding and disposition keep the case the
 *    sender wrote; a missing encoding is "7bit" (lower case); params keep order and duplicates;
 *  - RFC 2231 sections are joined but not decoded (`name*` `utf-8''%E2%82%AC`), and sections
 *    with a gap stay separate (`name*0`, `name*2`);
 *  - Content-* fields count only in a MIME entity: one with MIME-Version or Content-Type, or a
 *    part of a multipart. Otherwise the entity is plain text/plain;
 *  - a broken Content-Type keeps what could be read (`text` gives "text" ""), without params;
 *  - a multipart with no parts (no boundary, or it never appears) gets one empty text/plain;
 *  - message/rfc822 is read as a message whatever its transfer encoding; message/global is a
 *    basic body (IMAP4rev1 has no body-type-msg for it);
 *  - lines count LF characters, so a last line without a line end is not counted.
 * One deliberate difference: size is the stored octet count. Dovecot counts a bare LF as CRLF
 * because it serves such mail with CRLF; Waxseal serves the bytes as stored.
 */
import { isUtf8 } from 'node:buffer';
import type {
  Address,
  BodyDisposition,
  BodyParams,
  BodyStructure,
  Envelope,
  SinglePartBody,
  TextBody,
} from '../model/message.js';
import { Rfc822Reader, Sb, parseAddressList } from './address.js';
import type { HeaderField } from './header.js';
import { type MimeNode, parseMime } from './tree.js';

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const TAB = 0x09;

/** Transfer encodings tree.ts looks through when it parses an encapsulated message. */
const IDENTITY_ENCODINGS = new Set(['7bit', '8bit', 'binary', '']);
/** Encapsulated messages we re-parse ourselves stop nesting here (tree.ts has its own limit). */
const MAX_NESTING = 100;

const asciiLower = (s: string): string => s.replace(/[A-Z]+/g, (m) => m.toLowerCase());

/**
 * The value of a field as Dovecot's header parser hands it on: blanks after the colon cut,
 * everything else kept as written, the final line end dropped. A line with no leading blank
 * ends the field even though header.ts keeps such a colon-less line inside it.
 */
export function headerText(raw: Buffer, field: HeaderField): string {
  let start = field.valueStart;
  const limit = field.end;
  while (start < limit && (raw[start] === SP || raw[start] === TAB)) start++;
  let end = limit;
  for (let p = start; ; ) {
    const lf = raw.indexOf(LF, p);
    if (lf === -1 || lf >= limit) break;
    const next = raw[lf + 1];
    if (lf + 1 < limit && (next === SP || next === TAB)) {
      p = lf + 1;
      continue;
    }
    end = lf > start && raw[lf - 1] === CR ? lf - 1 : lf;
    break;
  }
  const bytes = raw.subarray(start, end);
  const text = isUtf8(bytes) ? bytes.toString('utf8') : bytes.toString('latin1');
  return text.includes('\0') ? text.replace(/\0/g, '\uFFFD') : text;
}

type StringField = 'date' | 'subject' | 'inReplyTo' | 'messageId';
type AddressField = 'from' | 'sender' | 'replyTo' | 'to' | 'cc' | 'bcc';
const ENVELOPE_FIELDS: Record<string, ['string', StringField] | ['address', AddressField]> = {
  date: ['string', 'date'],
  subject: ['string', 'subject'],
  'in-reply-to': ['string', 'inReplyTo'],
  'message-id': ['string', 'messageId'],
  from: ['address', 'from'],
  sender: ['address', 'sender'],
  'reply-to': ['address', 'replyTo'],
  to: ['address', 'to'],
  cc: ['address', 'cc'],
  bcc: ['address', 'bcc'],
};

export function computeEnvelope(raw: Buffer, node: MimeNode): Envelope {
  const env = emptyEnvelope();
  for (const field of node.header.fields) {
    const target = Object.hasOwn(ENVELOPE_FIELDS, field.key) ? ENVELOPE_FIELDS[field.key] : undefined;
    if (target === undefined) continue;
    const value = headerText(raw, field);
    if (target[0] === 'string') env[target[1]] = value;
    else {
      const list = env[target[1]];
      const more = parseAddressList(value);
      if (more !== null) env[target[1]] = list === null ? more : list.concat(more);
    }
  }
  // RFC 3501 §7.4.2: the server defaults sender and reply-to to from.
  const copy = (list: Address[] | null): Address[] | null => list && list.map((a) => ({ ...a }));
  env.sender ??= copy(env.from);
  env.replyTo ??= copy(env.from);
  return env;
}

function emptyEnvelope(): Envelope {
  const nil = { date: null, subject: null, from: null, sender: null, replyTo: null, to: null };
  return { ...nil, cc: null, bcc: null, inReplyTo: null, messageId: null };
}

interface ContentType {
  /** `type/subtype` as read, or as much of it as could be read. */
  full: string;
  type: string;
  subtype: string;
  params: Array<[string, string]>;
}

// Content-Type := type "/" subtype *(";" parameter)
function parseContentType(value: string): ContentType {
  const r = new Rfc822Reader(value);
  const type = new Sb();
  const subtype = new Sb();
  let ok = false;
  // A type that runs to the end of the field is kept even without a subtype; any other
  // damage to `type/subtype` loses both.
  if (r.skipLwsp() > 0 && r.parseMimeToken(type) > 0 && type.s !== '') {
    if (r.peek() === '/') {
      r.pos++;
      ok = r.skipLwsp() > 0 && r.parseMimeToken(subtype) >= 0 && subtype.s !== '' && (r.atEnd || r.peek() === ';');
    }
    if (!ok) type.s = '';
  }
  return {
    full: ok ? `${type.s}/${subtype.s}` : type.s,
    type: type.s,
    subtype: ok ? subtype.s : '',
    params: ok ? parseParams(r) : [],
  };
}

// parameter := attribute "=" value ; value := token / quoted-string
function readParam(r: Rfc822Reader): { ret: number; key?: string; value?: string } {
  if (r.atEnd) return { ret: 0 };
  if (r.peek() !== ';') return { ret: -1 };
  r.pos++;
  if (r.skipLwsp() <= 0) return { ret: -1 };
  const key = new Sb();
  if (r.parseMimeToken(key) <= 0 || r.peek() !== '=') return { ret: -1 };
  r.pos++;
  const value = new Sb();
  let ret = r.skipLwsp();
  if (ret <= 0) {
    // `name=` with nothing after it: an empty value
  } else if (r.peek() === '"') ret = r.parseQuotedString(value);
  else if (r.peek() === '=') {
    // Broken but common: name==?utf-8?b?...?= (an unquoted encoded-word)
    while (!r.atEnd && !';\t \r\n'.includes(r.peek())) value.s += r.text[r.pos++];
  } else ret = r.parseMimeToken(value);
  return { ret: ret < 0 ? -1 : 1, key: key.s, value: value.s };
}

interface Section {
  key: string;
  value: string;
  idx: number;
  extended: boolean;
}

/**
 * Parameters after the media type or disposition, RFC 2231 sections joined (Dovecot's
 * rfc2231_parse): plain parameters first in order, then joined ones sorted by name.
 */
function parseParams(r: Rfc822Reader): Array<[string, string]> {
  const plain: Array<[string, string]> = [];
  const sections: Section[] = [];
  // Dovecot keeps the section number between parameters, so a bare `name*` takes the number
  // of the section before it; copied because it decides between joined and separate output.
  let idx = 0;
  for (;;) {
    const p = readParam(r);
    if (p.ret === 0) break;
    if (p.ret < 0 || p.key === undefined || p.value === undefined) {
      if (r.atEnd) break;
      r.pos++;
      continue;
    }
    const { key, value } = p;
    const star = key.indexOf('*');
    if (star === -1) {
      plain.push([key, value]);
      continue;
    }
    let i = star;
    if (i + 1 < key.length) {
      i++;
      idx = 0;
      for (; i < key.length && key[i]! >= '0' && key[i]! <= '9'; i++) idx = (idx * 10 + Number(key[i])) % 2 ** 32;
    }
    const extended = key[i] === '*';
    if (extended) i++;
    if (i < key.length) plain.push([key, value]);
    else sections.push({ key: key.slice(0, star), value, idx, extended });
  }
  sections.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.idx - b.idx));
  for (let i = 0, next = 0; i < sections.length; i = next) {
    const first = sections[i]!;
    let j = i;
    let ok = true;
    let haveExtended = false;
    for (let want = 0; j < sections.length; j++, want++) {
      const s = sections[j]!;
      if (asciiLower(s.key) !== asciiLower(first.key)) break;
      if (s.idx !== want) ok = false;
      if (s.extended) haveExtended = true;
    }
    next = j;
    const group = sections.slice(i, next);
    if (!ok) {
      for (const s of group) plain.push([`${s.key}*${s.idx}${s.extended ? '*' : ''}`, s.value]);
      continue;
    }
    let value = !first.extended && haveExtended ? "''" : '';
    for (const s of group) value += !s.extended && haveExtended ? s.value.replace(/%/g, '%25') : s.value;
    plain.push([haveExtended ? `${first.key}*` : first.key, value]);
  }
  return plain;
}

/** The Content-* fields of one entity, as Dovecot's message_part_data holds them. */
interface PartData {
  contentType: ContentType | null;
  encoding: string | null;
  id: string | null;
  description: string | null;
  md5: string | null;
  location: string | null;
  language: string[] | null;
  disposition: BodyDisposition | null;
}

function partData(raw: Buffer, node: MimeNode, inMultipart: boolean): PartData {
  const d: PartData = {
    contentType: null,
    encoding: null,
    id: null,
    description: null,
    md5: null,
    location: null,
    language: null,
    disposition: null,
  };
  const fields = node.header.fields;
  if (!inMultipart && !fields.some((f) => f.key === 'mime-version' || f.key === 'content-type')) return d;
  for (const field of fields) {
    if (!field.key.startsWith('content-')) continue;
    const name = field.key.slice('content-'.length);
    // The first field of each name counts, except as noted.
    if (name === 'type' && d.contentType === null) d.contentType = parseContentType(headerText(raw, field));
    else if (name === 'transfer-encoding' && d.encoding === null) {
      // mechanism := token, alone; an unreadable field leaves room for a later one.
      const r = new Rfc822Reader(headerText(raw, field));
      const str = new Sb();
      r.skipLwsp();
      if (r.parseMimeToken(str) >= 0 && r.skipLwsp() === 0 && str.s !== '') d.encoding = str.s;
    } else if (name === 'id') d.id ??= headerText(raw, field);
    else if (name === 'description') d.description ??= headerText(raw, field);
    else if (name === 'md5') d.md5 ??= headerText(raw, field);
    else if (name === 'location') d.location ??= headerText(raw, field);
    else if (name === 'language' && d.language === null) {
      // Content-Language := 1#Language-tag
      const r = new Rfc822Reader(headerText(raw, field));
      const langs: string[] = [];
      r.skipLwsp();
      for (let tag = new Sb(); r.parseAtom(tag) >= 0; tag = new Sb()) {
        langs.push(tag.s);
        if (r.peek() !== ',') break;
        r.pos++;
        r.skipLwsp();
      }
      if (langs.length > 0) d.language = langs;
    } else if (name === 'disposition' && d.disposition?.params == null) {
      // Dovecot lets a later Content-Disposition replace one that had no parameters.
      const r = new Rfc822Reader(headerText(raw, field));
      const str = new Sb();
      r.skipLwsp();
      if (r.parseMimeToken(str) >= 0) d.disposition = { type: str.s, params: nilIfEmpty(parseParams(r)) };
    }
  }
  return d;
}

const nilIfEmpty = (params: Array<[string, string]> | undefined): BodyParams =>
  params && params.length > 0 ? params : null;

/** body-fld-param of a text part: as written, plus charset=us-ascii when it has none (RFC 2045 §5.2). */
function textParams(params: Array<[string, string]> | undefined): BodyParams {
  const out = params ? params.slice() : [];
  if (!out.some(([name]) => asciiLower(name) === 'charset')) out.push(['charset', 'us-ascii']);
  return out;
}

function countLines(raw: Buffer, start: number, end: number): number {
  let lines = 0;
  for (let p = raw.indexOf(LF, start); p !== -1 && p < end; p = raw.indexOf(LF, p + 1)) lines++;
  return lines;
}

/** What a multipart without parts contains, and the body of an unreadable message/rfc822. */
function emptyText(): TextBody {
  return {
    kind: 'text',
    type: 'text',
    subtype: 'plain',
    params: [['charset', 'us-ascii']],
    id: null,
    description: null,
    encoding: '7bit',
    size: 0,
    lines: 0,
    md5: null,
    disposition: null,
    language: null,
    location: null,
  };
}

interface Context {
  inMultipart: boolean;
  /** The parent is multipart/digest, so a part without Content-Type is message/rfc822. */
  inDigest: boolean;
  depth: number;
}

export function computeBodyStructure(raw: Buffer, node: MimeNode): BodyStructure {
  return structure(raw, node, { inMultipart: false, inDigest: false, depth: 0 });
}

function structure(raw: Buffer, node: MimeNode, ctx: Context): BodyStructure {
  const d = partData(raw, node, ctx.inMultipart);
  const ct = d.contentType;
  const full = ct ? asciiLower(ct.full) : null;
  const ext = { disposition: d.disposition, language: d.language, location: d.location };
  if (node.children.length > 0 || full?.startsWith('multipart/')) {
    const child: Context = { inMultipart: true, inDigest: full === 'multipart/digest', depth: ctx.depth + 1 };
    const parts = node.children.map((c) => structure(raw, c, child));
    return {
      kind: 'multipart',
      parts: parts.length > 0 ? parts : [emptyText()],
      subtype: ct ? ct.subtype : node.contentType.subtype,
      params: nilIfEmpty(ct?.params),
      ...ext,
    };
  }
  const fields = {
    id: d.id,
    description: d.description,
    encoding: d.encoding ?? '7bit',
    size: node.end - node.bodyStart,
    md5: d.md5,
    ...ext,
  };
  if (full === null ? ctx.inDigest : full === 'message/rfc822') {
    const inner = encapsulated(raw, node, ctx.depth);
    return {
      kind: 'message',
      type: 'message',
      subtype: 'rfc822',
      params: nilIfEmpty(ct?.params),
      ...fields,
      envelope: inner ? computeEnvelope(inner.raw, inner.node) : emptyEnvelope(),
      body: inner
        ? structure(inner.raw, inner.node, { inMultipart: false, inDigest: false, depth: ctx.depth + 1 })
        : emptyText(),
      lines: countLines(raw, node.bodyStart, node.end),
    };
  }
  if (ct === null || asciiLower(ct.type) === 'text') {
    // Dovecot treats a part that only restates the defaults (text/plain, sole parameter
    // charset=us-ascii in any case, 7bit, no id/description/extension fields) as having no
    // Content-Type at all, so it answers the canonical lower-case form (checked, 2.3.19).
    const isDefault =
      ct !== null && asciiLower(ct.subtype) === 'plain' && ct.params?.length === 1 &&
      asciiLower(ct.params[0]![0]) === 'charset' && asciiLower(ct.params[0]![1]) === 'us-ascii' &&
      asciiLower(fields.encoding) === '7bit' && fields.id === null && fields.description === null &&
      fields.md5 === null && fields.disposition === null && fields.language === null && fields.location === null;
    return {
      kind: 'text',
      type: ct && !isDefault ? ct.type : 'text',
      subtype: ct && !isDefault ? ct.subtype : 'plain',
      params: isDefault ? [['charset', 'us-ascii']] : textParams(ct?.params),
      ...fields,
      ...(isDefault ? { encoding: '7bit' } : {}),
      lines: countLines(raw, node.bodyStart, node.end),
    };
  }
  const basic: SinglePartBody = { kind: 'basic', type: ct.type, subtype: ct.subtype, params: nilIfEmpty(ct.params), ...fields };
  return basic;
}

/**
 * The message inside a message/rfc822 part. tree.ts parses it only when it is not
 * transfer-encoded; Dovecot reads the (still encoded) body as a message anyway, so do that
 * here, on a view of the body, unless tree.ts declined because of its own limits.
 */
function encapsulated(raw: Buffer, node: MimeNode, depth: number): { raw: Buffer; node: MimeNode } | null {
  if (node.message) return { raw, node: node.message };
  const treeSawMessage =
    node.contentType.type === 'message' && (node.contentType.subtype === 'rfc822' || node.contentType.subtype === 'global');
  if (depth >= MAX_NESTING || (treeSawMessage && IDENTITY_ENCODINGS.has(node.encoding))) return null;
  const body = raw.subarray(node.bodyStart, node.end);
  return { raw: body, node: parseMime(body) };
}
