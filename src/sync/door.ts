/**
 * The door replicated documents come in through. PouchDB's replicator writes what it pulled
 * with one `bulkDocs({docs, new_edits: false})` call per batch; the local database is handed to
 * it behind a proxy whose bulkDocs first checks every document and leaves out the ones that
 * fail, so a document the server damaged, moved to another id or made up never enters the
 * store (a filter on the changes feed would have to download every document twice).
 *
 * What is refused, per database:
 *  - content: anything that does not open (AES-GCM with the id as associated data, kind and
 *    logical id re-derived; a part's bytes are checked against its content key when read,
 *    and only a holder of the key could have sealed a mismatch), any revision
 *    other than the one derived from the id (content is immutable: a second revision, a
 *    deletion, can only come from the server), a document of a state or key kind;
 *  - state, keys: anything that does not open or is of another database's kind. Deletions
 *    pass: devices delete merged-away conflict revisions and removed key records;
 *  - keys: a record at a revision other than the one sealed inside it (records.ts): an older
 *    record replayed as the newest has to sit at a higher generation than it was written at.
 * Replays of old state are caught later, by the index, and written over (store/replays.ts).
 */
import { immutableRev } from '../store/content.js';
import { replayReason } from '../store/records.js';
import { STATE_KINDS } from '../store/state.js';
import type { PouchDb, PouchDocument, PouchWriteResult } from '../store/pouch.js';
import type { OpenDoc, SealedDoc, Sealer } from '../store/seal.js';
import { errorMessage } from '../util/errors.js';
import type { ReplicatedDb } from './names.js';

const KINDS: Record<ReplicatedDb, string[]> = { content: ['message', 'part'], state: [...STATE_KINDS], keys: ['ownkey', 'peer'] };

/** What the door found: why `doc` must not enter `db`, or what it holds (nothing for deletions). */
function inspect(db: ReplicatedDb, doc: PouchDocument, sealer: Sealer): { reason?: string; opened?: OpenDoc } {
  if (doc._id.startsWith('_')) return {};
  if (db === 'content') {
    if (doc._deleted) return { reason: 'content is never deleted' };
    if (doc._rev !== immutableRev(doc._id)) return { reason: 'content has exactly one revision' };
  } else if (doc._deleted) {
    return {};
  }
  try {
    const opened = sealer.open(doc as unknown as SealedDoc);
    if (!KINDS[db].includes(opened.kind)) return { reason: `a ${opened.kind} does not belong in ${db}` };
    if (db === 'keys') {
      const reason = replayReason(opened.meta, String(doc._rev));
      if (reason) return { reason };
    }
    return { opened };
  } catch (err) {
    return { reason: errorMessage(err) };
  }
}

/** A document the door let in and that was written, with what it holds. */
export interface Accepted {
  id: string;
  rev: string;
  opened: OpenDoc;
}

export interface Refusal {
  db: ReplicatedDb;
  id: string;
  rev: string;
  reason: string;
  at: string;
}

/**
 * `db` as the replicator's target, with refused documents left out of its writes.
 * `onAccepted` gets what the door opened of the documents written, so that nothing after
 * it has to read and open them again (the index took ~1 s per 10,000 doing so).
 */
export function guardedTarget(opts: {
  db: PouchDb;
  name: ReplicatedDb;
  sealer: Sealer;
  onRefused: (r: Refusal) => void;
  onAccepted?: (docs: Accepted[]) => void;
}): PouchDb {
  const { db, name, sealer, onRefused, onAccepted } = opts;
  const bulkDocs = async (arg: PouchDocument[] | { docs: PouchDocument[]; new_edits?: boolean }, options?: Record<string, unknown>): Promise<PouchWriteResult[]> => {
    const docs = Array.isArray(arg) ? arg : arg.docs;
    const ok: PouchDocument[] = [];
    const opened: Accepted[] = [];
    for (const doc of docs) {
      const found = inspect(name, doc, sealer);
      if (found.reason) {
        onRefused({ db: name, id: doc._id, rev: String(doc._rev), reason: found.reason, at: new Date().toISOString() });
        continue;
      }
      ok.push(doc);
      if (found.opened) opened.push({ id: doc._id, rev: String(doc._rev), opened: found.opened });
    }
    const call = db.bulkDocs as unknown as (a: unknown, o?: unknown) => Promise<PouchWriteResult[]>;
    if (ok.length === 0) return [];
    const results = await call.call(db, Array.isArray(arg) ? ok : { ...arg, docs: ok }, options);
    if (onAccepted && opened.length > 0) {
      // The replicator writes with new_edits: false, answered with the failures only; it
      // asked revsDiff first, so every other document here is a revision that was missing.
      const failed = new Set(results.filter((r) => r.error).map((r) => r.id));
      onAccepted(opened.filter((a) => !failed.has(a.id)));
    }
    return results;
  };
  return new Proxy(db, {
    get(target, prop) {
      if (prop === 'bulkDocs') return bulkDocs;
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
