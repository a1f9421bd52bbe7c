/**
 * Building and taking apart PGP/MIME messages (RFC 3156) with header protection (RFC 9788).
 * Only MIME here: the cryptography is done by the caller (openpgp/), which hands in the
 * armored ciphertext or signature.
 *
 * A message is handled as its header fields (raw bytes, folding kept) plus its body, so a
 * field we pass through is copied byte for byte.
 */
import { randomBytes } from 'node:crypto';
import { fieldValue, parseHeaderBlock, type HeaderField } from './header.js';

export interface RawField {
  name: string;
  /** Lower-cased name. */
  key: string;
  /** The whole field as written: "Name: value\r\n" with any folding. */
  raw: Buffer;
  /** The unfolded value. */
  value: string;
}

export interface SplitEntity {
  fields: RawField[];
  body: Buffer;
}

/** Header fields that describe the MIME entity itself and travel with the content. */
const CONTENT_FIELD = /^content-/;

export function isContentField(key: string): boolean {
  return CONTENT_FIELD.test(key);
}

/**
 * A field read from a message: its value is unfolded when first asked for. Most fields of a
 * message arriving (Received, DKIM-Signature, ...) are passed through by their bytes only,
 * and unfolding every one of them was a sixth of the incoming transform of plaintext mail.
 */
class ReadField implements RawField {
  readonly name: string;
  readonly key: string;
  readonly raw: Buffer;
  readonly #source: Buffer;
  readonly #field: HeaderField;
  #value: string | undefined;

  constructor(source: Buffer, f: HeaderField) {
    let bytes = source.subarray(f.start, f.end);
    if (bytes[bytes.length - 1] !== 0x0a) bytes = Buffer.concat([bytes, Buffer.from('\r\n')]);
    this.name = f.name;
    this.key = f.key;
    this.raw = bytes;
    this.#source = source;
    this.#field = f;
  }

  get value(): string {
    return (this.#value ??= fieldValue(this.#source, this.#field));
  }
}

export function splitEntity(raw: Buffer): SplitEntity {
  const block = parseHeaderBlock(raw);
  return { fields: block.fields.map((f) => new ReadField(raw, f)), body: raw.subarray(block.end) };
}

export function field(name: string, value: string): RawField {
  return { name, key: name.toLowerCase(), raw: Buffer.from(`${name}: ${value}\r\n`, 'utf8'), value };
}

export function joinEntity(fields: RawField[], body: Buffer): Buffer {
  return Buffer.concat([...fields.map((f) => f.raw), Buffer.from('\r\n'), body]);
}

/** Bare LF and bare CR become CRLF: the canonical form signatures are made over (RFC 3156 §5). */
export function canonicalCrlf(buf: Buffer): Buffer {
  const text = buf.toString('latin1');
  if (!/\r(?!\n)|(?<!\r)\n/.test(text)) return buf;
  return Buffer.from(text.replace(/\r\n|\r|\n/g, '\r\n'), 'latin1');
}

export function newBoundary(): string {
  return `----=_waxseal_${randomBytes(12).toString('hex')}`;
}

/** A Content-Type value with one more parameter, quoted. */
export function withParam(contentType: string, name: string, value: string): string {
  return `${contentType.replace(/[\s;]+$/, '')}; ${name}="${value}"`;
}

/** The content fields of an entity, or the RFC 2045 default when it has none. */
export function contentFields(fields: RawField[]): RawField[] {
  const out = fields.filter((f) => isContentField(f.key));
  if (!out.some((f) => f.key === 'content-type')) out.unshift(field('Content-Type', 'text/plain; charset=us-ascii'));
  return out;
}

/** The Content-Type field with an extra `hp` parameter (RFC 9788 §2.1.1). */
export function markProtected(fields: RawField[], hp: 'cipher' | 'clear'): RawField[] {
  return fields.map((f) => (f.key === 'content-type' ? field(f.name, withParam(f.value, 'hp', hp)) : f));
}

/** multipart/encrypted (RFC 3156 §4) around an armored OpenPGP message. */
export function encryptedBody(armored: string): { contentType: string; body: Buffer } {
  const b = newBoundary();
  const body = [
    'This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)',
    `--${b}`,
    'Content-Type: application/pgp-encrypted',
    'Content-Description: PGP/MIME version identification',
    '',
    'Version: 1',
    '',
    `--${b}`,
    'Content-Type: application/octet-stream; name="encrypted.asc"',
    'Content-Description: OpenPGP encrypted message',
    'Content-Disposition: inline; filename="encrypted.asc"',
    '',
    armored.replace(/\r?\n/g, '\r\n').replace(/\r\n$/, ''),
    `--${b}--`,
    '',
  ].join('\r\n');
  return { contentType: `multipart/encrypted; protocol="application/pgp-encrypted"; boundary="${b}"`, body: Buffer.from(body, 'latin1') };
}

/** multipart/signed (RFC 3156 §5) from the exact signed entity and its armored signature. */
export function signedBody(signedEntity: Buffer, armoredSignature: string, micalg: string): { contentType: string; body: Buffer } {
  const b = newBoundary();
  const body = Buffer.concat([
    Buffer.from(`This is an OpenPGP/MIME signed message (RFC 4880 and 3156)\r\n--${b}\r\n`),
    signedEntity,
    Buffer.from(
      [
        '',
        `--${b}`,
        'Content-Type: application/pgp-signature; name="signature.asc"',
        'Content-Description: OpenPGP digital signature',
        'Content-Disposition: attachment; filename="signature.asc"',
        '',
        armoredSignature.replace(/\r?\n/g, '\r\n').replace(/\r\n$/, ''),
        `--${b}--`,
        '',
      ].join('\r\n'),
    ),
  ]);
  return { contentType: `multipart/signed; micalg=${micalg}; protocol="application/pgp-signature"; boundary="${b}"`, body };
}
