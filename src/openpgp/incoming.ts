/**
 * The incoming transform: a message as the provider delivered it becomes what the user's mail
 * client is shown — decrypted, with protected headers restored, and labelled honestly in two
 * header fields that only Waxseal writes:
 *
 *   X-Waxseal-Encryption: encrypted | none | failed; reason="..."
 *   X-Waxseal-Signature:  valid; signer=FPR | invalid; signer=FPR | unknown-key; keyid=ID | none
 *
 * Rules that keep the labels honest:
 * - Any X-Waxseal-* field a sender wrote (outside or inside the encryption) is removed first.
 * - Only a message that is encrypted as a whole is decrypted: PGP/MIME at the root, or a
 *   single text body that is one armored block. An encrypted part among plaintext parts is
 *   left encrypted and the message labelled "none" — showing it decrypted inside an
 *   attacker's plaintext is the EFAIL direct-exfiltration attack.
 * - Likewise a signature counts only when it covers the whole message (root multipart/signed,
 *   cleartext-signed root text, or signed-and-encrypted); a signed part wrapped in unsigned
 *   content is "none" with a note.
 * - Signed mail is not rewritten: the labels are added above the original header, which the
 *   signature does not cover, so it stays verifiable later.
 * - A message we cannot decrypt is kept as received, labelled "failed" with the reason.
 */
import {
  decrypt,
  readCleartextMessage,
  readKeys,
  readMessage,
  readSignature,
  createMessage,
  verify,
  type PrivateKey,
  type PublicKey,
} from 'openpgp';
import { errorMessage } from '../util/errors.js';

type VerificationResult = Awaited<ReturnType<typeof verify>>['signatures'][number];
import { decodeBody } from '../mime/decode.js';
import { parseContentType } from '../mime/header.js';
import { canonicalCrlf, field, isContentField, joinEntity, splitEntity, type RawField } from '../mime/pgpmime.js';
import { parseMime, type MimeNode } from '../mime/tree.js';
import { parseAddressList } from '../mime/address.js';
import { parseAutocryptHeader, type AutocryptHeader } from './autocrypt.js';
import { MAX_KEY_BYTES, PGP_CONFIG } from './config.js';

export type EncryptionStatus = 'encrypted' | 'none' | 'failed';
export type SignatureStatus = 'valid' | 'invalid' | 'unknown-key' | 'none';

export interface SignatureResult {
  status: SignatureStatus;
  /** The signing key's fingerprint when it is known. */
  fingerprint?: string;
  keyId?: string;
  note?: string;
}

export interface Learned {
  /** The Autocrypt header of the message, when its addr matches From. */
  autocrypt: AutocryptHeader | null;
  /** Autocrypt-Gossip headers found inside the encryption. */
  gossip: AutocryptHeader[];
  /** Key blocks attached as application/pgp-keys. */
  attachedKeys: Buffer[];
}

export interface IncomingResult {
  raw: Buffer;
  encryption: EncryptionStatus;
  /** Why decryption failed, or a note on an encrypted part left alone. */
  reason?: string;
  signature: SignatureResult;
  from?: string;
  /** The message's Date, ms since the epoch (Autocrypt bookkeeping). */
  date?: number;
  learned: Learned;
}

export interface IncomingOptions {
  raw: Buffer;
  decryptionKeys: PrivateKey[];
  /** Public keys that may have signed a message from `from` (the keyring's lookup). */
  verificationKeys: (from: string | undefined) => Promise<PublicKey[]>;
  now?: Date;
  /** Largest plaintext inflated from a compressed message (default MAX_DECOMPRESSED). */
  maxDecompressedBytes?: number;
}

const WAXSEAL_FIELD = /^x-waxseal-/;
/** Trace fields stay from the outer header even when protected headers replace the rest. */
const TRACE = new Set(['received', 'return-path', 'delivered-to', 'x-original-to', 'authentication-results', 'arc-seal', 'arc-message-signature', 'arc-authentication-results', 'dkim-signature']);

function fromAddress(fields: RawField[]): string | undefined {
  const f = fields.find((x) => x.key === 'from');
  const list = f ? parseAddressList(f.value) : null;
  const a = list?.find((x) => x.mailbox && x.host);
  return a ? `${a.mailbox}@${a.host}`.toLowerCase() : undefined;
}

function dateOf(fields: RawField[]): number | undefined {
  const f = fields.find((x) => x.key === 'date');
  const t = f ? Date.parse(f.value) : NaN;
  return Number.isNaN(t) ? undefined : t;
}

function autocryptOf(fields: RawField[], from: string | undefined): AutocryptHeader | null {
  const headers = fields.filter((f) => f.key === 'autocrypt');
  // Level 1: more than one Autocrypt header for the sender means none is used.
  const valid = headers.map((h) => parseAutocryptHeader(h.value)).filter((h): h is AutocryptHeader => h !== null && h.addr === from);
  return valid.length === 1 ? valid[0]! : null;
}

function label(encryption: EncryptionStatus, reason: string | undefined, sig: SignatureResult): RawField[] {
  const quote = (s: string) => `"${s.replace(/[\r\n]+/g, ' ').replace(/["\\]/g, '').slice(0, 200)}"`;
  const enc = encryption === 'failed' || reason ? `${encryption}; reason=${quote(reason ?? '')}` : encryption;
  let s: string = sig.status;
  if (sig.fingerprint) s += `; signer=${sig.fingerprint}`;
  else if (sig.keyId) s += `; keyid=${sig.keyId}`;
  if (sig.note) s += `; note=${quote(sig.note)}`;
  return [field('X-Waxseal-Encryption', enc), field('X-Waxseal-Signature', s)];
}

function isArmoredMessage(text: string): boolean {
  return /^\s*-----BEGIN PGP MESSAGE-----\r?\n[\s\S]*-----END PGP MESSAGE-----\s*$/.test(text);
}

function containsArmor(buf: Buffer, what: 'MESSAGE' | 'SIGNED MESSAGE'): boolean {
  return buf.includes(`-----BEGIN PGP ${what}-----`);
}

/**
 * Whether any entity in the tree is encrypted (a multipart/encrypted or an armored message)
 * and whether any is signed (a multipart/signed or a cleartext-signed text): one walk, each
 * leaf body decoded once.
 */
function findProtected(raw: Buffer, node: MimeNode, found = { encrypted: false, signed: false }): { encrypted: boolean; signed: boolean } {
  const ct = node.contentType;
  if (ct.type === 'multipart' && ct.subtype === 'encrypted') found.encrypted = true;
  else if (ct.type === 'multipart' && ct.subtype === 'signed') found.signed = true;
  if (node.children.length === 0 && !node.message) {
    if (found.encrypted && found.signed) return found;
    const body = decodeBody(raw.subarray(node.bodyStart, node.end), node.encoding);
    found.encrypted ||= containsArmor(body, 'MESSAGE');
    found.signed ||= containsArmor(body, 'SIGNED MESSAGE');
  }
  for (const c of node.children) {
    if (found.encrypted && found.signed) break;
    findProtected(raw, c, found);
  }
  return found;
}

function attachedKeys(raw: Buffer, node: MimeNode, out: Buffer[] = []): Buffer[] {
  if (node.contentType.type === 'application' && node.contentType.subtype === 'pgp-keys' && node.end - node.bodyStart <= MAX_KEY_BYTES * 2) {
    out.push(decodeBody(raw.subarray(node.bodyStart, node.end), node.encoding));
  }
  for (const c of node.children) attachedKeys(raw, c, out);
  return out;
}

async function signatureOf(results: VerificationResult[], keys: PublicKey[]): Promise<SignatureResult> {
  if (results.length === 0) return { status: 'none' };
  // Several signatures: the first valid one speaks for the message.
  let first: SignatureResult | undefined;
  for (const r of results) {
    const keyId = r.keyID.toHex().toUpperCase();
    const key = keys.find((k) => k.getKeys(r.keyID).length > 0);
    let res: SignatureResult;
    if (!key) res = { status: 'unknown-key', keyId };
    else {
      const fingerprint = key.getFingerprint().toUpperCase();
      try {
        await r.verified;
        res = { status: 'valid', fingerprint };
      } catch (err) {
        res = { status: 'invalid', fingerprint, note: errorMessage(err) };
      }
    }
    if (res.status === 'valid') return res;
    first ??= res;
  }
  return first!;
}

export async function transformIncoming(opts: IncomingOptions): Promise<IncomingResult> {
  const split = splitEntity(opts.raw);
  const fields = split.fields.filter((f) => !WAXSEAL_FIELD.test(f.key));
  const clean = joinEntity(fields, split.body);
  const from = fromAddress(fields);
  const date = dateOf(fields);
  const autocrypt = autocryptOf(fields, from);
  const tree = parseMime(clean);
  const learned: Learned = { autocrypt, gossip: [], attachedKeys: [] };
  const base = { from, ...(date !== undefined ? { date } : {}), learned };
  // The message's own Autocrypt key may have signed it (a first message from someone new).
  const keysFor = async (): Promise<PublicKey[]> => {
    const known = await opts.verificationKeys(from);
    if (!autocrypt) return known;
    const own = await readKeys({ binaryKeys: autocrypt.keydata, config: PGP_CONFIG }).catch(() => []);
    return [...known, ...own.slice(0, 1).map((k) => k.toPublic())];
  };
  const labelled = (encryption: EncryptionStatus, sig: SignatureResult, reason?: string): IncomingResult => ({
    raw: joinEntity([...label(encryption, reason, sig), ...fields], split.body),
    encryption,
    ...(reason ? { reason } : {}),
    signature: sig,
    ...base,
  });
  const ct = tree.contentType;

  // PGP/MIME encrypted, or one armored text body: decrypt.
  const pgpMime = ct.type === 'multipart' && ct.subtype === 'encrypted' && tree.children.length >= 2;
  const rootBody = tree.children.length === 0 && ct.type === 'text' ? decodeBody(clean.subarray(tree.bodyStart, tree.end), tree.encoding) : undefined;
  if (pgpMime || (rootBody && isArmoredMessage(rootBody.toString('latin1')))) {
    const armored = pgpMime ? clean.subarray(tree.children[1]!.bodyStart, tree.children[1]!.end) : rootBody!;
    let data: Uint8Array;
    let sig: SignatureResult;
    try {
      const message = containsArmor(armored, 'MESSAGE')
        ? await readMessage({ armoredMessage: armored.toString('latin1'), config: PGP_CONFIG })
        : await readMessage({ binaryMessage: new Uint8Array(armored), config: PGP_CONFIG });
      const keys = await keysFor();
      const config = opts.maxDecompressedBytes ? { ...PGP_CONFIG, maxDecompressedMessageSize: opts.maxDecompressedBytes } : PGP_CONFIG;
      const res = await decrypt({ message, decryptionKeys: opts.decryptionKeys, verificationKeys: keys, format: 'binary', config, ...(opts.now ? { date: opts.now } : {}) });
      data = res.data as Uint8Array;
      sig = await signatureOf(res.signatures, keys);
    } catch (err) {
      return labelled('failed', { status: 'none' }, failureReason(err));
    }
    return decrypted(fields, Buffer.from(data), pgpMime, sig, base, keysFor);
  }

  learned.attachedKeys = attachedKeys(clean, tree);

  // Signed as a whole: verify without changing a byte.
  if (ct.type === 'multipart' && ct.subtype === 'signed' && tree.children.length >= 2) {
    return labelled('none', await verifyMultipartSigned(clean, tree, await keysFor()));
  }
  if (rootBody && containsArmor(rootBody, 'SIGNED MESSAGE')) {
    return labelled('none', await verifyCleartext(rootBody, await keysFor()));
  }

  // Anything else: say what was not done and why.
  const notes: string[] = [];
  const found = findProtected(clean, tree);
  if (found.encrypted) notes.push('an encrypted part sits among unencrypted parts; it was not decrypted');
  const sig: SignatureResult = found.signed ? { status: 'none', note: 'only part of this message is signed' } : { status: 'none' };
  return labelled('none', sig, notes[0]);
}

function failureReason(err: unknown): string {
  const m = errorMessage(err);
  if (/decompress|too large|size/i.test(m)) return 'the decompressed message is larger than allowed';
  if (/Session key decryption failed|No decryption key|decryption key/i.test(m)) return 'no secret key for this message';
  if (/Misformed armored text|armor|Unknown ASCII armor/i.test(m)) return 'the encrypted data is not valid OpenPGP armor';
  if (/Modification detected|integrity|authentication tag|MDC/i.test(m)) return 'the encrypted data was modified or damaged';
  return `could not decrypt: ${m}`;
}

async function decrypted(
  outerFields: RawField[],
  data: Buffer,
  pgpMime: boolean,
  sig: SignatureResult,
  base: Omit<IncomingResult, 'raw' | 'encryption' | 'signature'>,
  keysFor: () => Promise<PublicKey[]>,
): Promise<IncomingResult> {
  const finish = (fields: RawField[], body: Buffer, signature: SignatureResult): IncomingResult => ({
    raw: joinEntity([...label('encrypted', undefined, signature), ...fields], body),
    encryption: 'encrypted',
    signature,
    ...base,
  });
  const outerMessage = outerFields.filter((f) => !isContentField(f.key) && f.key !== 'mime-version');
  if (!pgpMime) {
    // Inline PGP: the plaintext is the text itself.
    const text = Buffer.from(data.toString('utf8').replace(/\r?\n/g, '\r\n'), 'utf8');
    const ascii = !/[^\x00-\x7f]/.test(text.toString('latin1'));
    return finish(
      [...outerMessage, field('MIME-Version', '1.0'), field('Content-Type', `text/plain; charset=${ascii ? 'us-ascii' : 'utf-8'}`), field('Content-Transfer-Encoding', ascii ? '7bit' : '8bit')],
      text,
      sig,
    );
  }
  const inner = splitEntity(data);
  const innerFields = inner.fields.filter((f) => !WAXSEAL_FIELD.test(f.key));
  const innerTree = parseMime(joinEntity(innerFields, inner.body));
  const innerCt = innerTree.contentType;
  // Signed, then encrypted as a separate layer (older Enigmail style).
  if (sig.status === 'none' && innerCt.type === 'multipart' && innerCt.subtype === 'signed') {
    sig = await verifyMultipartSigned(joinEntity(innerFields, inner.body), innerTree, await keysFor());
  }
  const ctField = innerFields.find((f) => f.key === 'content-type');
  const params = parseContentType(ctField?.value).params;
  const protectedHeaders = params.hp === 'cipher' || params.hp === 'clear' || params['protected-headers'] === 'v1';
  for (const g of innerFields.filter((f) => f.key === 'autocrypt-gossip')) {
    const h = parseAutocryptHeader(g.value);
    if (h) base.learned.gossip.push(h);
  }
  base.learned.attachedKeys = attachedKeys(joinEntity(innerFields, inner.body), innerTree);
  const shown = innerFields.filter((f) => f.key !== 'hp-outer' && f.key !== 'autocrypt-gossip');
  let fields: RawField[];
  if (protectedHeaders && shown.some((f) => !isContentField(f.key))) {
    // RFC 9788 §4.3: with protected headers the outer ones are ignored, trace fields aside.
    const content = shown.filter((f) => isContentField(f.key));
    const message = shown.filter((f) => !isContentField(f.key) && f.key !== 'mime-version');
    fields = [...outerMessage.filter((f) => TRACE.has(f.key)), ...message, field('MIME-Version', '1.0'), ...content];
  } else {
    fields = [...outerMessage, field('MIME-Version', '1.0'), ...shown.filter((f) => isContentField(f.key))];
  }
  return finish(fields, inner.body, sig);
}

/** RFC 3156 §5: the signature covers the first part exactly, header included, up to the CRLF before the boundary. */
async function verifyMultipartSigned(raw: Buffer, node: MimeNode, keys: PublicKey[]): Promise<SignatureResult> {
  const signed = node.children[0]!;
  const sigPart = node.children[1]!;
  try {
    const signature = await readSignature({ armoredSignature: decodeBody(raw.subarray(sigPart.bodyStart, sigPart.end), sigPart.encoding).toString('latin1'), config: PGP_CONFIG });
    // Over the canonical CRLF form (RFC 3156 §5): a store that keeps LF line ends (Maildir)
    // must not turn a good signature bad.
    const signedBytes = canonicalCrlf(raw.subarray(signed.start, signed.end));
    const res = await verify({ message: await createMessage({ binary: signedBytes }), signature, verificationKeys: keys, format: 'binary', config: PGP_CONFIG });
    return await signatureOf(res.signatures, keys);
  } catch (err) {
    return { status: 'invalid', note: `unreadable signature: ${errorMessage(err)}` };
  }
}

async function verifyCleartext(body: Buffer, keys: PublicKey[]): Promise<SignatureResult> {
  try {
    const text = body.toString('utf8');
    const start = text.indexOf('-----BEGIN PGP SIGNED MESSAGE-----');
    if (text.slice(0, start).trim() !== '' || !/-----END PGP SIGNATURE-----\s*$/.test(text)) {
      return { status: 'none', note: 'only part of this message is signed' };
    }
    const message = await readCleartextMessage({ cleartextMessage: text.slice(start), config: PGP_CONFIG });
    const res = await verify({ message, verificationKeys: keys, config: PGP_CONFIG });
    return await signatureOf(res.signatures, keys);
  } catch (err) {
    return { status: 'invalid', note: `unreadable signature: ${errorMessage(err)}` };
  }
}
