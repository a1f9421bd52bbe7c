/**
 * What each kind of document holds, and how two versions of a mutable one merge.
 *
 * Immutable (content database): `message` (skeleton bytes + MIME offsets + cached IMAP
 * structures) and `part` (a leaf body or a chunk of one, content-addressed).
 * Mutable (state database): `mailbox` and `entry`. Every mutable field is a register
 * `[value, stamp]`; merging takes, field by field, the register with the greater stamp
 * (ties broken by comparing values), so any device merging any set of conflicting
 * revisions reaches the same document. Nothing in a merge deletes a message: expunge is a
 * register like the flags, and the message and entry docs stay.
 */
import type { Stamp } from '../util/hlc.js';
import type { StoredNode } from '../mime/tree.js';
import type { BodyStructure, Envelope } from '../model/message.js';

export type Register<T> = [T, Stamp];

/** A range of the raw message: [offset, length, skeleton offset] or [offset, length, chunks]. */
export type Segment = [number, number, number] | [number, number, Array<[string, number]>];

export interface MessageMeta {
  /** Size of the raw message in octets. */
  size: number;
  /** MIME tree, offsets into the raw message. */
  tree: StoredNode;
  /** How to rebuild the raw message from the skeleton (the blob) and part docs. */
  seg: Segment[];
  /** Cached IMAP ENVELOPE and BODYSTRUCTURE, computed once at import. */
  envelope?: Envelope;
  body?: BodyStructure;
}

export interface MailboxMeta {
  name: Register<string>;
  specialUse: string | null;
  subscribed: Register<boolean>;
  deleted: Register<boolean>;
}

export interface EntryMeta {
  /** Logical id of the mailbox (its uuid). */
  mailbox: string;
  /** Logical id of the message (its content key). */
  message: string;
  size: number;
  /** INTERNALDATE, ms since the epoch. */
  date: number;
  flags: Record<string, Register<boolean>>;
  expunged: Register<boolean>;
  /** Set when the entry was expunged by a MOVE: the entry the message moved to. */
  moved?: string;
}

function cmp(a: unknown, b: unknown): number {
  const x = JSON.stringify(a);
  const y = JSON.stringify(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export function mergeRegister<T>(a: Register<T>, b: Register<T>): Register<T> {
  if (a[1] !== b[1]) return a[1] > b[1] ? a : b;
  return cmp(a[0], b[0]) >= 0 ? a : b;
}

export function mergeRegisters<T>(a: Record<string, Register<T>>, b: Record<string, Register<T>>): Record<string, Register<T>> {
  const out: Record<string, Register<T>> = {};
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[key];
    const y = b[key];
    out[key] = x && y ? mergeRegister(x, y) : (x ?? y)!;
  }
  // Sorted keys so merged documents compare equal byte for byte on every device.
  return Object.fromEntries(Object.entries(out).sort(([p], [q]) => (p < q ? -1 : p > q ? 1 : 0)));
}

export function mergeEntry(a: EntryMeta, b: EntryMeta): EntryMeta {
  const merged: EntryMeta = { ...a, flags: mergeRegisters(a.flags, b.flags), expunged: mergeRegister(a.expunged, b.expunged) };
  // Moved on two devices to two places: both copies exist; either link serves, the smaller is kept.
  const moved = [a.moved, b.moved].filter((m): m is string => m !== undefined).sort()[0];
  if (moved !== undefined) merged.moved = moved;
  return merged;
}

export function mergeMailbox(a: MailboxMeta, b: MailboxMeta): MailboxMeta {
  return {
    name: mergeRegister(a.name, b.name),
    specialUse: a.specialUse ?? b.specialUse,
    subscribed: mergeRegister(a.subscribed, b.subscribed),
    deleted: mergeRegister(a.deleted, b.deleted),
  };
}

export function liveFlags(meta: EntryMeta): string[] {
  return Object.entries(meta.flags)
    .filter(([, reg]) => reg[0])
    .map(([flag]) => flag);
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]));
  return v;
}

/** Whether two metas hold the same values, whatever the order of their keys. */
export function sameMeta(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

/**
 * `incoming` merged with the state last known: `incoming` itself when it already holds all
 * that is known (the usual case), else the merge (it lacked something: a replay).
 */
export function mergeKnown<M extends MailboxMeta | EntryMeta>(incoming: M, known: M): M {
  const merged = ('flags' in incoming ? mergeEntry(incoming, known as EntryMeta) : mergeMailbox(incoming as MailboxMeta, known as MailboxMeta)) as M;
  return sameMeta(merged, incoming) ? incoming : merged;
}
