/**
 * RFC 5322 lexical tokens and the address-list parser that ENVELOPE needs.
 *
 * Mail clients compare our ENVELOPE with what their other IMAP servers say, and the team
 * compares it with Dovecot 2.3, so this follows Dovecot's lib-mail (rfc822-parser.c,
 * message-address.c) step by step, including how it recovers from broken input: every input
 * yields a result, nothing throws. Where it departs from a strict RFC 5322 reading that is
 * Dovecot's choice, copied on purpose:
 *  - a missing local part or domain becomes "MISSING_MAILBOX" / "MISSING_DOMAIN", a broken
 *    angle-addr gets host "SYNTAX_ERROR", a broken route adl "INVALID_ROUTE";
 *  - `user@host (Comment)` takes the last comment as display name;
 *  - `Name Only` (no @, no <>) is a display name with a missing address;
 *  - local parts may have loose dots (`a..b`, `.a`, `a.`), as Dovecot reads ENVELOPE;
 *  - phrase words are joined with one space, quoted-strings unquoted, encoded-words kept raw.
 */
import type { Address } from '../model/message.js';

/** Dovecot's rfc822_atext_chars: 1/2 atext, 4 atext that is also a MIME tspecial; 8-bit is atext. */
const ATEXT = new Uint8Array(256);
for (let c = 0x80; c < 0x100; c++) ATEXT[c] = 2;
for (const ch of "!#$%&'*+-^_`{|}~") ATEXT[ch.charCodeAt(0)] = 1;
for (const ch of '/=?') ATEXT[ch.charCodeAt(0)] = 4;
for (let c = 0x30; c <= 0x39; c++) ATEXT[c] = 2;
for (let c = 0x41; c <= 0x5a; c++) ATEXT[c] = 2;
for (let c = 0x61; c <= 0x7a; c++) ATEXT[c] = 2;

function cls(ch: string): number {
  if (ch === '') return 0;
  const c = ch.charCodeAt(0);
  return c > 0xff ? 2 : ATEXT[c]!;
}
export const isAtext = (ch: string): boolean => cls(ch) !== 0;
/** MIME token character (RFC 2045 token; Dovecot also lets '.' through). */
const isTokenChar = (ch: string): boolean => (cls(ch) & 3) !== 0 || ch === '.';

/** Growable string, so parsers can append to a caller's buffer as Dovecot's string_t does. */
export class Sb {
  s = '';
}

/**
 * A cursor over a header value. Methods return Dovecot's tri-state: -1 syntax error,
 * 0 end of input reached, 1 more input follows. `peek()` is '' at the end.
 */
export class Rfc822Reader {
  pos = 0;
  /** Text of the last comment skipped, when tracking was asked for. */
  lastComment: string | undefined;

  constructor(
    readonly text: string,
    trackComments = false,
  ) {
    if (trackComments) this.lastComment = '';
  }

  get atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  peek(): string {
    return this.text[this.pos] ?? '';
  }

  more(): number {
    return this.pos < this.text.length ? 1 : 0;
  }

  /** At a backslash: step over it; false when it quotes nothing (a line end follows). */
  private escape(): boolean | undefined {
    if (++this.pos >= this.text.length) return undefined;
    if ('\r\n\0'.includes(this.text[this.pos]!)) {
      this.pos--;
      return false;
    }
    return true;
  }

  /** End of the text before the line end at `lf`. */
  private beforeLineEnd(start: number, lf: number): number {
    return lf > start && this.text[lf - 1] === '\r' ? lf - 1 : lf;
  }

  // comment = "(" *([FWS] ccontent) [FWS] ")"; its text loses folds and quoting backslashes.
  skipComment(): number {
    const t = this.text;
    const keep = (from: number, to: number): void => {
      if (this.lastComment !== undefined) this.lastComment += t.slice(from, to);
    };
    let level = 1;
    if (this.lastComment !== undefined) this.lastComment = '';
    let start = ++this.pos;
    for (; this.pos < t.length; this.pos++) {
      const ch = t[this.pos];
      if (ch === '(') level++;
      else if (ch === ')') {
        if (--level === 0) {
          keep(start, this.pos);
          this.pos++;
          return this.more();
        }
      } else if (ch === '\n' && this.lastComment !== undefined) {
        keep(start, this.beforeLineEnd(start, this.pos));
        start = this.pos + 1;
      } else if (ch === '\\') {
        const quoted = this.escape();
        if (quoted === undefined) return -1;
        if (quoted) {
          keep(start, this.pos - 1);
          start = this.pos;
        }
      }
    }
    return -1;
  }

  /** CFWS, with bare CR and LF counted as white space. */
  skipLwsp(): number {
    const t = this.text;
    while (this.pos < t.length) {
      const ch = t[this.pos];
      if (ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n') {
        this.pos++;
        continue;
      }
      if (ch !== '(') break;
      if (this.skipComment() < 0) return -1;
    }
    return this.more();
  }

  private takeWhile(out: Sb, ok: (ch: string) => boolean): number {
    const start = this.pos;
    while (this.pos < this.text.length && ok(this.text[this.pos]!)) this.pos++;
    out.s += this.text.slice(start, this.pos);
    return this.atEnd ? 0 : this.skipLwsp();
  }

  // atom = [CFWS] 1*atext [CFWS]
  parseAtom(out: Sb): number {
    if (!isAtext(this.peek())) return -1;
    return this.takeWhile(out, isAtext);
  }

  // dot-atom = [CFWS] dot-atom-text [CFWS]; RFC 822 also allowed CFWS around the dots.
  parseDotAtom(out: Sb): number {
    if (!isAtext(this.peek())) return -1;
    for (;;) {
      const start = this.pos;
      while (this.pos < this.text.length && isAtext(this.text[this.pos]!)) this.pos++;
      if (start === this.pos && !this.atEnd) return -1;
      out.s += this.text.slice(start, this.pos);
      if (this.atEnd) return 0;
      const ret = this.skipLwsp();
      if (ret <= 0) return ret;
      if (this.peek() !== '.') return 1;
      this.pos++;
      out.s += '.';
      if (this.skipLwsp() <= 0) return -1;
    }
  }

  /**
   * A local part as Dovecot reads it when dots need not be strict: `a..b`, `.a` and `a.`
   * pass, but white space may not follow a dot.
   */
  parseLooseDotAtom(out: Sb): number {
    let ret = -1;
    do {
      while (this.peek() === '.') {
        out.s += '.';
        this.pos++;
        if (this.atEnd) return 0;
        ret = 1;
      }
      if (this.peek() === '@') break;
      ret = this.parseAtom(out);
    } while (ret > 0 && this.peek() === '.');
    return ret;
  }

  parseMimeToken(out: Sb): number {
    return this.takeWhile(out, isTokenChar);
  }

  private parseAtomOrDot(out: Sb): number {
    return this.takeWhile(out, (ch) => isAtext(ch) || ch === '.');
  }

  // quoted-string = [CFWS] DQUOTE *([FWS] qcontent) [FWS] DQUOTE [CFWS]; folds lose their CRLF.
  parseQuotedString(out: Sb): number {
    const t = this.text;
    let start = ++this.pos;
    for (; this.pos < t.length; this.pos++) {
      const ch = t[this.pos];
      if (ch === '"') {
        out.s += t.slice(start, this.pos);
        this.pos++;
        return this.skipLwsp();
      } else if (ch === '\n') {
        out.s += t.slice(start, this.beforeLineEnd(start, this.pos));
        start = this.pos + 1;
      } else if (ch === '\\') {
        const quoted = this.escape();
        if (quoted === undefined) return -1;
        if (quoted) {
          out.s += t.slice(start, this.pos - 1);
          start = this.pos;
        }
      }
    }
    return -1;
  }

  // phrase = 1*word / obs-phrase ; obs-phrase = word *(word / "." / CFWS)
  parsePhrase(out: Sb): number {
    if (this.atEnd) return 0;
    if (this.peek() === '.') return -1;
    for (;;) {
      const ret = this.peek() === '"' ? this.parseQuotedString(out) : this.parseAtomOrDot(out);
      if (ret <= 0) return ret;
      const ch = this.peek();
      if (!isAtext(ch) && ch !== '"' && ch !== '.') break;
      out.s += ' ';
    }
    return this.skipLwsp();
  }

  // domain-literal = [CFWS] "[" *([FWS] dtext) [FWS] "]" [CFWS]; kept raw, brackets included.
  private parseDomainLiteral(out: Sb): number {
    const t = this.text;
    let start = this.pos++;
    for (; this.pos < t.length; this.pos++) {
      const ch = t[this.pos];
      if (ch === '[') return -1;
      if (ch === ']') {
        out.s += t.slice(start, ++this.pos);
        return this.skipLwsp();
      }
      if (ch === '\n') {
        out.s += t.slice(start, this.beforeLineEnd(start, this.pos));
        start = this.pos + 1;
      } else if (ch === '\\') {
        const quoted = this.escape();
        if (quoted === undefined) return -1;
        if (!quoted) {
          out.s += t.slice(start, this.pos + 1);
          start = this.pos + 1;
        }
      }
    }
    return -1;
  }

  /** "@" domain, at an '@'. domain = dot-atom / domain-literal / obs-domain */
  parseDomain(out: Sb): number {
    this.pos++;
    if (this.skipLwsp() <= 0) return -1;
    return this.peek() === '[' ? this.parseDomainLiteral(out) : this.parseDotAtom(out);
  }
}

interface RawAddress {
  name: string | null;
  route: string | null;
  mailbox: string | null;
  domain: string | null;
  invalid: boolean;
}

const blank = (): RawAddress => ({ name: null, route: null, mailbox: null, domain: null, invalid: false });

/** message_address_parse() with fill_missing, as imap-envelope calls it. */
class AddressParser {
  readonly r: Rfc822Reader;
  readonly out: Address[] = [];
  private addr = blank();
  private readonly str = new Sb();

  constructor(text: string) {
    this.r = new Rfc822Reader(text, true);
  }

  private add(): void {
    const a = this.addr;
    this.out.push({ name: a.name, adl: a.route, mailbox: a.mailbox, host: a.domain });
    this.addr = blank();
  }

  private addFixed(): void {
    if (this.addr.mailbox === null) this.addr.mailbox = 'MISSING_MAILBOX';
    if (!this.addr.domain) this.addr.domain = 'MISSING_DOMAIN';
    this.add();
  }

  // local-part = dot-atom / quoted-string / obs-local-part
  private parseLocalPart(): number {
    this.str.s = '';
    const ret = this.r.peek() === '"' ? this.r.parseQuotedString(this.str) : this.r.parseLooseDotAtom(this.str);
    if (ret < 0) return -1;
    this.addr.mailbox = this.str.s;
    return ret;
  }

  private parseDomainPart(): number {
    this.str.s = '';
    const ret = this.r.parseDomain(this.str);
    if (ret < 0) return -1;
    this.addr.domain = this.str.s;
    return ret;
  }

  // obs-domain-list = "@" domain *(*(CFWS / ",") [CFWS] "@" domain)
  private parseDomainList(): number {
    const route = new Sb();
    for (;;) {
      if (this.r.atEnd) return 0;
      if (this.r.peek() !== '@') break;
      if (route.s.length > 0) route.s += ',';
      route.s += '@';
      const ret = this.r.parseDomain(route);
      if (ret <= 0) return ret;
      while (this.r.skipLwsp() > 0 && this.r.peek() === ',') this.r.pos++;
    }
    this.addr.route = route.s;
    return 1;
  }

  // angle-addr = [CFWS] "<" [obs-route] addr-spec ">" [CFWS]
  private parseAngleAddr(): number {
    this.r.pos++;
    if (this.r.skipLwsp() <= 0) return -1;
    if (this.r.peek() === '@') {
      if (this.parseDomainList() > 0 && this.r.peek() === ':') this.r.pos++;
      else {
        this.addr.route = 'INVALID_ROUTE';
        if (this.r.atEnd) return -1;
      }
      if (this.r.skipLwsp() <= 0) return -1;
    }
    if (this.r.peek() !== '>') {
      if (this.parseLocalPart() <= 0) return -1;
      if (this.r.peek() === '@' && this.parseDomainPart() <= 0) return -1;
    }
    if (this.r.peek() !== '>') return -1;
    this.r.pos++;
    return this.r.skipLwsp();
  }

  // name-addr = [display-name] angle-addr
  private parseNameAddr(): number {
    this.str.s = '';
    if (this.r.parsePhrase(this.str) <= 0 || this.r.peek() !== '<') return -1;
    this.addr.name = this.str.s === '' ? null : this.str.s;
    if (this.parseAngleAddr() < 0) {
      this.addr.domain = 'SYNTAX_ERROR';
      this.addr.invalid = true;
    }
    return this.r.more();
  }

  // addr-spec = local-part "@" domain
  private parseAddrSpec(): number {
    let ret2 = -2;
    this.r.lastComment = '';
    const quoted = this.r.peek() === '"';
    let ret = this.parseLocalPart();
    if (ret <= 0) this.addr.invalid = true;
    if (ret !== 0 && this.r.peek() === '@') {
      ret2 = this.parseDomainPart();
      if (ret2 <= 0) ret = ret2;
    }
    if (this.r.lastComment) this.addr.name = this.r.lastComment;
    else if (ret2 === -2) {
      // No @domain and no comment: a lone word is a mailbox, more words are a display name.
      this.str.s += ' ';
      const before = this.str.s.length;
      this.r.parsePhrase(this.str);
      if (this.str.s.length !== before) {
        this.addr.mailbox = null;
        this.addr.name = this.str.s;
      } else if (!quoted) this.addr.domain = '';
      this.addr.invalid = true;
      ret = -1;
    }
    return ret;
  }

  // mailbox = name-addr / addr-spec
  private parseMailbox(): number {
    const start = this.r.pos;
    let ret = this.parseNameAddr();
    if (ret < 0) {
      this.r.pos = start;
      ret = this.parseAddrSpec();
      const a = this.addr;
      if (a.invalid && a.name === null && a.mailbox !== null && a.domain === null) {
        a.name = a.mailbox;
        a.mailbox = null;
      }
    }
    if (ret < 0) this.addr.invalid = true;
    this.addFixed();
    return ret;
  }

  // group = display-name ":" [group-list] ";" [CFWS]
  private parseGroup(): number {
    this.str.s = '';
    if (this.r.parsePhrase(this.str) <= 0 || this.r.peek() !== ':') return -1;
    // From here on this is a group, whatever follows.
    this.r.pos++;
    let ret = this.r.skipLwsp();
    this.addr.mailbox = this.str.s;
    this.add();
    if (ret > 0 && this.r.peek() !== ';') {
      for (;;) {
        this.parseMailbox();
        if (this.r.atEnd || this.r.peek() !== ',') break;
        this.r.pos++;
        if (this.r.skipLwsp() <= 0) {
          ret = -1;
          break;
        }
      }
    }
    if (ret >= 0) {
      if (this.r.peek() !== ';') ret = -1;
      else {
        this.r.pos++;
        ret = this.r.skipLwsp();
      }
    }
    this.add();
    return ret === 0 ? 0 : 1;
  }

  // address-list = (address *("," address)) / obs-addr-list
  parseList(): void {
    if (this.r.skipLwsp() <= 0) return;
    for (;;) {
      const start = this.r.pos;
      let ret = this.parseGroup();
      if (ret < 0) {
        this.r.pos = start;
        ret = this.parseMailbox();
      }
      if (ret === 0 || this.r.peek() !== ',') break;
      this.r.pos++;
      ret = this.r.skipLwsp();
      if (ret <= 0) {
        if (ret < 0) this.addFixed();
        break;
      }
    }
  }
}

/**
 * An address-list header value (unfolded or not) as IMAP addresses, or null when it holds
 * no address at all (NIL in the envelope).
 */
export function parseAddressList(value: string): Address[] | null {
  const parser = new AddressParser(value);
  parser.parseList();
  return parser.out.length > 0 ? parser.out : null;
}
