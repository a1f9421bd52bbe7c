/**
 * RFC 3501 §6.4.5 section numbers mapped onto MIME tree offsets. The answer is a byte range
 * of the raw message, so the store can serve it by reading only the pieces that overlap it.
 *
 * section-spec = section-msgtext / (section-part ["." section-text])
 * section-text = section-msgtext / "MIME"
 * section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"
 */
import type { MimeNode } from './tree.js';

export type SectionText = 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';

export interface SectionSpec {
  /** Part numbers, 1-based; empty for the whole message. */
  path: number[];
  text?: SectionText;
}

export interface SectionRange {
  start: number;
  end: number;
  /** The node whose header the range is (HEADER, HEADER.FIELDS*, MIME), for field filtering. */
  headerOf?: MimeNode;
}

/** Part `n` of a message entity: its n-th part when multipart, else (n = 1) its body part. */
function partOfMessage(message: MimeNode, n: number): MimeNode | undefined {
  if (message.children.length > 0) return message.children[n - 1];
  return n === 1 ? message : undefined;
}

/** The part a section path names, or undefined when the message has no such part. */
export function findPart(root: MimeNode, path: number[]): MimeNode | undefined {
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
export function sectionRange(root: MimeNode, spec: SectionSpec): SectionRange | undefined {
  const part = findPart(root, spec.path);
  if (!part) return undefined;
  const text = spec.text;
  if (text === undefined) {
    return spec.path.length === 0 ? { start: root.start, end: root.end } : { start: part.bodyStart, end: part.end };
  }
  if (text === 'MIME') {
    if (spec.path.length === 0) return undefined;
    return { start: part.start, end: part.header.end, headerOf: part };
  }
  // HEADER / TEXT address a message: the top level, or an encapsulated message/rfc822.
  const message = spec.path.length === 0 ? root : part.message;
  if (!message) return undefined;
  if (text === 'TEXT') return { start: message.bodyStart, end: message.end };
  return { start: message.start, end: message.header.end, headerOf: message };
}
