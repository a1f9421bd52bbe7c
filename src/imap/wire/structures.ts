/**
 * Wire form of ENVELOPE, BODY and BODYSTRUCTURE (RFC 3501 §7.4.2, §9), plus the string
 * encoders the rest of the server reuses.
 *
 * The output is a JS string meant to be written as UTF-8: literal lengths count UTF-8 octets.
 * Quoting follows Dovecot 2.3's imap-quote.c so that responses match Dovecot's byte for byte:
 *  - a string goes out quoted unless it holds CR, LF, an 8-bit character or more than four
 *    quoted-specials, in which case it is a literal;
 *  - subjects and display names are cleaned "for humans" (runs of white space, line ends
 *    included, become one space; leading and trailing white space goes) and, when that
 *    changed anything or they hold quoted-specials or 8-bit characters, sent as literals;
 *  - date, message-id, in-reply-to and the body's id, description, md5 and location lose
 *    their line ends (folds) before quoting;
 *  - BODY of a message that is one plain 7-bit text/plain part is written in canonical
 *    lower case (see isPlain7bit).
 * NUL may appear in neither quoted strings nor literals, so any NUL is sent as U+FFFD.
 */
import type {
  Address,
  BodyExtension,
  BodyParams,
  BodyStructure,
  Envelope,
  TextBody,
} from '../../model/message.js';

const QUOTED_MAX_ESCAPES = 4;

const noNul = (s: string): string => (s.includes('\0') ? s.replace(/\0/g, '\uFFFD') : s);

// literal = "{" number "}" CRLF *CHAR8
function literal(s: string): string {
  return `{${Buffer.byteLength(s, 'utf8')}}\r\n${s}`;
}

// string = quoted / literal
/** A string as `"quoted"` when that is safe and short, else as a literal. */
export function quoteString(value: string): string {
  const s = noNul(value);
  let escapes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) {
      if (escapes++ < QUOTED_MAX_ESCAPES) continue;
      return literal(s);
    }
    if (c === 0x0d || c === 0x0a || c >= 0x80) return literal(s);
  }
  return `"${escapes > 0 ? s.replace(/["\\]/g, '\\$&') : s}"`;
}

// nstring = string / nil
export function nstring(value: string | null): string {
  return value === null ? 'NIL' : quoteString(value);
}

/** nstring with line ends removed; a line end not followed by white space becomes a space. */
export function nstringNoLf(value: string | null): string {
  if (value === null || !/[\r\n]/.test(value)) return nstring(value);
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (ch !== '\r' && ch !== '\n') out += ch;
    else {
      const next = value[i + 1];
      if (next !== undefined && next !== ' ' && next !== '\t' && next !== '\r' && next !== '\n') out += ' ';
    }
  }
  return nstring(out);
}

const isBlank = (ch: string): boolean => ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n';

/** A header text for display (subject, display name): white space folded, quoted or literal. */
export function stringForHumans(value: string): string {
  const s = noNul(value);
  let modify = s !== value;
  let lastBlank = true;
  let onlyBlank = true;
  for (let i = 0; i < s.length && !modify; i++) {
    const ch = s[i]!;
    if (isBlank(ch)) {
      if (lastBlank || ch !== ' ') modify = true;
      lastBlank = true;
    } else {
      if (ch === '"' || ch === '\\' || ch.charCodeAt(0) >= 0x80) modify = true;
      lastBlank = false;
      onlyBlank = false;
    }
  }
  if (!modify && lastBlank && !onlyBlank) modify = true;
  if (!modify) return `"${s}"`;
  const clean = s.replace(/[ \t\r\n]+/g, ' ').trim();
  return clean === '' ? '""' : literal(clean);
}

const nilOr = <T>(value: T | null, encode: (v: T) => string): string => (value === null ? 'NIL' : encode(value));

// address = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"
function encodeAddress(a: Address): string {
  return `(${nilOr(a.name, stringForHumans)} ${nstring(a.adl)} ${nstring(a.mailbox)} ${nstring(a.host)})`;
}

// env-from = "(" 1*address ")" / nil   (and the same for the other address lists)
function encodeAddressList(list: Address[] | null): string {
  return list === null || list.length === 0 ? 'NIL' : `(${list.map(encodeAddress).join('')})`;
}

// envelope = "(" env-date SP env-subject SP env-from SP env-sender SP env-reply-to SP env-to
//            SP env-cc SP env-bcc SP env-in-reply-to SP env-message-id ")"
export function encodeEnvelope(e: Envelope): string {
  return `(${[
    nstringNoLf(e.date),
    nilOr(e.subject, stringForHumans),
    encodeAddressList(e.from),
    encodeAddressList(e.sender),
    encodeAddressList(e.replyTo),
    encodeAddressList(e.to),
    encodeAddressList(e.cc),
    encodeAddressList(e.bcc),
    nstringNoLf(e.inReplyTo),
    nstringNoLf(e.messageId),
  ].join(' ')})`;
}

// body-fld-param = "(" string SP string *(SP string SP string) ")" / nil
function encodeParams(params: BodyParams): string {
  if (params === null || params.length === 0) return 'NIL';
  return `(${params.map(([name, value]) => `${quoteString(name)} ${quoteString(value)}`).join(' ')})`;
}

// body-fld-dsp SP body-fld-lang SP body-fld-loc
// body-fld-dsp = "(" string SP body-fld-param ")" / nil
// body-fld-lang = nstring / "(" string *(SP string) ")"
function encodeExtension(b: BodyExtension): string {
  const dsp = b.disposition === null ? 'NIL' : `(${quoteString(b.disposition.type)} ${encodeParams(b.disposition.params)})`;
  const lang = b.language === null || b.language.length === 0 ? 'NIL' : `(${b.language.map(quoteString).join(' ')})`;
  return `${dsp} ${lang} ${nstringNoLf(b.location)}`;
}

const lower = (s: string | undefined): string | undefined => s?.replace(/[A-Z]+/g, (m) => m.toLowerCase());

/**
 * Dovecot answers BODY (never BODYSTRUCTURE) of a message that is a single plain 7-bit
 * text/plain part from a cache flag, in canonical lower case: `"TEXT" "PLAIN"
 * ("CHARSET" "US-ASCII")` goes out as `"text" "plain" ("charset" "us-ascii")`.
 */
function isPlain7bit(b: BodyStructure): b is TextBody {
  return (
    b.kind === 'text' &&
    lower(b.type) === 'text' &&
    lower(b.subtype) === 'plain' &&
    (b.params === null ||
      b.params.length === 0 ||
      (b.params.length === 1 && lower(b.params[0]![0]) === 'charset' && lower(b.params[0]![1]) === 'us-ascii')) &&
    b.id === null &&
    b.description === null &&
    lower(b.encoding) === '7bit' &&
    b.md5 === null &&
    b.disposition === null &&
    b.language === null &&
    b.location === null
  );
}

/**
 * body = "(" (body-type-1part / body-type-mpart) ")" for a whole message. `extended` gives
 * BODYSTRUCTURE (with body-ext-1part / body-ext-mpart), otherwise the shorter BODY form.
 */
export function encodeBodyStructure(b: BodyStructure, extended: boolean): string {
  if (!extended && isPlain7bit(b)) {
    return `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" ${b.size} ${b.lines})`;
  }
  return encodeBody(b, extended);
}

function encodeBody(b: BodyStructure, extended: boolean): string {
  // body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
  // body-ext-mpart = body-fld-param [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
  if (b.kind === 'multipart') {
    const parts = b.parts.map((p) => encodeBody(p, extended)).join('');
    const ext = extended ? ` ${encodeParams(b.params)} ${encodeExtension(b)}` : '';
    return `(${parts} ${quoteString(b.subtype)}${ext})`;
  }
  // body-fields = body-fld-param SP body-fld-id SP body-fld-desc SP body-fld-enc SP body-fld-octets
  let out = `(${quoteString(b.type)} ${quoteString(b.subtype)} ${encodeParams(b.params)} ${nstringNoLf(b.id)} ${nstringNoLf(b.description)} ${quoteString(b.encoding)} ${b.size}`;
  // body-type-text = media-text SP body-fields SP body-fld-lines
  if (b.kind === 'text') out += ` ${b.lines}`;
  // body-type-msg = media-message SP body-fields SP envelope SP body SP body-fld-lines
  else if (b.kind === 'message') out += ` ${encodeEnvelope(b.envelope)} ${encodeBody(b.body, extended)} ${b.lines}`;
  // body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
  if (extended) out += ` ${nstringNoLf(b.md5)} ${encodeExtension(b)}`;
  return `${out})`;
}
