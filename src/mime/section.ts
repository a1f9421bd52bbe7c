/**
 * RFC 3501 §6.4.5 section numbers mapped onto MIME tree offsets. The answer is a byte range
 * of the raw message, so the store can serve it by reading only the pieces that overlap it.
 *
 * section-spec = section-msgtext / (section-part ["." section-text])
 * section-text = section-msgtext / "MIME"
 * section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"
 */
import { parseHeaderBlock } from './header.js';
import type { MimeNode, StoredNode } from './tree.js';

/** The shape section lookup needs: offsets only, so a stored tree serves as well as a parsed one. */
export interface SectionNode {
  start: number;
  bodyStart: number;
  end: number;
  children: SectionNode[];
  message?: SectionNode;
}

export function fromStored(node: StoredNode): SectionNode {
  const out: SectionNode = { start: node.s, bodyStart: node.b, end: node.e, children: (node.c ?? []).map(fromStored) };
  if (node.m) out.message = fromStored(node.m);
  return out;
}

export type SectionText = 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';

export interface SectionSpec {
  /** Part numbers, 1-based; empty for the whole message. */
  path: number[];
  text?: SectionText;
}

export interface SectionRange {
  start: number;
  end: number;
  /** True when the range is a header block (HEADER, HEADER.FIELDS*, MIME), for field filtering. */
  header?: boolean;
}

/** Part `n` of a message entity: its n-th part when multipart, else (n = 1) its body part. */
function partOfMessage(message: SectionNode, n: number): SectionNode | undefined {
  if (message.children.length > 0) return message.children[n - 1];
  return n === 1 ? message : undefined;
}

/** The part a section path names, or undefined when the message has no such part. */
export function findPart(root: SectionNode, path: number[]): SectionNode | undefined {
  if (path.length === 0) return root;
  let part = partOfMessage(root, path[0]!);
  for (let i = 1; part && i < path.length; i++) {
    const n = path[i]!;
    if (part.message) part = partOfMessage(part.message, n);
    else if (part.children.length > 0) part = part.children[n - 1];
    else part = undefined;
  }
  return part;
}

/**
 * The byte range a section names, or undefined for a section the message does not have
 * (IMAP answers those with an empty string, as Dovecot does).
 */
export function sectionRange(root: SectionNode | MimeNode, spec: SectionSpec): SectionRange | undefined {
  const part = findPart(root, spec.path);
  if (!part) return undefined;
  const text = spec.text;
  if (text === undefined) {
    return spec.path.length === 0 ? { start: root.start, end: root.end } : { start: part.bodyStart, end: part.end };
  }
  if (text === 'MIME') {
    if (spec.path.length === 0) return undefined;
    return { start: part.start, end: part.bodyStart, header: true };
  }
  // HEADER / TEXT address a message: the top level, or an encapsulated message/rfc822.
  const message = spec.path.length === 0 ? root : part.message;
  if (!message) return undefined;
  if (text === 'TEXT') return { start: message.bodyStart, end: message.end };
  return { start: message.start, end: message.bodyStart, header: true };
}

/**
 * BODY[HEADER.FIELDS (...)] and [HEADER.FIELDS.NOT (...)]: the chosen fields of a header
 * block, each with all its bytes (folding included), in their original order, followed by
 * the blank line that ends a header (RFC 3501 §6.4.5).
 */
export function filterHeader(header: Buffer, names: string[], not: boolean): Buffer {
  const wanted = new Set(names.map((n) => n.toLowerCase()));
  const block = parseHeaderBlock(header);
  const pieces: Buffer[] = [];
  for (const f of block.fields) {
    if (wanted.has(f.key) !== not) pieces.push(header.subarray(f.start, f.end));
  }
  pieces.push(Buffer.from('\r\n'));
  return Buffer.concat(pieces);
}
