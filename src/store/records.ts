/**
 * Small sealed records, in a database of their own. The `keys` database replicates: the user's own OpenPGP keys and what we know of other
 * people's keys. They live in their own database (`keys/`) because they are few, change
 * rarely, and must never sit in the state feed that the UID index follows.
 *
 * A record is `{kind, logical, value}` sealed like every other document. Two devices that
 * edit the same record while apart leave a conflict; `resolve` merges every revision with
 * the caller's merge function (for keys: OpenPGP's own packet merge), so no revocation or
 * new self-signature made on one device is lost to an edit on another.
 *
 * Every record carries, sealed with it, the generation of the revision it was written as
 * (the N of PouchDB's `N-hash`). A server replaying an older record as the newest must put
 * it on top of the current revision, at a higher generation than the one sealed inside, so
 * the door refuses it (sync/door.ts) without knowing what the device held before.
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

/** The generation of a PouchDB revision: 3 for `3-9f8e…`. */
export function revGeneration(rev: string): number {
  return Number.parseInt(rev, 10);
}

/** Why a sealed record's body does not belong at `rev`, or undefined when it does. */
export function replayReason(meta: { gen?: unknown }, rev: string): string | undefined {
  const gen = revGeneration(rev);
  if (meta.gen === gen) return undefined;
  if (typeof meta.gen !== 'number') return 'a record without its revision generation';
  return meta.gen < gen ? `an older revision (${meta.gen}) was served as the current one (${gen})` : `a revision sealed as ${meta.gen} was served as ${gen}`;
}

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
    return (await this.#current<T>(kind, logical)).record;
  }

  /** The record, and when it was deleted, the deleted revision a new one must follow. */
  async #current<T>(kind: RecordKind, logical: string): Promise<{ record?: StoredRecord<T>; deleted?: string }> {
    return (await this.#currentMany<T>(kind, [logical]))[0]!;
  }

  /** #current for many records, in one read. */
  async #currentMany<T>(kind: RecordKind, logicals: string[]): Promise<Array<{ record?: StoredRecord<T>; deleted?: string }>> {
    if (logicals.length === 0) return [];
    const ids = logicals.map((l) => this.#sealer.docId(kind, l));
    const { rows } = await this.#db.allDocs({ keys: ids, include_docs: true });
    return rows.map((row) => {
      if (row.doc && !row.value?.deleted) return { record: this.#open<T>(row.doc, kind) };
      return row.value?.deleted ? { deleted: row.value.rev } : {};
    });
  }

  /**
   * The sealed document for `value` written on top of `rev` (none: a new document), with
   * the generation it will have. Written without a revision, a record whose id was deleted
   * before would continue the deleted one's history at a generation the seal would not
   * match; so a new record names the deleted revision it follows.
   */
  #sealAt(kind: RecordKind, logical: string, value: unknown, rev?: string): PouchDocument {
    const sealed = this.#sealer.seal({ kind, logical, meta: { value, gen: rev ? revGeneration(rev) + 1 : 1 } });
    return rev ? { ...sealed, _rev: rev } : sealed;
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
      const { record: current, deleted } = await this.#current<T>(kind, logical);
      const next = await mutate(current?.value);
      if (next === undefined) return current?.value;
      try {
        await this.#db.put(this.#sealAt(kind, logical, next, current?.rev ?? deleted));
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
   * `update` for many records of one kind at once: one read, one bulk write. A
   * record changed meanwhile (409) goes through `update`, re-read and mutated again. Ingest
   * touches one peer record per sender; one write per batch instead of one per sender is
   * most of what storing plaintext mail used to spend on the keyring.
   */
  async updateMany<T>(kind: RecordKind, logicals: string[], mutate: (logical: string, current: T | undefined) => T | undefined): Promise<void> {
    const unique = [...new Set(logicals)];
    const current = await this.#currentMany<T>(kind, unique);
    const writes: Array<{ logical: string; doc: PouchDocument }> = [];
    unique.forEach((logical, i) => {
      const { record, deleted } = current[i]!;
      const next = mutate(logical, record?.value);
      if (next === undefined) return;
      writes.push({ logical, doc: this.#sealAt(kind, logical, next, record?.rev ?? deleted) });
    });
    if (writes.length === 0) return;
    let results;
    try {
      results = await this.#db.bulkDocs(writes.map((w) => w.doc));
    } catch (err) {
      throw new WaxsealError('ESTORE', `Could not save ${kind === 'ownkey' ? 'keys' : 'key records'}`, { cause: err });
    }
    for (const [i, w] of writes.entries()) {
      const r = results[i]!;
      if (!r.error) continue;
      if (r.status !== 409) throw new WaxsealError('ESTORE', `Could not save a ${kind} record: ${String(r.message ?? r.error)}`);
      await this.update<T>(kind, w.logical, (cur) => mutate(w.logical, cur));
    }
  }

  /**
   * Write a record whose revision the caller knows (none for a new one): one write, no read.
   * Returns the new revision; a 409 means someone else changed it (the caller re-reads).
   */
  async put<T>(kind: RecordKind, logical: string, value: T, rev?: string): Promise<string> {
    const res = await this.#db.put(this.#sealAt(kind, logical, value, rev));
    if (revGeneration(res.rev!) === (rev ? revGeneration(rev) + 1 : 1)) return res.rev!;
    // A new record over a deleted one (rare: ids are not reused): sealed again at its generation.
    return (await this.#db.put(this.#sealAt(kind, logical, value, res.rev))).rev!;
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
      writes.push(this.#sealAt(winner.kind, winner.logical, merged, winner.rev));
    }
    await this.#db.bulkDocs(writes);
    return true;
  }
}
