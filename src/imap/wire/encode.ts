/**
 * Building server responses (RFC 3501 §7, §9). A response is a sequence of chunks because
 * message bodies are binary and must go out byte for byte; everything else is a JS string
 * written as UTF-8 (literal lengths count UTF-8 octets).
 */
import { quoteString } from './structures.js';
import { encodeMailboxName } from './mutf7.js';
import { isAstringChar } from './scanner.js';

export type Chunk = string | Buffer;

/** A thread tree (RFC 5256); `uid` is null for a dummy parent that is not in the mailbox. */
export interface ThreadTree {
  uid: number | null;
  children: ThreadTree[];
}

// astring = 1*ASTRING-CHAR / string
/** An atom when every character allows it, else quoted, else a literal. */
export function astring(s: string): string {
  let atom = s.length > 0;
  for (let i = 0; i < s.length && atom; i++) atom = isAstringChar(s.charCodeAt(i));
  // "NIL" is quoted so that no reader can take it for nil where an nstring could stand.
  if (atom && s.toUpperCase() !== 'NIL') return s;
  return quoteString(s);
}

// mailbox = "INBOX" / astring
export function mailboxName(name: string): string {
  return astring(encodeMailboxName(name));
}

// flag-list = "(" [flag *(SP flag)] ")"
export function flagList(flags: readonly string[]): string {
  return `(${flags.join(' ')})`;
}

// literal = "{" number "}" CRLF *CHAR8
export function literal(data: Buffer): Chunk[] {
  return [`{${data.length}}\r\n`, data];
}

// nstring = string / nil
/** Body data: a literal; an empty body as `""`, which every client reads. */
export function nstringBytes(data: Buffer | null): Chunk[] {
  if (data === null) return ['NIL'];
  if (data.length === 0) return ['""'];
  return literal(data);
}

// sequence-set = (seq-number / seq-range) ["," sequence-set]
/** "1:3,5,7:9" for ascending unique numbers; unsorted input is sorted first. */
export function compressSet(nums: number[]): string {
  let sorted = nums;
  for (let i = 1; i < nums.length; i++) {
    if (nums[i]! <= nums[i - 1]!) {
      sorted = [...new Set(nums)].sort((a, b) => a - b);
      break;
    }
  }
  const out: string[] = [];
  let i = 0;
  while (i < sorted.length) {
    const start = sorted[i]!;
    let end = start;
    while (i + 1 < sorted.length && sorted[i + 1] === end + 1) end = sorted[++i]!;
    out.push(start === end ? String(start) : `${start}:${end}`);
    i++;
  }
  return out.join(',');
}

/** resp-text must be one line: a CR or LF in it would let text forge a response. */
const oneLine = (text: string): string => text.replace(/[\r\n]+/g, ' ');

// response-tagged = tag SP resp-cond-state CRLF
// resp-cond-state = ("OK" / "NO" / "BAD") SP resp-text ; resp-text = ["[" resp-text-code "]" SP] text
export function taggedResponse(tag: string, status: 'OK' | 'NO' | 'BAD', text: string, code?: string): string {
  const body = oneLine(text) || status;
  return code ? `${tag} ${status} [${oneLine(code)}] ${body}\r\n` : `${tag} ${status} ${body}\r\n`;
}

// response-data = "*" SP (resp-cond-state / resp-cond-bye / mailbox-data / message-data / capability-data) CRLF
/** Untagged data; `text` may hold literals, so it is passed through unchanged. */
export function untagged(text: string): string {
  return `* ${text}\r\n`;
}

/** thread-list syntax of RFC 5256: "(1 2 (3 4)(5))"; iterative, so deep threads cannot overflow the stack. */
export function encodeThreads(nodes: ThreadTree[]): string {
  let out = '';
  const stack: Array<{ list: ThreadTree[]; next: number }> = [{ list: nodes, next: 0 }];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    if (frame.next === frame.list.length) {
      stack.pop();
      if (stack.length > 0) out += ')'; // closes the thread-list that owned these children
      continue;
    }
    let n = frame.list[frame.next++]!;
    const members: number[] = [];
    for (;;) {
      if (n.uid !== null) members.push(n.uid);
      if (n.children.length !== 1) break;
      n = n.children[0]!;
    }
    out += `(${members.join(' ')}`;
    if (n.children.length > 1) {
      if (members.length > 0) out += ' ';
      stack.push({ list: n.children, next: 0 });
    } else out += ')';
  }
  return out;
}
