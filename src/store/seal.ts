/**
 * The storage boundary. Above it, documents are `{kind, logical id, meta, blob}`; below it
 * (LevelDB on disk, CouchDB on the wire) they are `{_id, v, iv, ct}`:
 *
 *   _id = hex(HMAC(idKey, kind ‖ 0 ‖ logical))[0..40]     — keyed, so it says nothing
 *   ct  = AES-256-GCM(sealKey, iv, plaintext, aad = "waxseal/v1" ‖ 0 ‖ _id) ‖ tag
 *   plaintext = u32 metaLen ‖ u32 blobLen ‖ meta JSON ‖ blob ‖ zero padding (Padmé)
 *
 * Binding `_id` as associated data stops a server from moving ciphertext between ids; the
 * kind and logical id travel inside and are re-derived on open, so a document also proves it
 * is the kind its reader asked for. Binary content rides in `blob` so bytes are base64-encoded
 * once (in `ct`), not twice.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { WaxsealError } from '../util/errors.js';

export const SEAL_VERSION = 1;

/** A type alias, not an interface, so it fits PouchDB's open-ended document type. */
export type SealedDoc = {
  _id: string;
  _rev?: string;
  _deleted?: boolean;
  v: number;
  iv: string;
  ct: string;
};

export interface OpenDoc<M = Record<string, unknown>> {
  kind: string;
  logical: string;
  meta: M;
  blob: Buffer;
}

const ID_HEX = 40;
const EMPTY = Buffer.alloc(0);
const TAG = 16;
const HEAD = 8;

/**
 * Padmé (Nikitin et al., PURBs, 2019): round a length up so that only O(log log L) bits of it
 * remain, costing at most ~12% (less for large lengths); never below 256 bytes.
 */
export function padme(length: number): number {
  const L = Math.max(length, 256);
  const E = Math.floor(Math.log2(L));
  const S = Math.floor(Math.log2(E)) + 1;
  const lastBits = E - S;
  const mask = 2 ** lastBits - 1;
  return Math.floor((L + mask) / 2 ** lastBits) * 2 ** lastBits;
}

export class Sealer {
  readonly #sealKey: Buffer;
  readonly #idKey: Buffer;
  readonly #label: string;

  /** `label` names what this sealer protects in error messages ("document", "index entry"). */
  constructor(opts: { sealKey: Buffer; idKey: Buffer; label?: string }) {
    this.#sealKey = opts.sealKey;
    this.#idKey = opts.idKey;
    this.#label = opts.label ?? 'document';
  }

  docId(kind: string, logical: string): string {
    return createHmac('sha256', this.#idKey).update(kind).update('\0').update(logical).digest('hex').slice(0, ID_HEX);
  }

  /** A keyed content hash: equal bytes give equal keys, but only for holders of the id key. */
  contentKey(bytes: Buffer | Buffer[]): string {
    const h = createHmac('sha256', this.#idKey).update('content\0');
    for (const b of Array.isArray(bytes) ? bytes : [bytes]) h.update(b);
    return h.digest('hex');
  }

  /**
   * `id` may be given when the caller already holds it (the index keeps every entry's id):
   * it must be docId(kind, logical), and saves the HMAC, a fifth of sealing a small document.
   */
  seal(doc: { kind: string; logical: string; meta?: object; blob?: Buffer }, id?: string): SealedDoc {
    const _id = id ?? this.docId(doc.kind, doc.logical);
    const meta = JSON.stringify({ ...doc.meta, k: doc.kind, l: doc.logical });
    const metaLen = Buffer.byteLength(meta, 'utf8');
    const blob = doc.blob ?? EMPTY;
    const used = HEAD + metaLen + blob.length;
    const size = padme(used);
    // One buffer, written in place; only the padding needs zeroing.
    const plain = Buffer.allocUnsafe(size);
    plain.writeUInt32BE(metaLen, 0);
    plain.writeUInt32BE(blob.length, 4);
    plain.write(meta, HEAD, 'utf8');
    blob.copy(plain, HEAD + metaLen);
    plain.fill(0, used);
    const iv = freshIv();
    const cipher = createCipheriv('aes-256-gcm', this.#sealKey, iv).setAAD(aad(_id));
    const ct = cipher.update(plain);
    cipher.final();
    return { _id, v: SEAL_VERSION, iv: iv.toString('base64'), ct: Buffer.concat([ct, cipher.getAuthTag()], ct.length + TAG).toString('base64') };
  }

  /**
   * Open a sealed document; `expectKind` refuses a valid document of another kind. Every
   * failure is an ETAMPERED WaxsealError naming the id, never a crash or garbage.
   */
  open<M = Record<string, unknown>>(doc: SealedDoc, expectKind?: string): OpenDoc<M> {
    const fail = (why: string, cause?: unknown): never => {
      throw new WaxsealError('ETAMPERED', `Sealed ${this.#label} ${String(doc?._id)} is damaged or was tampered with (${why})`, {
        cause,
      });
    };
    if (!doc || typeof doc.ct !== 'string' || typeof doc.iv !== 'string') fail('not a sealed document');
    if (doc.v !== SEAL_VERSION) fail(`unknown seal version ${String(doc.v)}`);
    const ct = Buffer.from(doc.ct, 'base64');
    const iv = Buffer.from(doc.iv, 'base64');
    if (ct.length < TAG + HEAD || iv.length !== 12) fail('too short');
    let plain: Buffer;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#sealKey, iv).setAAD(aad(doc._id));
      decipher.setAuthTag(ct.subarray(ct.length - TAG));
      // GCM's final() yields no bytes; skipping the concat saves a copy of every document read.
      plain = decipher.update(ct.subarray(0, ct.length - TAG));
      decipher.final();
    } catch (err) {
      return fail('authentication failed', err);
    }
    const metaLen = plain.readUInt32BE(0);
    const blobLen = plain.readUInt32BE(4);
    if (HEAD + metaLen + blobLen > plain.length) fail('bad lengths');
    let meta: M & { k?: unknown; l?: unknown };
    try {
      meta = JSON.parse(plain.toString('utf8', HEAD, HEAD + metaLen));
    } catch (err) {
      return fail('bad metadata', err);
    }
    const { k: kind, l: logical } = meta;
    if (typeof kind !== 'string' || typeof logical !== 'string') return fail('missing kind');
    if (this.docId(kind, logical) !== doc._id) fail('id does not match contents');
    if (expectKind !== undefined && kind !== expectKind) fail(`expected a ${expectKind}, found a ${kind}`);
    delete meta.k;
    delete meta.l;
    const blob = plain.subarray(HEAD + metaLen, HEAD + metaLen + blobLen);
    return { kind, logical, meta: meta as M, blob };
  }
}

/**
 * IVs come from a pool refilled 4 KiB at a time: one randomBytes call per document cost more
 * than the AES work for small documents. Each IV is still 96 fresh random bits, used once.
 */
let ivPool = Buffer.alloc(0);
function freshIv(): Buffer {
  if (ivPool.length < 12) ivPool = randomBytes(4096);
  const iv = Buffer.from(ivPool.subarray(0, 12));
  ivPool = ivPool.subarray(12);
  return iv;
}

function aad(id: string): Buffer {
  return Buffer.from(`waxseal/v${SEAL_VERSION}\0${id}`, 'utf8');
}
