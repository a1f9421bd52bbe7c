/**
 * The vocabulary shared by the IMAP wire layer (which parses into these types), the
 * commands (which act on them) and search evaluation. Pure types plus tiny helpers; no I/O.
 */

/** sequence-set: ranges of numbers; `*` is Infinity until resolved against a mailbox. */
export type SeqRange = [number, number];
export interface SequenceSet {
  ranges: SeqRange[];
  /** `$` (RFC 5182 SEARCHRES): the saved result. */
  saved?: boolean;
}

/** section-spec of BODY[...] (RFC 3501 §6.4.5). */
export interface Section {
  path: number[];
  text?: 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';
  /** Field names for HEADER.FIELDS[.NOT], as sent (compare case-insensitively). */
  fields?: string[];
}

export type FetchItem =
  | { kind: 'UID' }
  | { kind: 'FLAGS' }
  | { kind: 'INTERNALDATE' }
  | { kind: 'RFC822.SIZE' }
  | { kind: 'ENVELOPE' }
  | { kind: 'BODYSTRUCTURE' }
  /** BODY without a section: the non-extensible BODYSTRUCTURE. */
  | { kind: 'BODY' }
  | { kind: 'MODSEQ' }
  /** RFC822, RFC822.HEADER, RFC822.TEXT are mapped onto BODY sections with `legacy` set. */
  | {
      kind: 'BODY[]';
      section: Section;
      peek: boolean;
      partial?: { start: number; length: number };
      /** 'RFC822' | 'RFC822.HEADER' | 'RFC822.TEXT' when the client used those names. */
      legacy?: string;
      /** BINARY[] / BINARY.PEEK[] / BINARY.SIZE[] (RFC 3516), when supported. */
      binary?: 'BINARY' | 'SIZE';
    };

export interface FetchModifiers {
  /** CHANGEDSINCE (RFC 7162). */
  changedSince?: number;
  /** VANISHED (RFC 7162 QRESYNC), only with UID FETCH and CHANGEDSINCE. */
  vanished?: boolean;
}

export type SearchKey =
  | { kind: 'all' }
  | { kind: 'seq'; set: SequenceSet }
  | { kind: 'uid'; set: SequenceSet }
  | { kind: 'flag'; flag: string; set: boolean } // ANSWERED/UNANSWERED, KEYWORD/UNKEYWORD, SEEN...
  | { kind: 'new' } // RECENT and UNSEEN
  | { kind: 'old' } // NOT RECENT
  | { kind: 'recent'; set: boolean }
  | { kind: 'date'; which: 'internal' | 'sent'; op: 'before' | 'on' | 'since'; date: string } // date = YYYY-MM-DD
  | { kind: 'size'; op: 'larger' | 'smaller'; n: number }
  | { kind: 'header'; field: string; value: string } // FROM/TO/CC/BCC/SUBJECT map here too
  | { kind: 'body'; value: string }
  | { kind: 'text'; value: string }
  | { kind: 'modseq'; modseq: number }
  | { kind: 'not'; key: SearchKey }
  | { kind: 'or'; a: SearchKey; b: SearchKey }
  | { kind: 'and'; keys: SearchKey[] };

/** ESEARCH return options (RFC 4731) and SAVE (RFC 5182). */
export type SearchReturn = 'MIN' | 'MAX' | 'ALL' | 'COUNT' | 'SAVE';

export type StoreMode = 'set' | 'add' | 'remove';

/** IMAP states (RFC 3501 §3). */
export type ImapState = 'not-authenticated' | 'authenticated' | 'selected' | 'logout';

/** A protocol error answered to the client as a tagged NO or BAD (STYLE 4). */
export class ImapError extends Error {
  readonly status: 'NO' | 'BAD';
  readonly code: string | undefined;

  constructor(status: 'NO' | 'BAD', text: string, code?: string) {
    super(text);
    this.name = 'ImapError';
    this.status = status;
    this.code = code;
  }
}

/** A syntax error found while parsing a command: always BAD. */
export class ParseError extends ImapError {
  constructor(text: string) {
    super('BAD', text);
    this.name = 'ParseError';
  }
}

/** Resolve a sequence set against the largest number in use (`*`); ranges may be reversed. */
export function expandSet(set: SequenceSet, max: number): Array<[number, number]> {
  return set.ranges.map(([a, b]) => {
    const x = a === Infinity ? max : a;
    const y = b === Infinity ? max : b;
    return x <= y ? [x, y] : [y, x];
  });
}

export function inSet(n: number, ranges: Array<[number, number]>): boolean {
  for (const [a, b] of ranges) if (n >= a && n <= b) return true;
  return false;
}
