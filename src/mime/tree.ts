/**
 * The MIME structure of a message as offsets into its raw bytes (RFC 2045/2046). Nothing is
 * decoded or copied: the tree says where each entity's header and body are, so a message can
 * be split into stored pieces and any section cut back out of them byte-exact.
 *
 * Parsing is one pass over lines with a stack of active boundaries, as Dovecot's parser
 * works, so the structure (and so every section number) matches what Dovecot serves.
 * Malformed input never throws: a multipart whose boundary never appears has no parts, a
 * missing close-delimiter ends the last part where its parent ends, and nesting or part
 * counts past the limits below stop the descent (the rest is kept as an opaque leaf).
 */
import { type ContentType, type HeaderBlock, headerValue, lineEnd, parseContentType, parseHeaderBlock } from './header.js';

export interface MimeNode {
  /** Offset of the entity's first header byte. */
  start: number;
  header: HeaderBlock;
  /** Offset of the first body byte (= header.end). */
  bodyStart: number;
  /** Offset just past the body. */
  end: number;
  contentType: ContentType;
  /** Lower-cased Content-Transfer-Encoding, '7bit' when absent. */
  encoding: string;
  /** Parts of a multipart entity, in order; empty for leaves. */
  children: MimeNode[];
  /** The encapsulated message of a message/rfc822 (or message/global) entity. */
  message?: MimeNode;
}

export interface MimeLimits {
  /** Deeper entities are kept as opaque leaves. Dovecot's default is 100. */
  maxDepth: number;
  /** Entities past this count are not parsed further. */
  maxParts: number;
}

export const DEFAULT_MIME_LIMITS: MimeLimits = { maxDepth: 100, maxParts: 10_000 };

const LF = 0x0a;
const CR = 0x0d;
const DASH = 0x2d;
const NL_DASHES = Buffer.from('\n--');

interface ParseState {
  buf: Buffer;
  limits: MimeLimits;
  parts: number;
}

export function parseMime(raw: Buffer, limits: MimeLimits = DEFAULT_MIME_LIMITS): MimeNode {
  const state: ParseState = { buf: raw, limits, parts: 0 };
  return parseEntity(state, 0, raw.length, 'text/plain', 0, []);
}

/** A delimiter line found in a body: which boundary (0 = innermost) and where. */
interface Delimiter {
  which: number;
  close: boolean;
  /** Where the entity before the line ends: the line end before the dashes. */
  cut: number;
  /** Just past the delimiter line. */
  next: number;
}

/**
 * The first delimiter line of any active boundary at or after `from`. Boundaries are tried
 * innermost first, and a line only has to start with `--boundary` (RFC 2046 §5.1.1, "NOTE
 * TO IMPLEMENTORS": the whole line need not match), as Dovecot does; this is what lets a
 * nested multipart reuse its parent's boundary and still find its own parts.
 */
function nextDelimiter(buf: Buffer, from: number, limit: number, stack: Buffer[], atLineStart: boolean): Delimiter | undefined {
  if (stack.length === 0) return undefined;
  let candidate = atLineStart ? from : -1;
  let search = from;
  for (;;) {
    if (candidate === -1) {
      const lf = buf.indexOf(NL_DASHES, search);
      if (lf === -1 || lf + 3 > limit) return undefined;
      candidate = lf + 1;
      search = lf + 1;
    }
    if (buf[candidate] === DASH && buf[candidate + 1] === DASH) {
      for (let which = 0; which < stack.length; which++) {
        const marker = stack[which]!;
        const stop = candidate + marker.length;
        if (stop > limit || buf.compare(marker, 0, marker.length, candidate, stop) !== 0) continue;
        const close = stop + 1 < limit && buf[stop] === DASH && buf[stop + 1] === DASH;
        return { which, close, cut: delimiterStart(buf, candidate, from), next: lineEnd(buf, candidate, limit) };
      }
    }
    candidate = -1;
  }
}

/**
 * One entity from `start`: its header, then a body that runs until a delimiter of any
 * enclosing multipart (or `limit`). Multiparts push their boundary and parse parts until
 * their close-delimiter or an enclosing boundary ends them.
 */
function parseEntity(state: ParseState, start: number, limit: number, defaultType: string, depth: number, stack: Buffer[]): MimeNode {
  const { buf } = state;
  state.parts++;
  const stop = nextDelimiter(buf, start, limit, stack, true);
  const end = stop ? stop.cut : limit;
  const header = parseHeaderBlock(buf, start, end);
  const contentType = parseContentType(headerValue(buf, header, 'content-type'), defaultType);
  const encoding = (headerValue(buf, header, 'content-transfer-encoding') ?? '7bit').toLowerCase();
  const node: MimeNode = { start, header, bodyStart: header.end, end, contentType, encoding, children: [] };
  if (depth >= state.limits.maxDepth || state.parts >= state.limits.maxParts) return node;
  const boundary = contentType.params['boundary'];
  if (contentType.type === 'multipart' && boundary) {
    parseMultipart(state, node, limit, Buffer.from(`--${boundary}`, 'latin1'), depth, stack);
  } else if (contentType.type === 'message' && contentType.subtype === 'rfc822') {
    // Whatever its transfer encoding, as Dovecot does (message/global it leaves alone).
    node.message = parseEntity(state, node.bodyStart, end, 'text/plain', depth + 1, stack);
  }
  return node;
}

/**
 * multipart-body := [preamble CRLF] dash-boundary transport-padding CRLF body-part
 *                   *encapsulation close-delimiter transport-padding [CRLF epilogue]
 * The CRLF before a delimiter belongs to the delimiter, not to the part (RFC 2046 §5.1.1).
 */
function parseMultipart(state: ParseState, node: MimeNode, limit: number, marker: Buffer, depth: number, stack: Buffer[]): void {
  const { buf } = state;
  const inner = [marker, ...stack];
  const childDefault = node.contentType.subtype === 'digest' ? 'message/rfc822' : 'text/plain';
  let d = nextDelimiter(buf, node.bodyStart, limit, inner, true);
  for (;;) {
    if (!d) {
      node.end = limit;
      return;
    }
    if (d.which !== 0) {
      node.end = d.cut; // an enclosing boundary ends this multipart
      return;
    }
    if (d.close) {
      const outer = nextDelimiter(buf, d.next, limit, stack, true);
      node.end = outer ? outer.cut : limit;
      return;
    }
    if (state.parts >= state.limits.maxParts) {
      const outer = nextDelimiter(buf, d.next, limit, stack, true);
      node.end = outer ? outer.cut : limit;
      return;
    }
    const child = parseEntity(state, d.next, limit, childDefault, depth + 1, inner);
    node.children.push(child);
    // A part that ended right after a line end (say, after an inner close-delimiter line)
    // ends at the next delimiter itself, so look at that position as a line start.
    d = nextDelimiter(buf, child.end, limit, inner, child.end === 0 || buf[child.end - 1] === LF);
  }
}

/** The entity before a delimiter ends at the line end before its dashes (or where it began). */
function delimiterStart(buf: Buffer, at: number, from: number): number {
  if (at <= from) return at;
  let p = at - 1; // the LF
  if (p > from && buf[p - 1] === CR) p--;
  return Math.max(p, from);
}

/** Leaves in document order: entities whose bodies are stored as they are. */
export function leaves(node: MimeNode, out: MimeNode[] = []): MimeNode[] {
  if (node.message) leaves(node.message, out);
  else if (node.children.length > 0) for (const child of node.children) leaves(child, out);
  else out.push(node);
  return out;
}

/** Compact, JSON-safe form of a tree for storage: offsets only; headers are re-read from bytes. */
export interface StoredNode {
  s: number;
  b: number;
  e: number;
  c?: StoredNode[];
  m?: StoredNode;
}

export function toStored(node: MimeNode): StoredNode {
  const out: StoredNode = { s: node.start, b: node.bodyStart, e: node.end };
  if (node.children.length > 0) out.c = node.children.map(toStored);
  if (node.message) out.m = toStored(node.message);
  return out;
}
