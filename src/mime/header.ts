/**
 * RFC 5322 header blocks, read without changing a byte: every field keeps the offsets of its
 * raw bytes in the message so that BODY[HEADER.FIELDS ...] can be cut from the original.
 * Bare LF line ends are tolerated everywhere (mail that reached us that way is stored that way).
 */

export interface HeaderField {
  /** Field name as written (case kept). */
  name: string;
  /** Lower-cased name, for lookups. */
  key: string;
  /** Offset of the first byte of the field name. */
  start: number;
  /** Offset just past the field's final line end (or the end of the block). */
  end: number;
  /** Offset of the first byte after the colon. */
  valueStart: number;
}

export interface HeaderBlock {
  /** Offset where the header block starts. */
  start: number;
  /** Offset just past the blank line that ends the header (= start of the body). */
  end: number;
  /** Offset of the blank line itself (= end of the last field); equals `end` when none. */
  fieldsEnd: number;
  fields: HeaderField[];
}

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const TAB = 0x09;
const COLON = 0x3a;

/** Offset just past the line that starts at `pos` (past its LF), or `limit`. */
export function lineEnd(buf: Buffer, pos: number, limit: number): number {
  const lf = buf.indexOf(LF, pos);
  return lf === -1 || lf >= limit ? limit : lf + 1;
}

/** True when the line [pos, next) is empty: just CRLF or LF. */
function isBlankLine(buf: Buffer, pos: number, next: number): boolean {
  const len = next - pos;
  if (len === 1) return buf[pos] === LF;
  if (len === 2) return buf[pos] === CR && buf[pos + 1] === LF;
  return false;
}

/**
 * header = *field CRLF. The block ends at the first empty line; a message with no empty line
 * is all header and has an empty body. A line that is neither a field nor a continuation
 * (no colon) ends the field before it and belongs to no field, as in Dovecot; it stays
 * inside the block, so BODY[HEADER] still covers every byte.
 */
export function parseHeaderBlock(buf: Buffer, start = 0, limit = buf.length): HeaderBlock {
  const fields: HeaderField[] = [];
  let pos = start;
  let current: HeaderField | undefined;
  while (pos < limit) {
    const next = lineEnd(buf, pos, limit);
    if (isBlankLine(buf, pos, next)) {
      if (current) current.end = pos;
      return { start, end: next, fieldsEnd: pos, fields };
    }
    const first = buf[pos];
    const continuation = first === SP || first === TAB;
    const colon = continuation ? -1 : buf.indexOf(COLON, pos);
    if (!continuation && colon !== -1 && colon < next) {
      if (current) current.end = pos;
      const name = buf.toString('latin1', pos, colon).trimEnd();
      current = { name, key: name.toLowerCase(), start: pos, end: next, valueStart: colon + 1 };
      fields.push(current);
    } else if (continuation && current) {
      current.end = next;
    } else if (current) {
      current.end = pos;
      current = undefined;
    }
    pos = next;
  }
  if (current) current.end = limit;
  return { start, end: limit, fieldsEnd: limit, fields };
}

/** The unfolded value of a field: line ends removed, surrounding white space trimmed. */
export function fieldValue(buf: Buffer, field: HeaderField): string {
  return buf
    .toString('latin1', field.valueStart, field.end)
    .replace(/\r?\n(?=[ \t])/g, '')
    .replace(/\r?\n$/, '')
    .trim();
}

/** Raw value bytes decoded as UTF-8 (RFC 6532 headers), unfolded. */
export function fieldValueUtf8(buf: Buffer, field: HeaderField): string {
  return buf
    .toString('utf8', field.valueStart, field.end)
    .replace(/\r?\n(?=[ \t])/g, '')
    .replace(/\r?\n$/, '')
    .trim();
}

/** First field named `key` (lower case), as IMAP and MIME readers take it. */
export function findField(block: HeaderBlock, key: string): HeaderField | undefined {
  return block.fields.find((f) => f.key === key);
}

export function headerValue(buf: Buffer, block: HeaderBlock, key: string): string | undefined {
  const field = findField(block, key);
  return field ? fieldValue(buf, field) : undefined;
}

export interface ContentType {
  type: string;
  subtype: string;
  /** Parameter names lower-cased; RFC 2231 continuations joined and charset-decoded. */
  params: Record<string, string>;
}

/** Strip RFC 5322 comments, which may nest: `text/plain (a (b) c); charset=x`. */
function stripComments(value: string): string {
  let out = '';
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (quoted) {
      out += ch;
      if (ch === '\\' && i + 1 < value.length) out += value[++i];
      else if (ch === '"') quoted = false;
    } else if (ch === '"' && depth === 0) {
      quoted = true;
      out += ch;
    } else if (ch === '(') depth++;
    else if (ch === ')' && depth > 0) depth--;
    else if (depth === 0) out += ch;
    else if (ch === '\\') i++;
  }
  return out;
}

/**
 * parameter := attribute "=" value ; value := token / quoted-string (RFC 2045 §5.1),
 * with RFC 2231 `name*0*=`, `name*=charset'lang'pct-encoded` extensions.
 */
export function parseParams(text: string): Record<string, string> {
  const raw: Array<[string, string]> = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /[\s;]/.test(text[i]!)) i++;
    const eq = text.indexOf('=', i);
    if (eq === -1) break;
    const name = text.slice(i, eq).trim().toLowerCase();
    i = eq + 1;
    while (i < text.length && /\s/.test(text[i]!)) i++;
    let value = '';
    if (text[i] === '"') {
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        value += text[i];
        i++;
      }
      i++;
    } else {
      const semi = text.indexOf(';', i);
      const stop = semi === -1 ? text.length : semi;
      value = text.slice(i, stop).trim();
      i = stop;
    }
    if (name) raw.push([name, value]);
  }
  const params: Record<string, string> = {};
  const continued = new Map<string, Array<{ n: number; value: string; encoded: boolean }>>();
  for (const [name, value] of raw) {
    const m = /^([^*]+)\*(?:(\d+)\*?)?$/.exec(name);
    if (!m) {
      if (!(name in params)) params[name] = value;
      continue;
    }
    const base = m[1]!;
    const n = m[2] === undefined ? 0 : Number(m[2]);
    const encoded = name.endsWith('*');
    const list = continued.get(base) ?? [];
    list.push({ n, value, encoded });
    continued.set(base, list);
  }
  for (const [base, parts] of continued) {
    parts.sort((a, b) => a.n - b.n);
    let charset = 'us-ascii';
    const bytes: number[] = [];
    parts.forEach((part, idx) => {
      let v = part.value;
      if (part.encoded && idx === 0) {
        const m = /^([^']*)'[^']*'(.*)$/.exec(v);
        if (m) {
          charset = m[1]!.toLowerCase() || charset;
          v = m[2]!;
        }
      }
      if (part.encoded) {
        for (let j = 0; j < v.length; j++) {
          if (v[j] === '%' && /^[0-9a-fA-F]{2}$/.test(v.slice(j + 1, j + 3))) {
            bytes.push(parseInt(v.slice(j + 1, j + 3), 16));
            j += 2;
          } else bytes.push(v.charCodeAt(j) & 0xff);
        }
      } else for (const b of Buffer.from(v, 'latin1')) bytes.push(b);
    });
    const buf = Buffer.from(bytes);
    params[base] = charset === 'utf-8' || charset === 'utf8' ? buf.toString('utf8') : buf.toString('latin1');
  }
  return params;
}

/** Content-Type per RFC 2045, with its defaults for a missing or unparsable field. */
export function parseContentType(value: string | undefined, defaultType = 'text/plain'): ContentType {
  const fallback = (): ContentType => {
    const [type, subtype] = defaultType.split('/') as [string, string];
    return { type, subtype, params: defaultType === 'text/plain' ? { charset: 'us-ascii' } : {} };
  };
  if (value === undefined) return fallback();
  const clean = stripComments(value);
  const semi = clean.indexOf(';');
  // RFC 822 lexing allows white space around the slash: "multipart / mixed".
  const mediaType = (semi === -1 ? clean : clean.slice(0, semi)).replace(/\s*\/\s*/, '/').trim().toLowerCase();
  const m = /^([!#$%&'*+\-.^_`|~0-9a-z]+)\/([!#$%&'*+\-.^_`|~0-9a-z]+)$/.exec(mediaType);
  if (!m) return fallback();
  return { type: m[1]!, subtype: m[2]!, params: semi === -1 ? {} : parseParams(clean.slice(semi + 1)) };
}
