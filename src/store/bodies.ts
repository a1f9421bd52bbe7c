/**
 * Whole raw messages, sealed, in one device-local append-only file (`store/bodies`): the
 * fast road for reading a message whole (FETCH BODY[], SEARCH TEXT). Reading one from the
 * content database takes two LevelDB reads through PouchDB, JSON and base64 for each
 * document and its parts (~150-400 µs); reading one from here is one pread from the page
 * cache and one AES-GCM open (~10 µs).
 *
 * It is a cache, never the truth: content documents stay the one record of a message.
 * Anything wrong here (a torn tail after a crash, a damaged record, the file deleted) only
 * sends reads back to the content database. Messages are added when imported on this device
 * and when first read whole from content (those that arrived by replication); messages
 * larger than `maxBytes` are not kept (their part documents are large reads anyway).
 *
 * Record layout (header in the clear, body sealed with the index key, the id bound as AAD):
 *
 *   "WXB1" ‖ id (20 bytes) ‖ u32 ctLen ‖ iv (12) ‖ AES-256-GCM(u32 rawLen ‖ raw ‖ zero padding) ‖ tag
 *
 * The id is the message key (a keyed hash) masked with a secret of this file, so the file
 * says nothing about which message a record holds; the padding is the content database's (Padmé), so sizes say as little.
 * Where each record is, is listed in `bodies.idx`, written on close: an open reads the list
 * and scans only what was appended after it (after a crash), not the whole file.
 */
import { createCipheriv, createDecipheriv, hash, randomBytes } from 'node:crypto';
import { readSync } from 'node:fs';
import { open, readFile, rename, writeFile, type FileHandle } from 'node:fs/promises';
import { padme } from './seal.js';

const MAGIC = Buffer.from('WXB1');
const ID = 20;
const IV = 12;
const TAG = 16;
const HEAD = MAGIC.length + ID + IV + 4;
/** Bytes read at a time when scanning record headers. */
const SCAN_CHUNK = 1 << 20;
/** The list of records (`bodies.idx`): "WXI1" ‖ u64 bytes covered ‖ (id ‖ u64 at ‖ u32 len)*. */
const IDX_MAGIC = Buffer.from('WXI1');
const IDX_ROW = ID + 8 + 4;
/** A scan past the list longer than this writes the list again at once. */
const REWRITE_IDX_AFTER = 16 << 20;

export interface BodiesOptions {
  /** The file's path. */
  path: string;
  /** 32-byte key that seals records (the index key: device-local data). */
  key: Buffer;
  /** Messages larger than this are not kept. */
  maxBytes: number;
}

export class Bodies {
  readonly #opts: BodiesOptions;
  readonly #mask: Buffer;
  /** id (hex) → where its record's ciphertext is. */
  readonly #where = new Map<string, { at: number; len: number }>();
  #file: FileHandle | undefined;
  #end = 0;
  #loading: Promise<void> | undefined;
  #loaded = false;
  #appending: Promise<void> = Promise.resolve();
  #scratch = Buffer.allocUnsafeSlow(64 * 1024);
  #closed = false;

  constructor(opts: BodiesOptions) {
    this.#opts = opts;
    this.#mask = hash('sha256', Buffer.concat([Buffer.from('waxseal/bodies\0'), opts.key]), 'buffer').subarray(0, ID);
  }

  /** The raw message, or undefined when it is not here: not added, too large, or damaged. */
  get(key: string): Buffer | undefined {
    if (!this.#loaded) return undefined;
    const id = this.#id(key);
    const loc = this.#where.get(id);
    const fd = this.#file?.fd;
    if (!loc || fd === undefined) return undefined;
    try {
      // Records are read into one reused buffer: only the opened message is a new allocation.
      if (this.#scratch.length < loc.len) this.#scratch = Buffer.allocUnsafeSlow(Math.max(loc.len, 2 * this.#scratch.length));
      const rec = this.#scratch.subarray(0, loc.len);
      if (readSync(fd, rec, 0, loc.len, loc.at) !== loc.len) throw new Error('short read');
      const decipher = createDecipheriv('aes-256-gcm', this.#opts.key, rec.subarray(0, IV)).setAAD(Buffer.from(id, 'hex'));
      decipher.setAuthTag(rec.subarray(loc.len - TAG));
      const plain = decipher.update(rec.subarray(IV, loc.len - TAG));
      decipher.final();
      const rawLen = plain.readUInt32BE(0);
      if (4 + rawLen > plain.length) throw new Error('bad length');
      return plain.subarray(4, 4 + rawLen);
    } catch {
      this.#where.delete(id); // damaged: read from content from now on
      return undefined;
    }
  }

  has(key: string): boolean {
    return this.#loaded && this.#where.has(this.#id(key));
  }

  /**
   * Keep these messages (in the background; one write for all). Those already here or too
   * large are skipped. Resolves when written; never rejects (a failed write keeps nothing).
   */
  add(messages: Array<[key: string, raw: Buffer]>): Promise<void> {
    const run = this.#appending.then(async () => {
      await this.ready();
      const file = this.#file;
      if (this.#closed || !file) return;
      const records: Buffer[] = [];
      const added: Array<[string, { at: number; len: number }]> = [];
      const seen = new Set<string>();
      let at = this.#end;
      for (const [key, raw] of messages) {
        if (raw.length > this.#opts.maxBytes) continue;
        const id = this.#id(key);
        if (this.#where.has(id) || seen.has(id)) continue;
        seen.add(id);
        const rec = this.#seal(id, raw);
        records.push(rec);
        added.push([id, { at: at + HEAD - IV, len: rec.length - HEAD + IV }]);
        at += rec.length;
      }
      if (records.length === 0) return;
      const buf = Buffer.concat(records);
      await file.write(buf, 0, buf.length, this.#end);
      this.#end = at;
      for (const [id, loc] of added) this.#where.set(id, loc);
    });
    this.#appending = run.catch(() => undefined);
    return this.#appending;
  }

  /** Read the list of records and scan what follows it (once); a torn or damaged tail is cut off. */
  ready(): Promise<void> {
    this.#loading ??= this.#scan();
    return this.#loading;
  }

  /**
   * Reads the file in large chunks off the event loop (a cold 50 MB file must not stall
   * the IMAP server) and keeps where each record is.
   */
  async #scan(): Promise<void> {
    if (this.#closed) return;
    try {
      await (await open(this.#opts.path, 'a', 0o600)).close(); // create; O_APPEND would ignore write positions
      this.#file = await open(this.#opts.path, 'r+');
      const size = (await this.#file.stat()).size;
      const listed = await this.#readIdx(size);
      const chunk = Buffer.allocUnsafe(SCAN_CHUNK);
      let pos = listed;
      let chunkAt = 0;
      let chunkLen = 0;
      while (pos + HEAD <= size) {
        if (pos + HEAD > chunkAt + chunkLen) {
          chunkAt = pos;
          chunkLen = (await this.#file.read(chunk, 0, Math.min(SCAN_CHUNK, size - pos), pos)).bytesRead;
          if (chunkLen < HEAD) break;
        }
        const h = chunk.subarray(pos - chunkAt, pos - chunkAt + HEAD);
        if (!h.subarray(0, MAGIC.length).equals(MAGIC)) break;
        const ctLen = h.readUInt32BE(MAGIC.length + ID);
        if (ctLen < TAG + 4 || pos + HEAD + ctLen > size) break;
        this.#where.set(h.toString('hex', MAGIC.length, MAGIC.length + ID), { at: pos + HEAD - IV, len: IV + ctLen });
        pos += HEAD + ctLen;
      }
      if (pos < size) await this.#file.truncate(pos); // a torn append or damage: keep what precedes
      this.#end = pos;
      if (pos - listed > REWRITE_IDX_AFTER) await this.#writeIdx();
    } catch {
      // unreadable or unwritable: no cache, every read goes to content
      await this.#file?.close().catch(() => undefined);
      this.#file = undefined;
      this.#where.clear();
    }
    this.#loaded = true;
  }

  /** Records listed in bodies.idx, and the bytes of the file they cover (0 when no usable list). */
  async #readIdx(size: number): Promise<number> {
    let idx: Buffer;
    try {
      idx = await readFile(`${this.#opts.path}.idx`);
    } catch {
      return 0;
    }
    if (idx.length < 12 || !idx.subarray(0, 4).equals(IDX_MAGIC) || (idx.length - 12) % IDX_ROW !== 0) return 0;
    const covered = Number(idx.readBigUInt64BE(4));
    if (covered > size) return 0; // the file lost its tail since: scan it all
    for (let at = 12; at < idx.length; at += IDX_ROW) {
      this.#where.set(idx.toString('hex', at, at + ID), { at: Number(idx.readBigUInt64BE(at + ID)), len: idx.readUInt32BE(at + ID + 8) });
    }
    return covered;
  }

  async #writeIdx(): Promise<void> {
    const idx = Buffer.allocUnsafe(12 + this.#where.size * IDX_ROW);
    IDX_MAGIC.copy(idx, 0);
    idx.writeBigUInt64BE(BigInt(this.#end), 4);
    let at = 12;
    for (const [id, loc] of this.#where) {
      idx.write(id, at, 'hex');
      idx.writeBigUInt64BE(BigInt(loc.at), at + ID);
      idx.writeUInt32BE(loc.len, at + ID + 8);
      at += IDX_ROW;
    }
    await writeFile(`${this.#opts.path}.idx.new`, idx, { mode: 0o600 });
    await rename(`${this.#opts.path}.idx.new`, `${this.#opts.path}.idx`);
  }

  /**
   * A record's id: the message key (itself a keyed hash of the message) masked with a secret
   * derived from the index key, so ids here cannot be matched with anything outside this
   * file. A hash per read cost ~7 µs, as much as the rest of the read.
   */
  #id(key: string): string {
    const k = Buffer.from(key.slice(0, ID * 2), 'hex');
    for (let i = 0; i < ID; i++) k[i]! ^= this.#mask[i]!;
    return k.toString('hex');
  }

  #seal(id: string, raw: Buffer): Buffer {
    const plainLen = padme(4 + raw.length);
    const plain = Buffer.alloc(plainLen);
    plain.writeUInt32BE(raw.length, 0);
    raw.copy(plain, 4);
    const iv = randomBytes(IV);
    const cipher = createCipheriv('aes-256-gcm', this.#opts.key, iv).setAAD(Buffer.from(id, 'hex'));
    const head = Buffer.alloc(HEAD);
    MAGIC.copy(head, 0);
    head.write(id, MAGIC.length, 'hex');
    head.writeUInt32BE(plainLen + TAG, MAGIC.length + ID);
    iv.copy(head, HEAD - IV);
    return Buffer.concat([head, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
  }

  async close(): Promise<void> {
    await this.#appending;
    await this.#loading;
    this.#closed = true;
    if (this.#file) await this.#writeIdx().catch(() => undefined);
    await this.#file?.close();
    this.#file = undefined;
  }
}
