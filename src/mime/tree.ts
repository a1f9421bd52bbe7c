/**
 * The MIME structure of a message as offsets into its raw bytes (RFC 2045/2046). Nothing is
 * decoded or copied: the tree says where each entity's header and body are, so a message can
 * be split into stored pieces and any section cut back out of them byte-exact.
 *
 * Malformed input never throws: a multipart whose boundary never appears is a leaf, a missing
 * close-delimiter ends the last part at the end of its parent, and nesting or part counts past
 * the limits below stop the descent (the rest is kept as an opaque leaf).
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

const IDENTITY_ENCODINGS = new Set(['7bit', '8bit', 'binary', '']);

interface ParseState {
  buf: Buffer;
  limits: MimeLimits;
  parts: number;
}

export function parseMime(raw: Buffer, limits: MimeLimits = DEFAULT_MIME_LIMITS): MimeNode {
  const state: ParseState = { buf: raw, limits, parts: 0 };
  return parseEntity(state, 0, raw.length, 'text/plain', 0);
}

function parseEntity(state: ParseState, start: number, end: number, defaultType: string, depth: number): MimeNode {
  const { buf } = state;
  state.parts++;
  const header = parseHeaderBlock(buf, start, end);
  const contentType = parseContentType(headerValue(buf, header, 'content-type'), defaultType);
  const encoding = (headerValue(buf, header, 'content-transfer-encoding') ?? '7bit').toLowerCase();
  const node: MimeNode = { start, header, bodyStart: header.end, end, contentType, encoding, children: [] };
  const canDescend = depth < state.limits.maxDepth && state.parts < state.limits.maxParts;
  if (!canDescend) return node;
  const boundary = contentType.params['boundary'];
  if (contentType.type === 'multipart' && boundary) {
    const childDefault = contentType.subtype === 'digest' ? 'message/rfc822' : 'text/plain';
    for (const [partStart, partEnd] of multipartRanges(buf, node.bodyStart, end, boundary)) {
      if (state.parts >= state.limits.maxParts) break;
      node.children.push(parseEntity(state, partStart, partEnd, childDefault, depth + 1));
    }
  } else if (
    contentType.type === 'message' &&
    (contentType.subtype === 'rfc822' || contentType.subtype === 'global') &&
    IDENTITY_ENCODINGS.has(encoding)
  ) {
    node.message = parseEntity(state, node.bodyStart, end, 'text/plain', depth + 1);
  }
  return node;
}

/**
 * multipart-body := [preamble CRLF] dash-boundary transport-padding CRLF body-part
 *                   *encapsulation close-delimiter transport-padding [CRLF epilogue]
 * Returns the [start, end) of each body part. The CRLF before a delimiter belongs to the
 * delimiter, not to the part (RFC 2046 §5.1.1).
 */
export function multipartRanges(buf: Buffer, start: number, end: number, boundary: string): Array<[number, number]> {
  const marker = Buffer.from(`--${boundary}`, 'latin1');
  const ranges: Array<[number, number]> = [];
  let partStart = -1;
  let search = start;
  while (search < end) {
    const at = buf.indexOf(marker, search);
    if (at === -1 || at + marker.length > end) break;
    search = at + 1;
    if (at !== start && buf[at - 1] !== LF) continue;
    const lineStop = lineEnd(buf, at, end);
    let after = at + marker.length;
    const close = after + 1 < lineStop && buf[after] === DASH && buf[after + 1] === DASH;
    if (close) after += 2;
    if (!onlyPadding(buf, after, lineStop)) continue;
    if (partStart !== -1) ranges.push([partStart, delimiterStart(buf, at, start)]);
    if (close) return ranges;
    partStart = lineStop;
    search = lineStop;
  }
  if (partStart !== -1) ranges.push([partStart, end]);
  return ranges;
}

/** The delimiter starts at the line end before the dashes, unless that is the body start. */
function delimiterStart(buf: Buffer, at: number, bodyStart: number): number {
  if (at === bodyStart) return at;
  let p = at - 1; // the LF
  if (p > bodyStart && buf[p - 1] === CR) p--;
  return Math.max(p, bodyStart);
}

/** transport-padding := *LWSP-char, then the line end (or the end of the data). */
function onlyPadding(buf: Buffer, from: number, lineStop: number): boolean {
  for (let i = from; i < lineStop; i++) {
    const c = buf[i];
    if (c === 0x20 || c === 0x09) continue;
    if (c === CR && i + 2 === lineStop && buf[i + 1] === LF) return true;
    if (c === LF && i + 1 === lineStop) return true;
    return false;
  }
  return true;
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
