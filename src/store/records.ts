/**
 * Small sealed records, in a database of their own. The `keys` database replicates: the user's own OpenPGP keys and what we know of other
 * people's keys. They live in their own database (`keys/`) because they are few, change
 * rarely, and must never sit in the state feed that the UID index follows.
 *
 * A record is `{kind, logical, value}` sealed like every other document. Two devices that
 * edit the same record while apart leave a conflict; `resolve` merges every revision with
 * the caller's merge function (for keys: OpenPGP's own packet merge), so no revocation or
 * new self-signature made on one device is lost to an edit on another.
 */
import { WaxsealError } from '../util/errors.js';
import type { PouchDb, PouchDocument } from './pouch.js';
import type { SealedDoc, Sealer } from './seal.js';

export type RecordKind = 'ownkey' | 'peer' | 'outbox';

export interface StoredRecord<T> {
  kind: RecordKind;
  logical: string;
  value: T;
  rev: string;
}

const TRIES = 5;

export class RecordRepo {
  readonly #db: PouchDb;
  readonly #sealer: Sealer;
  readonly #kinds: RecordKind[];
  readonly #name: string;

  constructor(db: PouchDb, sealer: Sealer, opts: { kinds: RecordKind[]; name: string }) {
    this.#db = db;
    this.#sealer = sealer;
    this.#kinds = opts.kinds;
    this.#name = opts.name;
  }

  get db(): PouchDb {
    return this.#db;
  }

  #open<T>(doc: PouchDocument, kind?: RecordKind): StoredRecord<T> {
    const opened = this.#sealer.open<{ value: T }>(doc as SealedDoc, kind);
    if (!this.#kinds.includes(opened.kind as RecordKind)) {
      throw new WaxsealError('ETAMPERED', `Document ${doc._id} has kind ${opened.kind}, which does not belong in the ${this.#name} database`);
    }
    return { kind: opened.kind as RecordKind, logical: opened.logical, value: opened.meta.value, rev: doc._rev! };
  }

  async get<T>(kind: RecordKind, logical: string): Promise<StoredRecord<T> | undefined> {
    try {
      return this.#open<T>(await this.#db.get(this.#sealer.docId(kind, logical)), kind);
    } catch (err) {
      if ((err as { status?: number }).status === 404) return undefined;
      throw err;
    }
  }

  /**
   * Every record of `kind`. Ids are keyed, so a kind cannot be selected by id range: every
   * document is opened. This database holds a handful of keys and one record per
   * correspondent, so that stays cheap. Damaged documents are reported, not fatal.
   */
  async list<T>(kind: RecordKind, onDamaged?: (id: string, err: unknown) => void): Promise<Array<StoredRecord<T>>> {
    const res = await this.#db.allDocs({ include_docs: true });
    const out: Array<StoredRecord<T>> = [];
    for (const row of res.rows) {
      if (!row.doc || row.id.startsWith('_design/')) continue;
      try {
        const rec = this.#open<T>(row.doc);
        if (rec.kind === kind) out.push(rec);
      } catch (err) {
        onDamaged?.(row.id, err);
      }
    }
    return out;
  }

  /**
   * Create or change one record: `mutate` gets the current value (undefined when new) and
   * returns the next one, or undefined to leave it. Retried from a fresh read on conflict.
   */
  async update<T>(kind: RecordKind, logical: string, mutate: (current: T | undefined) => T | undefined | Promise<T | undefined>): Promise<T | undefined> {
    for (let attempt = 0; attempt < TRIES; attempt++) {
      const current = await this.get<T>(kind, logical);
      const next = await mutate(current?.value);
      if (next === undefined) return current?.value;
      const sealed = this.#sealer.seal({ kind, logical, meta: { value: next } });
      try {
        await this.#db.put(current ? { ...sealed, _rev: current.rev } : sealed);
        return next;
      } catch (err) {
        if ((err as { status?: number }).status !== 409) {
          throw new WaxsealError('ESTORE', `Could not save a ${kind === 'ownkey' ? 'key' : 'key record'}`, { cause: err });
        }
      }
    }
    throw new WaxsealError('ESTORE', `Could not save a ${kind} record: it kept changing`);
  }

  /**
   * Write a record whose revision the caller knows (none for a new one): one write, no read.
   * Returns the new revision; a 409 means someone else changed it (the caller re-reads).
   */
  async put<T>(kind: RecordKind, logical: string, value: T, rev?: string): Promise<string> {
    const sealed = this.#sealer.seal({ kind, logical, meta: { value } });
    const res = await this.#db.put(rev ? { ...sealed, _rev: rev } : sealed);
    return res.rev!;
  }

  /** Delete a record; with its revision known, without reading it first. */
  async remove(kind: RecordKind, logical: string, rev?: string): Promise<boolean> {
    const id = this.#sealer.docId(kind, logical);
    if (rev) {
      try {
        await this.#db.put({ _id: id, _rev: rev, _deleted: true });
        return true;
      } catch (err) {
        if ((err as { status?: number }).status !== 409) throw err;
      }
    }
    const current = await this.get(kind, logical);
    if (!current) return false;
    await this.#db.put({ _id: id, _rev: current.rev, _deleted: true });
    return true;
  }

  /** Merge conflicting revisions of one record (after replication); false when there were none. */
  async resolve<T>(id: string, merge: (a: T, b: T, kind: RecordKind) => T | Promise<T>): Promise<boolean> {
    let doc: PouchDocument;
    try {
      doc = await this.#db.get(id, { conflicts: true });
    } catch (err) {
      if ((err as { status?: number }).status === 404) return false; // deleted: nothing to merge
      throw err;
    }
    const losers = doc._conflicts ?? [];
    if (losers.length === 0) return false;
    const winner = this.#open<T>(doc);
    let merged = winner.value;
    for (const rev of losers) merged = await merge(merged, this.#open<T>(await this.#db.get(id, { rev }), winner.kind).value, winner.kind);
    const writes: PouchDocument[] = losers.map((rev) => ({ _id: id, _rev: rev, _deleted: true }));
    // Only a merge that adds something is written: two devices resolving the same conflict
    // at once would otherwise answer each other's identical merges with new ones for ever.
    if (JSON.stringify(merged) !== JSON.stringify(winner.value)) {
      writes.push({ ...this.#sealer.seal({ kind: winner.kind, logical: winner.logical, meta: { value: merged } }), _rev: winner.rev });
    }
    await this.#db.bulkDocs(writes);
    return true;
  }
}
