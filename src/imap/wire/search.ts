/**
 * SEARCH arguments (RFC 3501 §6.4.4, RFC 4466 §2.6, RFC 4731 ESEARCH, RFC 5182 SEARCHRES,
 * RFC 7162 MODSEQ). Call it right after the word SEARCH (with or without the SP after it
 * consumed); it reads up to and including the end of the command.
 */
import { ImapError, ParseError } from '../types.js';
import type { SearchKey, SearchReturn } from '../types.js';
import type { Scanner } from './scanner.js';

/** "NOT NOT NOT …" or "((((…" nest; beyond this a key is refused rather than risk the stack. */
const MAX_DEPTH = 64;
const CHARSETS = ['US-ASCII', 'UTF-8'];
const RETURN_OPTS: readonly SearchReturn[] = ['MIN', 'MAX', 'ALL', 'COUNT', 'SAVE'];

const FLAG_KEYS: Record<string, [string, boolean]> = {
  ANSWERED: ['\\Answered', true],
  DELETED: ['\\Deleted', true],
  DRAFT: ['\\Draft', true],
  FLAGGED: ['\\Flagged', true],
  SEEN: ['\\Seen', true],
  UNANSWERED: ['\\Answered', false],
  UNDELETED: ['\\Deleted', false],
  UNDRAFT: ['\\Draft', false],
  UNFLAGGED: ['\\Flagged', false],
  UNSEEN: ['\\Seen', false],
};
const HEADER_KEYS: Record<string, string> = { FROM: 'From', TO: 'To', CC: 'Cc', BCC: 'Bcc', SUBJECT: 'Subject' };
const DATE_KEYS: Record<string, ['internal' | 'sent', 'before' | 'on' | 'since']> = {
  BEFORE: ['internal', 'before'],
  ON: ['internal', 'on'],
  SINCE: ['internal', 'since'],
  SENTBEFORE: ['sent', 'before'],
  SENTON: ['sent', 'on'],
  SENTSINCE: ['sent', 'since'],
};

// search = "SEARCH" [search-return-opts] SP search-program                 (RFC 4466)
// search-program = ["CHARSET" SP charset SP] search-key *(SP search-key)
export function parseSearch(
  s: Scanner,
  opts: { esearch: boolean },
): { charset?: string; returns?: SearchReturn[]; key: SearchKey } {
  s.spUnlessConsumed();
  const result: { charset?: string; returns?: SearchReturn[]; key: SearchKey } = { key: { kind: 'all' } };
  if (opts.esearch && s.lookAtom() === 'RETURN') {
    s.atom();
    s.sp();
    result.returns = returnOpts(s);
    s.sp();
  }
  if (s.lookAtom() === 'CHARSET') {
    s.atom();
    s.sp();
    const charset = s.astring().toUpperCase();
    if (!CHARSETS.includes(charset)) {
      throw new ImapError('NO', 'Unsupported charset', `BADCHARSET (${CHARSETS.join(' ')})`);
    }
    result.charset = charset;
    s.sp();
  }
  const keys = [searchKey(s, 0)];
  while (s.tryChar(' ')) keys.push(searchKey(s, 0));
  s.end();
  result.key = keys.length === 1 ? keys[0]! : { kind: 'and', keys };
  return result;
}

// search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")"
// search-return-opt = "MIN" / "MAX" / "ALL" / "COUNT" / "SAVE"      (RFC 4731, RFC 5182)
/** "RETURN ()" means "RETURN (ALL)" (RFC 4731 §3.1); unknown options are BAD (RFC 4466). */
function returnOpts(s: Scanner): SearchReturn[] {
  const opts = s.list((x) => {
    const opt = x.atomUpper() as SearchReturn;
    if (!RETURN_OPTS.includes(opt)) throw new ParseError('Unknown SEARCH return option');
    return opt;
  });
  return opts.length === 0 ? ['ALL'] : [...new Set(opts)];
}

// search-key = "ALL" / "ANSWERED" / "BCC" SP astring / "BEFORE" SP date / "BODY" SP astring /
//   "CC" SP astring / "DELETED" / "FLAGGED" / "FROM" SP astring / "KEYWORD" SP flag-keyword /
//   "NEW" / "OLD" / "ON" SP date / "RECENT" / "SEEN" / "SINCE" SP date / "SUBJECT" SP astring /
//   "TEXT" SP astring / "TO" SP astring / "UNANSWERED" / "UNDELETED" / "UNFLAGGED" /
//   "UNKEYWORD" SP flag-keyword / "UNSEEN" / "DRAFT" / "HEADER" SP header-fld-name SP astring /
//   "LARGER" SP number / "NOT" SP search-key / "OR" SP search-key SP search-key /
//   "SENTBEFORE" SP date / "SENTON" SP date / "SENTSINCE" SP date / "SMALLER" SP number /
//   "UID" SP sequence-set / "UNDRAFT" / sequence-set / "(" search-key *(SP search-key) ")"
// search-key =/ search-modsequence                                          (RFC 7162)
function searchKey(s: Scanner, depth: number): SearchKey {
  if (depth > MAX_DEPTH) throw new ParseError('Search keys nested too deeply');
  const c = s.peek();
  if (c === 0x28) {
    s.expect('(');
    const keys = [searchKey(s, depth + 1)];
    while (s.tryChar(' ')) keys.push(searchKey(s, depth + 1));
    s.expect(')');
    return keys.length === 1 ? keys[0]! : { kind: 'and', keys };
  }
  if ((c >= 0x30 && c <= 0x39) || c === 0x2a || c === 0x24) return { kind: 'seq', set: s.sequenceSet() };

  const name = s.atomUpper();
  const flag = FLAG_KEYS[name];
  if (flag) return { kind: 'flag', flag: flag[0], set: flag[1] };
  const header = HEADER_KEYS[name];
  if (header) {
    s.sp();
    return { kind: 'header', field: header, value: s.astring() };
  }
  const date = DATE_KEYS[name];
  if (date) {
    s.sp();
    return { kind: 'date', which: date[0], op: date[1], date: s.date() };
  }
  switch (name) {
    case 'ALL':
      return { kind: 'all' };
    case 'NEW':
      return { kind: 'new' };
    case 'OLD':
      return { kind: 'old' };
    case 'RECENT':
      return { kind: 'recent', set: true };
    // flag-keyword = atom: system flags cannot be given with a backslash here
    case 'KEYWORD':
    case 'UNKEYWORD':
      s.sp();
      return { kind: 'flag', flag: s.atom(), set: name === 'KEYWORD' };
    case 'BODY':
    case 'TEXT': {
      s.sp();
      return { kind: name === 'BODY' ? 'body' : 'text', value: s.astring() };
    }
    case 'HEADER': {
      s.sp();
      const field = s.astring();
      s.sp();
      return { kind: 'header', field, value: s.astring() };
    }
    case 'LARGER':
    case 'SMALLER':
      s.sp();
      return { kind: 'size', op: name === 'LARGER' ? 'larger' : 'smaller', n: s.number() };
    case 'UID':
      s.sp();
      return { kind: 'uid', set: s.sequenceSet() };
    case 'NOT':
      s.sp();
      return { kind: 'not', key: searchKey(s, depth + 1) };
    case 'OR': {
      s.sp();
      const a = searchKey(s, depth + 1);
      s.sp();
      return { kind: 'or', a, b: searchKey(s, depth + 1) };
    }
    case 'MODSEQ':
      s.sp();
      return { kind: 'modseq', modseq: modseqValue(s) };
    default:
      throw new ParseError('Unknown search key');
  }
}

// search-modsequence = "MODSEQ" [search-modseq-ext] SP mod-sequence-valzer
// search-modseq-ext = SP entry-name SP entry-type-req
// entry-name = DQUOTE "/flags/" attr-flag DQUOTE ; entry-type-req = "priv" / "shared" / "all"
/** The per-flag entry is accepted and ignored: we keep one MODSEQ per message. */
function modseqValue(s: Scanner): number {
  if (s.peek() === 0x22) {
    s.string();
    s.sp();
    if (!['PRIV', 'SHARED', 'ALL'].includes(s.atomUpper())) throw new ParseError('Unknown MODSEQ entry type');
    s.sp();
  }
  return s.number64();
}
