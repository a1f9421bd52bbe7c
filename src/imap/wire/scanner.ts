/**
 * A cursor over one complete client command as framed by CommandReader (RFC 3501 §9).
 *
 * Every parse failure is a ParseError (answered BAD by the session, STYLE 4). Error texts
 * name grammar elements only and never echo what the client sent: the command may carry a
 * password or mail content, and error texts end up in logs (STYLE 6).
 */
import { ParseError } from '../types.js';
import type { SeqRange, SequenceSet } from '../types.js';
import { decodeMailboxName } from './mutf7.js';

const SP = 0x20;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const CR = 0x0d;
const LF = 0x0a;
const MAX_U32 = 0xffffffff;

// ATOM-CHAR = <any CHAR except atom-specials>
// atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials / resp-specials
// ASTRING-CHAR = ATOM-CHAR / resp-specials
const ATOM_CHAR = new Uint8Array(256);
for (let c = 0x21; c < 0x7f; c++) if (!'(){%*"\\]'.includes(String.fromCharCode(c))) ATOM_CHAR[c] = 1;

export const isAtomChar = (b: number): boolean => ATOM_CHAR[b] === 1;
export const isAstringChar = (b: number): boolean => ATOM_CHAR[b] === 1 || b === 0x5d;
// tag = 1*<any ASTRING-CHAR except "+">
export const isTagChar = (b: number): boolean => b !== 0x2b && isAstringChar(b);
const isDigit = (b: number): boolean => b >= 0x30 && b <= 0x39;

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const SYSTEM_FLAGS = new Map(
  ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft', '\\Recent'].map((f) => [f.toUpperCase(), f]),
);
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const isLeap = (y: number): boolean => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const daysInMonth = (y: number, m: number): number => (m === 1 && isLeap(y) ? 29 : MONTH_DAYS[m]!);

export class Scanner {
  readonly #data: Buffer;
  #pos: number;
  /** The grammar element parsed last, for error texts. */
  #last = 'start of command';

  constructor(data: Buffer, offset = 0) {
    this.#data = data;
    this.#pos = Math.max(0, Math.min(offset, data.length));
  }

  get pos(): number {
    return this.#pos;
  }

  atEnd(): boolean {
    return this.#pos >= this.#data.length;
  }

  peek(): number {
    return this.#pos < this.#data.length ? this.#data[this.#pos]! : -1;
  }

  /** The unparsed remainder, for handlers that take free text; may hold secrets. */
  rest(): string {
    return this.#data.toString('utf8', this.#pos);
  }

  /** Throw a ParseError about the next input, naming what was wanted. */
  fail(wanted: string): never {
    throw new ParseError(`Expected ${wanted} after ${this.#last}, found ${this.#describe()}`);
  }

  /** Name the next input's class without quoting it. */
  #describe(): string {
    const b = this.peek();
    if (b === -1) return 'end of command';
    if (b === SP) return 'SP';
    if (b === CR || b === LF) return 'a line end';
    if (b === DQUOTE) return 'a quoted string';
    if (b === 0x7b || b === 0x7e) return 'a literal';
    if ('()[]<>'.includes(String.fromCharCode(b))) return `"${String.fromCharCode(b)}"`;
    if (isDigit(b)) return 'a number';
    if (isAtomChar(b)) return 'an atom';
    return 'an invalid character';
  }

  /** At a quoted string, a literal or a literal8. */
  #atString(): boolean {
    const b = this.peek();
    return b === DQUOTE || b === 0x7b || (b === 0x7e && this.#data[this.#pos + 1] === 0x7b);
  }

  #done<T>(what: string, value: T): T {
    this.#last = what;
    return value;
  }

  sp(): void {
    if (this.peek() !== SP) this.fail('SP');
    this.#pos++;
  }

  /** SP, unless the caller already consumed the one that precedes this element. */
  spUnlessConsumed(): void {
    if (this.#pos > 0 && this.#data[this.#pos - 1] === SP) return;
    this.sp();
  }

  end(): void {
    if (!this.atEnd()) throw new ParseError(`Unexpected ${this.#describe()} after ${this.#last}`);
  }

  tryChar(ch: string): boolean {
    if (this.peek() !== ch.charCodeAt(0)) return false;
    this.#pos++;
    return true;
  }

  expect(ch: string): void {
    if (!this.tryChar(ch)) this.fail(`"${ch}"`);
  }

  /** The bytes while `pred` holds, as latin1 (callers use it for 7-bit grammar words). */
  takeWhile(pred: (b: number) => boolean): string {
    const start = this.#pos;
    while (this.#pos < this.#data.length && pred(this.#data[this.#pos]!)) this.#pos++;
    return this.#data.toString('latin1', start, this.#pos);
  }

  /** The atom at the cursor, upper-cased, without consuming it ('' if none). */
  lookAtom(): string {
    const at = this.#pos;
    const atom = this.takeWhile(isAtomChar);
    this.#pos = at;
    return atom.toUpperCase();
  }

  // tag = 1*<any ASTRING-CHAR except "+">
  tag(): string {
    const t = this.takeWhile(isTagChar);
    if (t === '') this.fail('tag');
    return this.#done('tag', t);
  }

  // atom = 1*ATOM-CHAR
  atom(): string {
    const a = this.takeWhile(isAtomChar);
    if (a === '') this.fail('atom');
    return this.#done('atom', a);
  }

  atomUpper(): string {
    return this.atom().toUpperCase();
  }

  #digits(what: string): string {
    const d = this.takeWhile(isDigit);
    if (d === '') this.fail(what);
    return d;
  }

  // number = 1*DIGIT  ; unsigned 32-bit integer
  number(): number {
    const d = this.#digits('number');
    const n = d.length > 10 ? Infinity : Number(d);
    if (n > MAX_U32) throw new ParseError(`Number too large after ${this.#last}`);
    return this.#done('number', n);
  }

  // nz-number = digit-nz *DIGIT   (leading zeros are accepted, as Dovecot does)
  nzNumber(): number {
    const n = this.number();
    if (n === 0) throw new ParseError(`Zero where a non-zero number is required after ${this.#last}`);
    return n;
  }

  // mod-sequence-value = 1*DIGIT  ; ≤ 2^63-1 (RFC 7162); we hold it in a JS number, so ≤ 2^53-1
  number64(): number {
    const d = this.#digits('number');
    const n = d.length > 17 ? Infinity : Number(d);
    if (n > Number.MAX_SAFE_INTEGER) throw new ParseError(`Number too large after ${this.#last}`);
    return this.#done('number', n);
  }

  // string = quoted / literal   (and literal8 = "~{" number ["+"] "}" CRLF *OCTET, RFC 3516)
  string(): Buffer {
    if (!this.#atString()) this.fail('string');
    return this.peek() === DQUOTE ? this.#done('quoted string', this.#quoted()) : this.#done('literal', this.#literal());
  }

  // quoted = DQUOTE *QUOTED-CHAR DQUOTE
  // QUOTED-CHAR = <any TEXT-CHAR except quoted-specials> / "\" quoted-specials
  // 8-bit bytes are allowed (UTF-8 strings, RFC 6855); NUL, CR and LF are not.
  #quoted(): Buffer {
    const data = this.#data;
    let i = this.#pos + 1;
    const parts: Buffer[] = [];
    let from = i;
    for (;;) {
      const c = i < data.length ? data[i]! : -1;
      if (c === DQUOTE) break;
      if (c === -1 || c === 0 || c === CR || c === LF) {
        this.#pos = i;
        this.fail('closing DQUOTE');
      }
      if (c === BACKSLASH) {
        const e = data[i + 1];
        if (e !== DQUOTE && e !== BACKSLASH) {
          this.#pos = i;
          this.fail('quoted-special after "\\"');
        }
        parts.push(data.subarray(from, i));
        from = i + 1;
        i += 2;
        continue;
      }
      i++;
    }
    parts.push(data.subarray(from, i));
    this.#pos = i + 1;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  // literal = "{" number ["+"] "}" CRLF *CHAR8   (RFC 7888 adds the "+")
  // CHAR8 excludes NUL, but like Dovecot we pass NULs in literals to the command.
  #literal(): Buffer {
    this.tryChar('~');
    this.expect('{');
    const d = this.#digits('literal length');
    this.tryChar('+');
    this.expect('}');
    this.tryChar('\r');
    this.expect('\n');
    const n = d.length > 15 ? Infinity : Number(d);
    if (n > this.#data.length - this.#pos) throw new ParseError('Literal is shorter than announced');
    const value = this.#data.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return value;
  }

  // astring = 1*ASTRING-CHAR / string
  astringBytes(): Buffer {
    if (this.#atString()) return this.string();
    const start = this.#pos;
    this.takeWhile(isAstringChar);
    if (this.#pos === start) this.fail('astring');
    return this.#done('astring', this.#data.subarray(start, this.#pos));
  }

  astring(): string {
    return decodeUtf8(this.astringBytes());
  }

  // nstring = string / nil
  nstring(): string | null {
    if (this.#atString()) return decodeUtf8(this.string());
    if (this.lookAtom() !== 'NIL') this.fail('string or NIL');
    this.#pos += 3;
    return this.#done('NIL', null);
  }

  // mailbox = "INBOX" / astring   ; INBOX is case-insensitive; others are modified UTF-7
  // A name with 8-bit characters is taken as UTF-8 as sent (RFC 6855 UTF8=ACCEPT).
  mailbox(): string {
    const name = this.#mailboxText(this.astring());
    // ASCII-only comparison: toUpperCase() would turn a Turkish "ınbox" into INBOX.
    return this.#done('mailbox', /^inbox$/i.test(name) ? 'INBOX' : name);
  }

  // list-mailbox = 1*list-char / string ; list-char = ATOM-CHAR / list-wildcards / resp-specials
  /** A LIST pattern, decoded like mailbox() but with "%" and "*" kept and INBOX left as sent. */
  listMailbox(): string {
    let raw: string;
    if (this.#atString()) raw = decodeUtf8(this.string());
    else {
      raw = this.takeWhile((c) => isAstringChar(c) || c === 0x25 || c === 0x2a);
      if (raw === '') this.fail('mailbox pattern');
    }
    return this.#done('mailbox pattern', this.#mailboxText(raw));
  }

  #mailboxText(raw: string): string {
    const name = /[^\x00-\x7f]/.test(raw) ? raw : decodeMailboxName(raw);
    if (/[\x00-\x1f\x7f]/.test(name)) throw new ParseError('Control characters in mailbox name');
    return name;
  }

  // flag = "\Answered" / "\Flagged" / "\Deleted" / "\Seen" / "\Draft" / flag-keyword / flag-extension
  // flag-extension = "\" atom ; flag-keyword = atom
  flag(): string {
    if (this.tryChar('\\')) {
      const f = `\\${this.takeWhile(isAtomChar)}`;
      if (f === '\\') this.fail('flag name');
      return this.#done('flag', SYSTEM_FLAGS.get(f.toUpperCase()) ?? f);
    }
    return this.#done('flag', this.atom());
  }

  // flag-list = "(" [flag *(SP flag)] ")"
  // store-att-flags allows "flag *(SP flag)" without parentheses; that form must end the command.
  flagList(): string[] {
    if (this.peek() === 0x28) return this.list((s) => s.flag());
    const flags = [this.flag()];
    while (this.tryChar(' ')) flags.push(this.flag());
    return flags;
  }

  // sequence-set = (seq-number / seq-range) ["," sequence-set]
  // seq-range = seq-number ":" seq-number ; seq-number = nz-number / "*"
  // sequence-set =/ seq-last-command ; seq-last-command = "$"   (RFC 5182)
  // "$" is accepted only on its own: the ABNF allows "1,$", but no RFC says what it means.
  sequenceSet(): SequenceSet {
    if (this.tryChar('$')) return this.#done('sequence-set', { ranges: [], saved: true });
    const seqNumber = (): number => (this.tryChar('*') ? Infinity : this.nzNumber());
    const ranges: SeqRange[] = [];
    do {
      const a = seqNumber();
      ranges.push([a, this.tryChar(':') ? seqNumber() : a]);
    } while (this.tryChar(','));
    return this.#done('sequence-set', { ranges });
  }

  // date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
  // date-day-fixed = (SP DIGIT) / 2DIGIT ; time = 2DIGIT ":" 2DIGIT ":" 2DIGIT ; zone = ("+" / "-") 4DIGIT
  // A one-digit day without the SP is accepted too (some clients send it).
  dateTime(): Date {
    this.expect('"');
    this.tryChar(' ');
    const [year, month, day] = this.#dateText();
    this.sp();
    const h = this.#fixed(2, 23);
    this.expect(':');
    const m = this.#fixed(2, 59);
    this.expect(':');
    const sec = Math.min(this.#fixed(2, 60), 59); // a leap second cannot be represented
    this.sp();
    const sign = this.tryChar('+') ? 1 : this.tryChar('-') ? -1 : this.fail('zone sign');
    const zh = this.#fixed(2, 99);
    const zm = this.#fixed(2, 59);
    this.expect('"');
    const d = new Date(0);
    d.setUTCFullYear(year, month, day);
    d.setUTCHours(h, m, sec, 0);
    return this.#done('date-time', new Date(d.getTime() - sign * (zh * 60 + zm) * 60_000));
  }

  // date = date-text / DQUOTE date-text DQUOTE ; date-text = date-day "-" date-month "-" date-year
  /** A search date as "YYYY-MM-DD". */
  date(): string {
    const quoted = this.tryChar('"');
    const [year, month, day] = this.#dateText();
    if (quoted) this.expect('"');
    const p = (n: number, w: number): string => String(n).padStart(w, '0');
    return this.#done('date', `${p(year, 4)}-${p(month + 1, 2)}-${p(day, 2)}`);
  }

  /** date-day "-" date-month "-" date-year, as [year, month 0-11, day]. */
  #dateText(): [number, number, number] {
    const dd = this.takeWhile(isDigit);
    if (dd.length < 1 || dd.length > 2) this.fail('day of month');
    this.expect('-');
    const mon = MONTHS.indexOf(this.takeWhile((b) => (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7a).toUpperCase());
    if (mon < 0) this.fail('month name');
    this.expect('-');
    const year = this.#fixed(4, 9999);
    const day = Number(dd);
    if (day < 1 || day > daysInMonth(year, mon)) throw new ParseError('Invalid day of month');
    return [year, mon, day];
  }

  #fixed(width: number, max: number): number {
    const digits = this.#data.toString('latin1', this.#pos, this.#pos + width);
    if (!/^[0-9]*$/.test(digits) || digits.length !== width) this.fail(`${width} digits`);
    this.#pos += width;
    const n = Number(digits);
    if (n > max) throw new ParseError(`Out-of-range number after ${this.#last}`);
    return n;
  }

  /** "(" [item *(SP item)] ")" */
  list<T>(item: (s: Scanner) => T): T[] {
    this.expect('(');
    const out: T[] = [];
    if (this.tryChar(')')) return out;
    do out.push(item(this));
    while (this.tryChar(' '));
    this.expect(')');
    this.#last = 'list';
    return out;
  }
}

/** UTF-8 text of a string argument; invalid UTF-8 is a syntax error, not mojibake. */
export function decodeUtf8(bytes: Buffer): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new ParseError('Invalid UTF-8 in string');
  }
}

/** A ParseError that knows the tag of the command it belongs to. */
export type TaggedParseError = ParseError & { tag?: string };

// command = tag SP (command-any / command-auth / command-nonauth / command-select) CRLF
/** Tag and upper-cased command name; for "UID FETCH" etc. the name is "UID". */
export function parseCommandHead(data: Buffer): { tag: string; name: string; scanner: Scanner } {
  const scanner = new Scanner(data);
  let tag: string | undefined;
  try {
    tag = scanner.tag();
    scanner.sp();
    const name = scanner.atomUpper();
    return { tag, name, scanner };
  } catch (err) {
    if (err instanceof ParseError && tag !== undefined) (err as TaggedParseError).tag = tag;
    throw err;
  }
}
