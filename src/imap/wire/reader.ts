/**
 * Framing socket bytes into whole client commands (RFC 3501 §2.2, §4.3, §7.5; RFC 7888).
 *
 * A command is one or more lines; a line that ends in a literal announcement "{n}" or
 * "{n+}" is followed by n raw octets and then the rest of the command. The reader only
 * frames: it never interprets arguments, so the Scanner sees the bytes exactly as sent.
 *
 * Memory is bounded by the limits whatever arrives: the non-literal bytes of one command
 * never exceed maxLineBytes + 2 and its literals never exceed maxLiteralBytes(command) in
 * total. A command over a limit is dropped and answered with an error event; the bytes
 * the client still sends for it are skipped without being kept.
 */
import { isAtomChar, isTagChar } from './scanner.js';

export interface ReaderLimits {
  /** Non-literal bytes of one command (line ends between literals included, the final CRLF not). */
  maxLineBytes: number;
  /** Total literal bytes one command may carry; command = upper-case name, '' if unknown. */
  maxLiteralBytes(command: string): number;
  /** LITERAL- (RFC 7888): non-synchronizing literals over 4096 octets are refused. */
  literalMinus: boolean;
}

export type ReaderEvent =
  | { type: 'command'; data: Buffer }
  | { type: 'continue' }
  | { type: 'error'; tag: string | undefined; status: 'BAD' | 'NO'; code?: string; text: string; fatal: boolean };

const LF = 0x0a;
const CR = 0x0d;
const LF_BUF = Buffer.from('\n');
const EMPTY = Buffer.alloc(0);
/** RFC 7888 §4: the largest non-synchronizing literal a LITERAL- server must accept. */
const LITERAL_MINUS_MAX = 4096;
/** How much of a skipped line is kept to see whether it announced a literal. */
const TAIL = 32;
/** How far into a line a tag is looked for, for error responses. */
const HEAD = 256;

interface Announcement {
  n: number;
  sync: boolean;
}

// literal = "{" number ["+"] "}" CRLF *CHAR8     (the "+" is RFC 7888's non-synchronizing form)
/** The literal announced at the end of `line`, if any; `cut` says the line's start is missing. */
function announcement(line: Buffer, cut: boolean): Announcement | undefined {
  let i = line.length - 1;
  if (line[i] !== 0x7d) return undefined;
  const sync = line[--i] !== 0x2b;
  if (!sync) i--;
  const last = i;
  while (i >= 0 && line[i]! >= 0x30 && line[i]! <= 0x39) i--;
  if (i === last) return undefined;
  // Digits running past the start of a kept tail: a number far beyond any limit.
  if (i < 0 && cut) return { n: Infinity, sync };
  if (line[i] !== 0x7b) return undefined;
  const n = last - i > 15 ? Infinity : Number(line.toString('latin1', i + 1, last + 1));
  return { n, sync };
}

// command = tag SP (command-any / command-auth / command-nonauth / command-select) CRLF
/** Tag and upper-cased command name from the start of a command, when it has them. */
function head(line: Buffer): { tag: string | undefined; name: string } {
  let i = 0;
  while (i < line.length && i < HEAD && isTagChar(line[i]!)) i++;
  if (i === 0 || line[i] !== 0x20) return { tag: undefined, name: '' };
  let j = i + 1;
  while (j < line.length && isAtomChar(line[j]!)) j++;
  return { tag: line.toString('latin1', 0, i), name: line.toString('latin1', i + 1, j).toUpperCase() };
}

/** Give a command's buffer back for reuse only while it is small. */
const REUSE_MAX = 64 * 1024;

export class CommandReader {
  readonly #limits: ReaderLimits;
  /** After a fatal error nothing more is read: the server closes the connection. */
  #dead = false;
  /** The current command was refused: its remaining bytes are skipped, not kept. */
  #skipping = false;
  #literalLeft = 0;
  /** The current command as received: bytes [0, #len) of #buf; its current line starts at #lineStart. */
  #buf = Buffer.alloc(256);
  #len = 0;
  #lineStart = 0;
  /** Non-literal bytes before #lineStart, and literal bytes, of the current command. */
  #lineBytes = 0;
  #literalBytes = 0;
  /** The end of a line being skipped, and how long that line was. */
  #tail = EMPTY;
  #skippedBytes = 0;
  #headKnown = false;
  #tag: string | undefined;
  #name = '';

  constructor(limits: ReaderLimits) {
    this.#limits = limits;
  }

  /** Bytes held for the command being received. */
  get buffered(): number {
    return this.#len + this.#tail.length;
  }

  /** Forget everything received so far (after STARTTLS, input sent in the clear must go). */
  reset(): void {
    this.#literalLeft = 0;
    this.#next();
  }

  push(chunk: Buffer): ReaderEvent[] {
    const events: ReaderEvent[] = [];
    let i = 0;
    while (i < chunk.length && !this.#dead) {
      if (this.#literalLeft > 0) {
        const n = Math.min(this.#literalLeft, chunk.length - i);
        if (!this.#skipping) this.#append(chunk.subarray(i, i + n));
        this.#literalLeft -= n;
        this.#lineStart = this.#len;
        i += n;
        continue;
      }
      const lf = chunk.indexOf(LF, i);
      this.#lineData(chunk.subarray(i, lf < 0 ? chunk.length : lf), events);
      if (lf < 0) break;
      i = lf + 1;
      this.#lineEnd(events);
    }
    return events;
  }

  /** Copy into the command buffer, growing it by doubling but never past what the command may still legally add. */
  #append(piece: Buffer): void {
    const need = this.#len + piece.length;
    if (need > this.#buf.length) {
      const legal =
        this.#literalLeft > 0
          ? this.#len + this.#literalLeft
          : this.#lineStart + this.#limits.maxLineBytes + 2 - this.#lineBytes;
      const grown = Buffer.allocUnsafe(Math.max(need, Math.min(2 * this.#buf.length, legal)));
      this.#buf.copy(grown, 0, 0, this.#len);
      this.#buf = grown;
    }
    piece.copy(this.#buf, this.#len);
    this.#len = need;
  }

  #lineData(piece: Buffer, events: ReaderEvent[]): void {
    if (piece.length === 0) return;
    if (this.#skipping) {
      this.#skip(piece);
      return;
    }
    // The +1 lets the CR of a CRLF arrive before we know it is one.
    const over = this.#lineBytes + this.#len - this.#lineStart + piece.length - (this.#limits.maxLineBytes + 1);
    if (over <= 0) {
      this.#append(piece);
      return;
    }
    const line = Buffer.concat([this.#buf.subarray(this.#lineStart, this.#len), piece]);
    if (!this.#headKnown) this.#learnHead(line);
    this.#refuse(events, 'BAD', 'Command line too long');
    this.#skip(line);
  }

  #skip(piece: Buffer): void {
    this.#skippedBytes += piece.length;
    const joined = Buffer.concat([this.#tail, piece.subarray(Math.max(0, piece.length - TAIL))]);
    this.#tail = Buffer.from(joined.subarray(Math.max(0, joined.length - TAIL)));
  }

  #learnHead(line: Buffer): void {
    const h = head(line.subarray(0, Math.min(HEAD, this.#limits.maxLineBytes + 1)));
    this.#tag = h.tag;
    this.#name = h.name;
    this.#headKnown = true;
  }

  #lineEnd(events: ReaderEvent[]): void {
    if (this.#skipping) {
      const tail = this.#tail.at(-1) === CR ? this.#tail.subarray(0, -1) : this.#tail;
      const cut = this.#skippedBytes > this.#tail.length;
      this.#tail = EMPTY;
      this.#skippedBytes = 0;
      this.#skipLiteral(announcement(tail, cut), events);
      return;
    }
    const line = this.#buf.subarray(this.#lineStart, this.#len);
    const content = line.at(-1) === CR ? line.subarray(0, -1) : line;
    if (!this.#headKnown) {
      // Some clients send a stray empty line after a command; a BAD for it helps nobody.
      if (content.length === 0) {
        this.#next();
        return;
      }
      this.#learnHead(content);
    }
    const literal = announcement(content, false);
    if (this.#lineBytes + content.length > this.#limits.maxLineBytes) {
      if (!this.#absurd(literal)) this.#refuse(events, 'BAD', 'Command line too long');
      this.#skipLiteral(literal, events);
      return;
    }
    if (literal === undefined) {
      events.push({ type: 'command', data: Buffer.from(this.#buf.subarray(0, this.#lineStart + content.length)) });
      this.#next();
      return;
    }
    const cap = this.#limits.maxLiteralBytes(this.#name);
    const room = cap - this.#literalBytes;
    if (literal.sync) {
      // The client sends nothing more for this command until it sees "+", so it just ends.
      if (literal.n > room) {
        events.push(this.#error('NO', 'Literal is larger than this server accepts', 'TOOBIG'));
        this.#next();
        return;
      }
      events.push({ type: 'continue' });
    } else if (literal.n > room || (this.#limits.literalMinus && literal.n > LITERAL_MINUS_MAX)) {
      // An absurd one is only reported as fatal, by #skipLiteral.
      if (this.#absurd(literal)) this.#skipLiteral(literal, events);
      else {
        if (literal.n > room) this.#refuse(events, 'NO', 'Literal is larger than this server accepts', 'TOOBIG');
        else this.#refuse(events, 'BAD', 'Non-synchronizing literal over 4096 octets (LITERAL-)', 'TOOBIG');
        this.#skipLiteral(literal, events);
      }
      return;
    }
    this.#lineBytes += line.length + 1;
    this.#literalBytes += literal.n;
    this.#literalLeft = literal.n;
    this.#append(LF_BUF);
    this.#lineStart = this.#len;
  }

  /**
   * The client of a refused command still sends a non-synchronizing literal; skip it, and the
   * rest of its command, unless it is so large that reading it would only waste the link.
   */
  #skipLiteral(literal: Announcement | undefined, events: ReaderEvent[]): void {
    if (literal === undefined || literal.sync) {
      this.#next();
      return;
    }
    if (this.#absurd(literal)) {
      // A command already answered gets no second tagged response.
      const tag = this.#skipping ? undefined : this.#tag;
      events.push({ ...this.#error('BAD', 'Literal too large; closing the connection'), tag, fatal: true });
      this.#dead = true;
      this.reset();
      return;
    }
    this.#literalLeft = literal.n;
  }

  #absurd(literal: Announcement | undefined): boolean {
    if (literal === undefined || literal.sync) return false;
    return literal.n > 2 * Math.max(this.#limits.maxLiteralBytes(this.#name), LITERAL_MINUS_MAX);
  }

  /** Report an error for the current command and skip what is left of it. */
  #refuse(events: ReaderEvent[], status: 'BAD' | 'NO', text: string, code?: string): void {
    events.push(this.#error(status, text, code));
    this.#drop();
    this.#skipping = true;
  }

  #error(status: 'BAD' | 'NO', text: string, code?: string): ReaderEvent & { type: 'error' } {
    const e: ReaderEvent & { type: 'error' } = { type: 'error', tag: this.#tag, status, text, fatal: false };
    if (code !== undefined) e.code = code;
    return e;
  }

  #drop(): void {
    this.#len = 0;
    this.#lineStart = 0;
    this.#lineBytes = 0;
    this.#literalBytes = 0;
    if (this.#buf.length > REUSE_MAX) this.#buf = Buffer.alloc(256);
  }

  /** Start afresh for the next command. */
  #next(): void {
    this.#drop();
    this.#skipping = false;
    this.#tail = EMPTY;
    this.#skippedBytes = 0;
    this.#headKnown = false;
    this.#tag = undefined;
    this.#name = '';
  }
}
