/**
 * Modified UTF-7 for mailbox names (RFC 3501 §5.1.3): printable US-ASCII stands for itself
 * except "&", which is "&-"; every other run of characters is "&" + modified BASE64 of its
 * UTF-16BE code units ("," instead of "/", no padding) + "-".
 *
 * Decoding accepts only the canonical form, so that one Unicode name has exactly one wire
 * form: otherwise "&AGE-" and "a" (or two adjacent encoded runs and one merged run) would
 * name the same mailbox under different strings. (Dovecot's decoder also refuses 8-bit
 * input and adjacent runs; this one is stricter still.)
 */
import { ParseError } from '../types.js';

const isPrintable = (c: number): boolean => c >= 0x20 && c <= 0x7e;

// mbase64 = <modified base64 of UTF-16BE, "," for "/", no "=" padding>
function toModifiedBase64(run: string): string {
  const bytes = Buffer.from(run, 'utf16le').swap16();
  return bytes.toString('base64').replace(/=+$/, '').replace(/\//g, ',');
}

/** A Unicode mailbox name in modified UTF-7; lone surrogates become U+FFFD. */
export function encodeMailboxName(name: string): string {
  const s = name.toWellFormed();
  let out = '';
  let i = 0;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (isPrintable(c)) {
      out += c === 0x26 ? '&-' : s[i];
      i++;
      continue;
    }
    let j = i + 1;
    while (j < s.length && !isPrintable(s.charCodeAt(j))) j++;
    out += `&${toModifiedBase64(s.slice(i, j))}-`;
    i = j;
  }
  return out;
}

/** The Unicode name for a modified UTF-7 wire name; anything non-canonical is a ParseError. */
export function decodeMailboxName(wire: string): string {
  let out = '';
  let i = 0;
  while (i < wire.length) {
    const c = wire.charCodeAt(i);
    if (!isPrintable(c)) throw new ParseError('Invalid character in mailbox name');
    if (c !== 0x26) {
      out += wire[i];
      i++;
      continue;
    }
    const end = wire.indexOf('-', i + 1);
    if (end < 0) throw new ParseError('Unterminated modified UTF-7 in mailbox name');
    const b64 = wire.slice(i + 1, end);
    if (b64 === '') out += '&';
    else {
      if (!/^[A-Za-z0-9+,]+$/.test(b64)) throw new ParseError('Invalid modified UTF-7 in mailbox name');
      const bytes = Buffer.from(b64.replace(/,/g, '/'), 'base64');
      if (bytes.length % 2 !== 0) throw new ParseError('Invalid modified UTF-7 in mailbox name');
      const text = bytes.swap16().toString('utf16le');
      if (!text.isWellFormed() || /[\x00-\x1f\x7f]/.test(text)) {
        throw new ParseError('Invalid characters in mailbox name');
      }
      out += text;
    }
    i = end + 1;
  }
  // Catches encoded printable ASCII, split runs, non-zero padding bits and bad lengths at once.
  if (encodeMailboxName(out) !== wire) throw new ParseError('Mailbox name is not canonical modified UTF-7');
  return out;
}
