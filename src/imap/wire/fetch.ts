/**
 * FETCH arguments (RFC 3501 §6.4.5, RFC 3516 BINARY, RFC 7162 CONDSTORE/QRESYNC, RFC 4466).
 * The command handler has already read "FETCH SP sequence-set" (with or without the SP
 * after it); this reads the rest of the command, up to and including its end.
 */
import { ParseError } from '../types.js';
import type { FetchItem, FetchModifiers, Section } from '../types.js';
import type { Scanner } from './scanner.js';

const isNameChar = (b: number): boolean =>
  (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2e;
const isDigit = (b: number): boolean => b >= 0x30 && b <= 0x39;

const word = (s: Scanner): string => s.takeWhile(isNameChar).toUpperCase();

const FLAGS: FetchItem = { kind: 'FLAGS' };
const INTERNALDATE: FetchItem = { kind: 'INTERNALDATE' };
const SIZE: FetchItem = { kind: 'RFC822.SIZE' };
const ENVELOPE: FetchItem = { kind: 'ENVELOPE' };

// "ALL" / "FULL" / "FAST" (RFC 3501 §6.4.5): only on their own, never inside a list.
const MACROS: Record<string, () => FetchItem[]> = {
  ALL: () => [FLAGS, INTERNALDATE, SIZE, ENVELOPE],
  FAST: () => [FLAGS, INTERNALDATE, SIZE],
  FULL: () => [FLAGS, INTERNALDATE, SIZE, ENVELOPE, { kind: 'BODY' }],
};

// fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" /
//         fetch-att / "(" fetch-att *(SP fetch-att) ")") [fetch-modifiers]
export function parseFetch(s: Scanner): { items: FetchItem[]; modifiers: FetchModifiers } {
  s.spUnlessConsumed();
  let items: FetchItem[];
  if (s.peek() === 0x28) {
    items = s.list(fetchAtt);
    if (items.length === 0) throw new ParseError('Empty FETCH attribute list');
  } else {
    const macro = MACROS[s.lookAtom()];
    if (macro !== undefined) {
      s.atom();
      items = macro();
    } else items = [fetchAtt(s)];
  }
  const modifiers = s.tryChar(' ') ? fetchModifiers(s) : {};
  s.end();
  return { items, modifiers };
}

// fetch-att = "ENVELOPE" / "FLAGS" / "INTERNALDATE" / "RFC822" [".HEADER" / ".SIZE" / ".TEXT"] /
//             "BODY" ["STRUCTURE"] / "UID" / "BODY" section [partial] / "BODY.PEEK" section [partial] /
//             "BINARY" [".PEEK"] section-binary [partial] / "BINARY.SIZE" section-binary / "MODSEQ"
function fetchAtt(s: Scanner): FetchItem {
  const name = word(s);
  switch (name) {
    case 'ENVELOPE':
    case 'FLAGS':
    case 'INTERNALDATE':
    case 'UID':
    case 'BODYSTRUCTURE':
    case 'MODSEQ':
    case 'RFC822.SIZE':
      return { kind: name };
    // RFC822 = BODY[], RFC822.HEADER = BODY.PEEK[HEADER], RFC822.TEXT = BODY[TEXT] (§6.4.5)
    case 'RFC822':
      return { kind: 'BODY[]', section: { path: [] }, peek: false, legacy: name };
    case 'RFC822.HEADER':
      return { kind: 'BODY[]', section: { path: [], text: 'HEADER' }, peek: true, legacy: name };
    case 'RFC822.TEXT':
      return { kind: 'BODY[]', section: { path: [], text: 'TEXT' }, peek: false, legacy: name };
    case 'BODY':
      if (s.peek() !== 0x5b) return { kind: 'BODY' };
      return withPartial(s, { kind: 'BODY[]', section: section(s), peek: false });
    case 'BODY.PEEK':
      return withPartial(s, { kind: 'BODY[]', section: section(s), peek: true });
    case 'BINARY':
    case 'BINARY.PEEK':
      return withPartial(s, { kind: 'BODY[]', section: sectionBinary(s), peek: name === 'BINARY.PEEK', binary: 'BINARY' });
    case 'BINARY.SIZE':
      return { kind: 'BODY[]', section: sectionBinary(s), peek: true, binary: 'SIZE' };
    case '':
      return s.fail('FETCH attribute');
    default:
      throw new ParseError(MACROS[name] ? 'FETCH macros cannot be combined with other attributes' : 'Unknown FETCH attribute');
  }
}

// partial = "<" number "." nz-number ">"
function withPartial(s: Scanner, item: FetchItem & { kind: 'BODY[]' }): FetchItem {
  if (!s.tryChar('<')) return item;
  const start = s.number();
  s.expect('.');
  const length = s.nzNumber();
  s.expect('>');
  return { ...item, partial: { start, length } };
}

// section = "[" [section-spec] "]"
// section-spec = section-msgtext / (section-part ["." section-text])
// section-part = nz-number *("." nz-number)
function section(s: Scanner): Section {
  s.expect('[');
  const path: number[] = [];
  let result: Section = { path };
  if (isDigit(s.peek())) {
    path.push(s.nzNumber());
    while (s.tryChar('.')) {
      if (isDigit(s.peek())) path.push(s.nzNumber());
      else {
        result = { path, ...sectionText(s, true) };
        break;
      }
    }
  } else if (s.peek() !== 0x5d) result = { path, ...sectionText(s, false) };
  s.expect(']');
  return result;
}

// section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"
// section-text = section-msgtext / "MIME"   ; MIME only after a section-part
function sectionText(s: Scanner, afterPart: boolean): Omit<Section, 'path'> {
  const text = word(s);
  switch (text) {
    case 'HEADER':
    case 'TEXT':
      return { text };
    case 'MIME':
      if (!afterPart) throw new ParseError('MIME needs a section part');
      return { text };
    case 'HEADER.FIELDS':
    case 'HEADER.FIELDS.NOT':
      s.sp();
      return { text, fields: headerList(s) };
    default:
      return s.fail('section text');
  }
}

// header-list = "(" header-fld-name *(SP header-fld-name) ")" ; header-fld-name = astring
function headerList(s: Scanner): string[] {
  const fields = s.list((x) => x.astring());
  if (fields.length === 0) throw new ParseError('Empty header list');
  return fields;
}

// section-binary = "[" [section-part] "]"
function sectionBinary(s: Scanner): Section {
  s.expect('[');
  const path: number[] = [];
  if (!s.tryChar(']')) {
    do path.push(s.nzNumber());
    while (s.tryChar('.'));
    s.expect(']');
  }
  return { path };
}

// fetch-modifiers = SP "(" fetch-modifier *(SP fetch-modifier) ")"          (RFC 4466)
// fetch-modifier =/ chgsince-fetch-mod / "VANISHED"                          (RFC 7162)
// chgsince-fetch-mod = "CHANGEDSINCE" SP mod-sequence-valzer
function fetchModifiers(s: Scanner): FetchModifiers {
  const modifiers: FetchModifiers = {};
  const names = s.list((x) => {
    const name = x.atomUpper();
    if (name === 'CHANGEDSINCE') {
      x.sp();
      modifiers.changedSince = x.number64();
    } else if (name === 'VANISHED') modifiers.vanished = true;
    else throw new ParseError('Unknown FETCH modifier');
    return name;
  });
  if (names.length === 0) throw new ParseError('Empty FETCH modifier list');
  if (new Set(names).size !== names.length) throw new ParseError('Repeated FETCH modifier');
  // RFC 7162 §3.2.6: VANISHED without CHANGEDSINCE is a BAD.
  if (modifiers.vanished && modifiers.changedSince === undefined) {
    throw new ParseError('VANISHED requires CHANGEDSINCE');
  }
  return modifiers;
}
