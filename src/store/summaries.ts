/**
 * Message summaries: small values derived from a message document (the IMAP server keeps its
 * ENVELOPE and BODYSTRUCTURE here, already encoded), so that listing a mailbox opens no
 * message. Keyed by message key: content is immutable, so a summary never goes stale, and
 * flag changes or expunges leave it alone.
 *
 * Summaries are device-local and disposable: held in memory, persisted in their own
 * database (`cache/`), sealed with the index key, never replicated. A missing or damaged
 * page only means those summaries are derived again from the message documents. They are
 * persisted in pages: additions are buffered and written together once writing pauses
 * (one APPEND at a time would otherwise cost a document each), and pages that stay small are
 * merged, so a start reads a few large documents.
 */
import { WaxsealError } from '../util/errors.js';
import type { PouchDb, PouchDocument } from './pouch.js';
import type { SealedDoc, Sealer } from './seal.js';

/** Summaries per full page; past MAX_SMALL pages under this size they are merged. */
const PAGE = 1000;
const MAX_SMALL = 16;
/** Buffered summaries are written after this quiet time, or at once past PAGE of them. */
const FLUSH_DELAY_MS = 1000;

export type Summary = string[];

export class Summaries {
  readonly #db: PouchDb;
  readonly #sealer: Sealer;
  readonly #map = new Map<string, Summary>();
  /** Pages on disk: id → revision and the keys they hold. */
  readonly #pages = new Map<string, { rev: string; keys: string[] }>();
  #pending = new Map<string, Summary>();
  #seq = 0;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(db: PouchDb, sealer: Sealer) {
    this.#db = db;
    this.#sealer = sealer;
  }

  async load(): Promise<void> {
    const res = await this.#db.allDocs({ include_docs: true });
    for (const row of res.rows) {
      if (!row.doc) continue;
      let page: { logical: string; meta: { s: Array<[string, Summary]> } };
      try {
        page = this.#sealer.open<{ s: Array<[string, Summary]> }>(row.doc as SealedDoc, 'summaries');
      } catch {
        continue; // derived data: what a damaged page held is derived again on demand
      }
      this.#seq = Math.max(this.#seq, Number(page.logical));
      this.#pages.set(row.id, { rev: row.doc._rev!, keys: page.meta.s.map(([k]) => k) });
      for (const [key, summary] of page.meta.s) this.#map.set(key, summary);
    }
  }

  get(key: string): Summary | undefined {
    return this.#map.get(key);
  }

  get size(): number {
    return this.#map.size;
  }

  /** Remember summaries at once; they reach the disk with the next batch. */
  add(entries: Iterable<[string, Summary]>): void {
    for (const [key, summary] of entries) {
      if (this.#map.has(key)) continue;
      this.#map.set(key, summary);
      this.#pending.set(key, summary);
    }
    if (this.#pending.size === 0) return;
    clearTimeout(this.#timer);
    if (this.#pending.size >= PAGE) {
      void this.flush().catch(() => undefined);
      return;
    }
    this.#timer = setTimeout(() => void this.flush().catch(() => undefined), FLUSH_DELAY_MS);
    this.#timer.unref();
  }

  /** Write buffered summaries (on close, and after a pause in additions). */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const run = this.#writing.then(() => this.#write());
    this.#writing = run.catch(() => undefined);
    return run;
  }

  async #write(): Promise<void> {
    if (this.#pending.size === 0) return;
    let rows = [...this.#pending];
    this.#pending = new Map();
    const docs: PouchDocument[] = [];
    const small = [...this.#pages].filter(([, p]) => p.keys.length < PAGE);
    if (small.length >= MAX_SMALL) {
      // Merge every small page with the new rows; the old pages go in the same write.
      for (const [id, p] of small) {
        for (const key of p.keys) rows.push([key, this.#map.get(key)!]);
        docs.push({ _id: id, _rev: p.rev, _deleted: true });
        this.#pages.delete(id);
      }
      rows = [...new Map(rows)];
    }
    const written: Array<{ id: string; keys: string[] }> = [];
    for (let i = 0; i < rows.length; i += PAGE) {
      const chunk = rows.slice(i, i + PAGE);
      const sealed = this.#sealer.seal({ kind: 'summaries', logical: String(++this.#seq).padStart(12, '0'), meta: { s: chunk } });
      docs.push(sealed);
      written.push({ id: sealed._id, keys: chunk.map(([k]) => k) });
    }
    const results = await this.#db.bulkDocs(docs);
    for (const [i, r] of results.entries()) {
      if (r.error) throw new WaxsealError('ESTORE', `Could not write message summaries: ${String(r.message ?? r.error)}`);
      const w = written.find((x) => x.id === docs[i]!._id);
      if (w) this.#pages.set(w.id, { rev: r.rev!, keys: w.keys });
    }
  }

  async close(): Promise<void> {
    await this.flush().catch(() => undefined);
  }
}
