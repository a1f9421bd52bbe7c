/**
 * The one place that knows PouchDB is PouchDB: opening databases with the settings each kind
 * of data wants, typed as the narrow surface Waxseal uses. (@types/pouchdb is not used: it
 * declares a global `Buffer` interface that breaks Node's own typings under TypeScript 5.9.)
 * Everything stored through these handles is already sealed.
 */
import { createRequire } from 'node:module';

export interface PouchRow {
  id: string;
  key: string;
  value?: { rev: string; deleted?: boolean };
  doc?: PouchDocument | null;
  error?: string;
}

export interface PouchDocument {
  _id: string;
  _rev?: string;
  _deleted?: boolean;
  _conflicts?: string[];
  [field: string]: unknown;
}

export interface PouchWriteResult {
  ok?: boolean;
  id?: string;
  rev?: string;
  error?: string | boolean;
  status?: number;
  message?: string;
}

export interface PouchChange {
  id: string;
  seq: number | string;
  changes: Array<{ rev: string }>;
  deleted?: boolean;
  doc?: PouchDocument;
}

export interface PouchChangesOptions {
  since?: number | string;
  limit?: number;
  include_docs?: boolean;
  conflicts?: boolean;
  live?: boolean;
  style?: 'main_only' | 'all_docs';
}

export interface PouchChangesFeed {
  on(event: 'change', fn: (change: PouchChange) => void): PouchChangesFeed;
  on(event: 'error', fn: (err: unknown) => void): PouchChangesFeed;
  cancel(): void;
}

export interface PouchDb {
  name: string;
  get(id: string, opts?: { conflicts?: boolean; rev?: string; open_revs?: 'all' | string[] }): Promise<PouchDocument & Array<{ ok?: PouchDocument }>>;
  put(doc: PouchDocument): Promise<PouchWriteResult>;
  bulkDocs(docs: PouchDocument[], opts?: { new_edits?: boolean }): Promise<PouchWriteResult[]>;
  allDocs(opts?: {
    keys?: string[];
    include_docs?: boolean;
    conflicts?: boolean;
    startkey?: string;
    endkey?: string;
    limit?: number;
    skip?: number;
  }): Promise<{ total_rows: number; rows: PouchRow[] }>;
  changes(opts: PouchChangesOptions & { live: true }): PouchChangesFeed;
  changes(opts: PouchChangesOptions): Promise<{ results: PouchChange[]; last_seq: number | string }>;
  info(): Promise<{ doc_count: number; update_seq: number | string }>;
  /** Which of these revisions the database lacks (what replication asks before it sends). */
  revsDiff(revs: Record<string, string[]>): Promise<Record<string, { missing: string[] }>>;
  compact(): Promise<unknown>;
  close(): Promise<void>;
  destroy(): Promise<void>;
}

type PouchConstructor = new (name: string, opts?: Record<string, unknown>) => PouchDb;

const require = createRequire(import.meta.url);
export const PouchDB = require('pouchdb') as PouchConstructor & {
  replicate(source: PouchDb | string, target: PouchDb | string, opts?: Record<string, unknown>): Promise<unknown> & { cancel(): void; on(event: string, fn: (arg: unknown) => void): unknown };
};

export interface OpenPouchOptions {
  /** Immutable content needs no revision history; mutable state keeps enough to merge. */
  revsLimit: number;
  autoCompaction: boolean;
  /**
   * LevelDB's block cache and write buffer, in bytes (LevelDB's defaults: 8 MiB and 4 MiB).
   * Six databases at the defaults let native memory grow by ~70 MB under a large STORE.
   */
  cacheBytes?: number;
  writeBufferBytes?: number;
}

export function openPouch(path: string, opts: OpenPouchOptions): PouchDb {
  return new PouchDB(path, {
    revs_limit: opts.revsLimit,
    auto_compaction: opts.autoCompaction,
    ...(opts.cacheBytes !== undefined ? { cacheSize: opts.cacheBytes } : {}),
    ...(opts.writeBufferBytes !== undefined ? { writeBufferSize: opts.writeBufferBytes } : {}),
  });
}
