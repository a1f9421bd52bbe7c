/**
 * Immutable content: messages split into a skeleton and content-addressed parts.
 *
 * The skeleton is the raw message with the large leaf bodies cut out: every header,
 * boundary line, preamble and epilogue stays in it, byte for byte. Each cut body is stored
 * as it arrived (still transfer-encoded) in `part` documents of at most `chunkSize` bytes,
 * keyed by a keyed hash of their bytes, so an attachment received twice is stored once.
 * Bodies under `inlineMax` stay in the skeleton: a part document costs a write and a read,
 * and small bodies are rarely shared. Reassembly is concatenation, so it is exact for any
 * input the MIME parser accepts, including malformed MIME.
 */
import { createHash } from 'node:crypto';
import { WaxsealError } from '../util/errors.js';
import { parseMime, leaves, toStored, type MimeNode } from '../mime/tree.js';
import { computeBodyStructure, computeEnvelope } from '../mime/structure.js';
import type { BodyStructure, Envelope } from '../model/message.js';
import type { MessageMeta, Segment } from './kinds.js';
import type { Sealer, SealedDoc } from './seal.js';
import type { PouchDb } from './pouch.js';
import type { Bodies } from './bodies.js';

export interface ContentOptions {
  /** Leaf bodies at least this long go to part documents. */
  inlineMax: number;
  /** Part documents hold at most this many bytes. */
  chunkSize: number;
  /**
   * Bytes of opened message documents to keep in memory (skeletons, plus an allowance for
   * each one's MIME tree). A count alone let 2,000 skeletons of up to a chunk each pile up.
   */
  cacheBytes: number;
  /** Compute cached IMAP structures for a message (injected so store need not know IMAP). */
  describe?: (raw: Buffer, root: MimeNode) => { envelope: unknown; body: unknown };
}

/** ENVELOPE and BODYSTRUCTURE, computed once at import so FETCH never re-parses a message. */
export function describeForImap(raw: Buffer, root: MimeNode): { envelope: Envelope; body: BodyStructure } {
  return { envelope: computeEnvelope(raw, root), body: computeBodyStructure(raw, root) };
}

/** Message keys has() remembers as stored: ~100 bytes each, so at most ~20 MB. */
const PRESENT_LIMIT = 200_000;

export const DEFAULT_CONTENT_OPTIONS: ContentOptions = {
  inlineMax: 8 * 1024,
  chunkSize: 256 * 1024,
  cacheBytes: 8 * 1024 * 1024,
  describe: describeForImap,
};

export interface SplitMessage {
  key: string;
  meta: MessageMeta;
  skeleton: Buffer;
  parts: Array<{ logical: string; bytes: Buffer }>;
}

export function splitMessage(raw: Buffer, sealer: Sealer, opts: ContentOptions): SplitMessage {
  const root = parseMime(raw);
  const skeletonPieces: Buffer[] = [];
  const seg: Segment[] = [];
  const parts: Array<{ logical: string; bytes: Buffer }> = [];
  let cursor = 0;
  let skelLen = 0;
  const chunked = (from: number, to: number) => {
    const chunks: Array<[string, number]> = [];
    for (let at = from; at < to; at += opts.chunkSize) {
      const bytes = raw.subarray(at, Math.min(at + opts.chunkSize, to));
      const logical = sealer.contentKey(bytes);
      parts.push({ logical, bytes });
      chunks.push([logical, bytes.length]);
    }
    seg.push([from, to - from, chunks]);
  };
  // Stretches of skeleton longer than a chunk (a 50 MB header, a huge preamble) are chunked
  // like bodies, so no document outgrows what a CouchDB server accepts (8 MB by default).
  const keep = (from: number, to: number) => {
    if (to <= from) return;
    if (to - from >= opts.chunkSize) return chunked(from, to);
    seg.push([from, to - from, skelLen]);
    skeletonPieces.push(raw.subarray(from, to));
    skelLen += to - from;
  };
  for (const leaf of leaves(root)) {
    if (leaf.end - leaf.bodyStart < opts.inlineMax) continue;
    keep(cursor, leaf.bodyStart);
    chunked(leaf.bodyStart, leaf.end);
    cursor = leaf.end;
  }
  keep(cursor, raw.length);
  const meta: MessageMeta = { size: raw.length, tree: toStored(root), seg };
  if (opts.describe) Object.assign(meta, opts.describe(raw, root));
  return { key: sealer.contentKey(raw), meta, skeleton: Buffer.concat(skeletonPieces, skelLen), parts };
}

export interface StoredMessage {
  key: string;
  meta: MessageMeta;
  skeleton: Buffer;
}

export class ContentRepo {
  readonly #db: PouchDb;
  readonly #sealer: Sealer;
  readonly #opts: ContentOptions;
  readonly #bodies: Bodies | undefined;
  readonly #cache = new Map<string, StoredMessage>();
  /** Message keys known to be stored (see has()). */
  readonly #present = new Set<string>();
  #cachedBytes = 0;

  constructor(db: PouchDb, sealer: Sealer, opts: ContentOptions, bodies?: Bodies) {
    this.#db = db;
    this.#sealer = sealer;
    this.#opts = opts;
    this.#bodies = bodies;
  }

  /** The storage id of a message, for diagnostics and tests; says nothing without the key. */
  messageDocId(key: string): string {
    return this.#sealer.docId('message', key);
  }

  split(raw: Buffer): SplitMessage {
    return splitMessage(raw, this.#sealer, this.#opts);
  }

  /** Sealed documents for split messages; parts shared between messages appear once. */
  seal(messages: SplitMessage[]): SealedDoc[] {
    const docs = new Map<string, SealedDoc>();
    for (const m of messages) {
      for (const p of m.parts) {
        const id = this.#sealer.docId('part', p.logical);
        if (!docs.has(id)) docs.set(id, this.#sealer.seal({ kind: 'part', logical: p.logical, blob: p.bytes }));
      }
      const id = this.#sealer.docId('message', m.key);
      if (!docs.has(id)) docs.set(id, this.#sealer.seal({ kind: 'message', logical: m.key, meta: m.meta, blob: m.skeleton }));
    }
    return [...docs.values()];
  }

  /**
   * Write sealed content with a revision derived from the id (`new_edits: false`). Ids are
   * keyed content hashes, so one id always holds the same plaintext: a second write of it, or
   * the same message sealed on another device (other IV, same bytes inside), is the same
   * revision, never a conflict. It also skips PouchDB's revision bookkeeping (~30% faster).
   */
  async write(docs: SealedDoc[]): Promise<void> {
    if (docs.length === 0) return;
    const results = await this.#db.bulkDocs(
      docs.map((d) => ({ ...d, _rev: immutableRev(d._id) })),
      { new_edits: false },
    );
    for (const r of results) {
      if (r.error) throw new WaxsealError('ESTORE', `Could not write message content: ${String(r.message ?? r.error)}`);
    }
  }

  /**
   * Which of these messages are stored. Asked as revsDiff (a message document has exactly
   * one, known revision): that reads one LevelDB key a document, where `allDocs({keys})`
   * opens a LevelDB iterator per key. Messages are never deleted, so one seen once is
   * remembered (up to PRESENT_LIMIT): the index asks for every entry a first sync brings,
   * most of them twice (on arrival, and when their message arrives).
   */
  async has(keys: string[]): Promise<Set<string>> {
    const present = new Set(keys.filter((k) => this.#present.has(k)));
    const unknown = keys.filter((k) => !present.has(k));
    if (unknown.length === 0) return present;
    const ids = unknown.map((k) => this.#sealer.docId('message', k));
    const missing = await this.#db.revsDiff(Object.fromEntries(ids.map((id) => [id, [immutableRev(id)]])));
    const found = unknown.filter((_, i) => !(ids[i]! in missing));
    this.arrived(found);
    for (const k of found) present.add(k);
    return present;
  }

  /** Messages now stored (the sync door tells of those it wrote), so has() need not read. */
  arrived(keys: string[]): void {
    if (this.#present.size + keys.length > PRESENT_LIMIT) this.#present.clear();
    for (const k of keys) this.#present.add(k);
  }

  /**
   * Load many message documents with one read (a FETCH over a range), into the cache.
   * Damaged or missing ones are left for message() to report one by one. With `whole`, the
   * caller will read these messages whole only: those in the bodies file need no document.
   */
  async prefetch(keys: string[], opts: { whole?: boolean } = {}): Promise<void> {
    const missing = [...new Set(keys)].filter((k) => !this.#cache.has(k) && !(opts.whole && this.#bodies?.has(k)));
    if (missing.length === 0) return;
    const docs = await this.#getMany(missing.map((k) => this.#sealer.docId('message', k)));
    docs.forEach((doc, i) => {
      if (!doc) return;
      try {
        const open = this.#sealer.open<MessageMeta>(doc, 'message');
        this.#remember({ key: missing[i]!, meta: open.meta, skeleton: open.blob });
      } catch {
        // left for message() to report
      }
    });
  }

  #remember(stored: StoredMessage): void {
    if (this.#cache.has(stored.key)) return;
    this.#cache.set(stored.key, stored);
    this.#cachedBytes += cost(stored);
    while (this.#cachedBytes > this.#opts.cacheBytes && this.#cache.size > 1) {
      const [key, oldest] = this.#cache.entries().next().value!;
      this.#cache.delete(key);
      this.#cachedBytes -= cost(oldest);
    }
  }

  async message(key: string): Promise<StoredMessage> {
    const cached = this.#cache.get(key);
    if (cached) {
      this.#cache.delete(key);
      this.#cache.set(key, cached);
      return cached;
    }
    const id = this.#sealer.docId('message', key);
    let doc: SealedDoc;
    try {
      doc = (await this.#db.get(id)) as unknown as SealedDoc;
    } catch (err) {
      throw missingOr(err, `message ${id}`);
    }
    const open = this.#sealer.open<MessageMeta>(doc, 'message');
    const stored = { key, meta: open.meta, skeleton: open.blob };
    this.#remember(stored);
    return stored;
  }

  /**
   * Bytes [start, end) of the raw message: from the bodies file when it holds the message,
   * else reading only the part documents that overlap (and a message read whole from them
   * is added to the bodies file).
   */
  async read(key: string, start = 0, end?: number): Promise<Buffer> {
    const whole = this.#bodies?.get(key);
    if (whole) return whole.subarray(Math.min(start, whole.length), Math.min(end ?? whole.length, whole.length));
    const msg = await this.message(key);
    const stop = Math.min(end ?? msg.meta.size, msg.meta.size);
    if (start >= stop) return Buffer.alloc(0);
    if (start === 0 && stop === msg.meta.size && this.#bodies) {
      const raw = await this.#assemble(msg, start, stop);
      void this.#bodies.add([[key, raw]]);
      return raw;
    }
    return this.#assemble(msg, start, stop);
  }

  async #assemble(msg: StoredMessage, start: number, stop: number): Promise<Buffer> {
    const wanted: string[] = [];
    type Piece = Buffer | { chunk: string; from: number; to: number };
    const pieces: Piece[] = [];
    for (const [off, len, ref] of msg.meta.seg) {
      const a = Math.max(start, off);
      const b = Math.min(stop, off + len);
      if (a >= b) continue;
      if (typeof ref === 'number') {
        pieces.push(msg.skeleton.subarray(ref + a - off, ref + b - off));
        continue;
      }
      let chunkStart = off;
      for (const [logical, chunkLen] of ref) {
        const ca = Math.max(a, chunkStart);
        const cb = Math.min(b, chunkStart + chunkLen);
        if (ca < cb) {
          wanted.push(logical);
          pieces.push({ chunk: logical, from: ca - chunkStart, to: cb - chunkStart });
        }
        chunkStart += chunkLen;
      }
    }
    if (wanted.length === 0 && pieces.length === 1) return pieces[0] as Buffer;
    const chunks = await this.#parts(wanted);
    return Buffer.concat(pieces.map((p) => (Buffer.isBuffer(p) ? p : chunks.get(p.chunk)!.subarray(p.from, p.to))));
  }

  /**
   * Many documents by id, undefined where one is missing. Parallel get()s, not
   * allDocs({keys}): PouchDB's LevelDB adapter answers each key of allDocs with its own
   * range iterator, which made reading 1,000 messages 2-4x slower than 1,000 point reads.
   */
  async #getMany(ids: string[]): Promise<Array<SealedDoc | undefined>> {
    return Promise.all(
      ids.map((id) =>
        this.#db.get(id).then(
          (doc) => doc as unknown as SealedDoc,
          (err) => {
            if ((err as { status?: number })?.status === 404) return undefined;
            throw missingOr(err, `document ${id}`);
          },
        ),
      ),
    );
  }

  async #parts(logicals: string[]): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    const unique = [...new Set(logicals)];
    if (unique.length === 0) return out;
    const ids = unique.map((l) => this.#sealer.docId('part', l));
    const docs = await this.#getMany(ids);
    docs.forEach((doc, i) => {
      if (!doc) throw new WaxsealError('EMISSING', `Part ${ids[i]} of a message is missing from the store`);
      const open = this.#sealer.open(doc, 'part');
      if (this.#sealer.contentKey(open.blob) !== unique[i]) {
        throw new WaxsealError('ETAMPERED', `Part ${ids[i]} does not match its content key`);
      }
      out.set(unique[i]!, open.blob);
    });
    return out;
  }
}

/**
 * What a cached message holds on to: its skeleton and its decoded metadata (measured at
 * ~3 KB of heap for a typical message, more with more MIME segments).
 */
function cost(m: StoredMessage): number {
  return m.skeleton.length + 3072 + 128 * m.meta.seg.length;
}

export function immutableRev(id: string): string {
  return `1-${createHash('sha256').update(id).digest('hex').slice(0, 32)}`;
}

export function missingOr(err: unknown, what: string): WaxsealError {
  if ((err as { status?: number })?.status === 404) {
    return new WaxsealError('EMISSING', `The ${what} is not in the store`, { cause: err });
  }
  return new WaxsealError('ESTORE', `Could not read the ${what}`, { cause: err });
}
