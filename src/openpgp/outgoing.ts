/**
 * The outgoing transform: a message as the mail client wrote it becomes PGP/MIME (RFC 3156),
 * signed and encrypted to every recipient and to the sender (so the Sent copy stays
 * readable), or signed only, with header protection (RFC 9788) and Autocrypt headers.
 *
 * Header protection, as sent here (RFC 9788 §4, "hcp_minimal"): the cryptographic payload's
 * Content-Type carries `hp="cipher"` (or `hp="clear"` when only signed) and a copy of every
 * header field of the message; for an encrypted message the outer Subject is replaced by
 * `[...]`, and the inner header records each outer field as `HP-Outer:` so the reader can
 * tell what travelled in the clear. Autocrypt-Gossip goes inside the encryption, only when
 * there is more than one recipient.
 */
import { createMessage, encrypt, sign, type PrivateKey, type PublicKey } from 'openpgp';
import { WaxsealError, errorMessage } from '../util/errors.js';
import { parseContentType } from '../mime/header.js';
import {
  canonicalCrlf,
  contentFields,
  encryptedBody,
  field,
  isContentField,
  joinEntity,
  markProtected,
  signedBody,
  splitEntity,
  type RawField,
} from '../mime/pgpmime.js';
import { autocryptHeaderValue, gossipHeaderValue } from './autocrypt.js';
import { PGP_CONFIG } from './config.js';
import { minimalPublicKey } from './keys.js';

export type EncryptPolicy = 'opportunistic' | 'always';

export interface Recipient {
  address: string;
  /** The key to encrypt to, or undefined when none is known. */
  key?: PublicKey;
}

export type Decision = { mode: 'encrypt' } | { mode: 'sign' };

/**
 * "opportunistic": encrypt when every recipient has a key, else sign only.
 * "always": encrypt, or refuse with the recipients that have no key.
 */
export function decide(policy: EncryptPolicy, recipients: Recipient[]): Decision {
  const missing = recipients.filter((r) => !r.key).map((r) => r.address);
  if (missing.length === 0 && recipients.length > 0) return { mode: 'encrypt' };
  if (policy === 'always') {
    throw new WaxsealError('ENOKEY', `Not sent: no OpenPGP key is known for ${missing.join(', ')}, and this profile always encrypts`);
  }
  return { mode: 'sign' };
}

/** Fields that never go out (Bcc) or that only we may set (X-Waxseal-*). */
function outgoingField(f: RawField): boolean {
  return f.key !== 'bcc' && !f.key.startsWith('x-waxseal-');
}

/** True when the message is already OpenPGP-encrypted: PGP/MIME, or an inline armored message. */
export function isAlreadyEncrypted(raw: Buffer): boolean {
  const { fields, body } = splitEntity(raw);
  const ct = parseContentType(fields.find((f) => f.key === 'content-type')?.value);
  if (ct.type === 'multipart' && ct.subtype === 'encrypted') return true;
  if (ct.type === 'application' && (ct.subtype === 'pgp-encrypted' || ct.subtype === 'pgp')) return true;
  if (ct.type === 'text' || ct.type === 'multipart') {
    return /^-----BEGIN PGP MESSAGE-----\r?$/m.test(body.subarray(0, 1 << 20).toString('latin1'));
  }
  return false;
}

export interface OutgoingOptions {
  raw: Buffer;
  sender: { address: string; key: PrivateKey };
  recipients: Recipient[];
  policy: EncryptPolicy;
  /** Put an Autocrypt header on the message (default true). */
  autocrypt?: boolean;
}

export interface OutgoingResult {
  raw: Buffer;
  /** What was done: encrypted (and signed), signed only, or passed through untouched. */
  mode: 'encrypt' | 'sign' | 'passthrough';
}

/** The Autocrypt header value of a key object, made once per (key, address). */
const autocryptValues = new WeakMap<PrivateKey, Map<string, string>>();

async function autocryptFor(key: PrivateKey, address: string): Promise<string> {
  let byAddress = autocryptValues.get(key);
  if (!byAddress) autocryptValues.set(key, (byAddress = new Map()));
  let value = byAddress.get(address);
  if (value === undefined) {
    value = autocryptHeaderValue(address, await minimalPublicKey(key, address));
    byAddress.set(address, value);
  }
  return value;
}

export async function transformOutgoing(opts: OutgoingOptions): Promise<OutgoingResult> {
  if (isAlreadyEncrypted(opts.raw)) return { raw: opts.raw, mode: 'passthrough' };
  const decision = decide(opts.policy, opts.recipients);
  const { fields, body } = splitEntity(opts.raw);
  const messageFields = fields.filter((f) => !isContentField(f.key) && f.key !== 'mime-version' && outgoingField(f));
  const autocrypt = opts.autocrypt === false ? [] : [field('Autocrypt', await autocryptFor(opts.sender.key, opts.sender.address))];
  const mimeVersion = field('MIME-Version', '1.0');
  try {
    if (decision.mode === 'encrypt') return { raw: await encrypted(opts, fields, messageFields, body, [...autocrypt, mimeVersion]), mode: 'encrypt' };
    return { raw: await signedOnly(opts, fields, messageFields, body, [...autocrypt, mimeVersion]), mode: 'sign' };
  } catch (err) {
    throw new WaxsealError('EPGP', `Could not ${decision.mode} the message: ${errorMessage(err)}`, { cause: err });
  }
}

async function encrypted(opts: OutgoingOptions, fields: RawField[], messageFields: RawField[], body: Buffer, extra: RawField[]): Promise<Buffer> {
  const outer = messageFields.map((f) => (f.key === 'subject' ? field(f.name, '[...]') : f));
  const hpOuter = outer.map((f) => field('HP-Outer', `${f.name}: ${f.value}`));
  const recipients = opts.recipients.map((r) => r.key!);
  const gossip =
    opts.recipients.length > 1
      ? await Promise.all(opts.recipients.map(async (r) => field('Autocrypt-Gossip', gossipHeaderValue(r.address, await minimalPublicKey(r.key!, r.address)))))
      : [];
  const payload = joinEntity([...markProtected(contentFields(fields), 'cipher'), ...messageFields, ...hpOuter, ...gossip], body);
  const armored = await encrypt({
    message: await createMessage({ binary: canonicalCrlf(payload) }),
    encryptionKeys: [...recipients, opts.sender.key.toPublic()],
    signingKeys: opts.sender.key,
    format: 'armored',
    config: PGP_CONFIG,
  });
  const mime = encryptedBody(armored);
  return joinEntity([...outer, ...extra, field('Content-Type', mime.contentType)], mime.body);
}

async function signedOnly(opts: OutgoingOptions, fields: RawField[], messageFields: RawField[], body: Buffer, extra: RawField[]): Promise<Buffer> {
  const entity = canonicalCrlf(joinEntity([...markProtected(contentFields(fields), 'clear'), ...messageFields], body));
  const signature = await sign({
    message: await createMessage({ binary: entity }),
    signingKeys: opts.sender.key,
    detached: true,
    format: 'armored',
    config: PGP_CONFIG,
  });
  const mime = signedBody(entity, signature, 'pgp-sha256');
  return joinEntity([...messageFields, ...extra, field('Content-Type', mime.contentType)], mime.body);
}
