/**
 * Marks: one flag change, expunge or copy made to many entries at once (`STORE 1:* +FLAGS
 * (\Seen)`, a MOVE's copies and its expunge of the originals) written as one immutable state
 * document, instead of a new revision of every entry document (or a new document for each copy). A 10,000-entry STORE wrote 10,000 sealed revisions
 * (about 5x Dovecot's whole STORE, most of it in PouchDB's update path) and replicated 10,000
 * documents; as marks it is a handful.
 *
 * A marks document carries registers like an entry's flags and expunge, all with one stamp,
 * so it merges with the entries the way their revisions merge with each other: field by
 * field, newest stamp wins, in any order. The index shows every entry merged with the live marks naming it.
 *
 * An entry a marks document makes is shown as if its first revision had arrived; its document
 * is written by the fold (an update before that writes it).
 *
 * Marks are folded away: once writing pauses, the index writes each marked entry with the
 * marks merged in, then deletes the marks document. Until then the index does not persist a
 * feed position past a live marks document, so a restart reads it again. Another device
 * that pulls a live marks document shows it the same way; it folds only marks that stay live
 * for a while, since the device that wrote them normally folds them within seconds, and two
 * folds of the same marks only make conflicting revisions that merge to the same thing.
 */
import { type EntryMeta, type Register, mergeRegister, mergeRegisters } from './kinds.js';
import type { Stamp } from '../util/hlc.js';

export interface MarksMeta {
  /** The stamp of every register this document sets. */
  stamp: Stamp;
  /** [flag, value, logical ids of the entries it is set on]. */
  flags: Array<[string, boolean, string[]]>;
  /** Entries expunged: [logical id] or, for a MOVE, [logical id, the entry it moved to]. */
  expunged?: Array<[string] | [string, string]>;
  /** Entries made (a COPY's or MOVE's copies): [logical id, mailbox, message, size, date, flags]. */
  created?: Array<[string, string, string, number, number, string[]]>;
}

/** What marks set on one entry: registers like the entry's own, and a MOVE's link. */
export interface Marked {
  flags: Record<string, Register<boolean>>;
  expunged?: Register<boolean>;
  moved?: string;
}

/** A change to one entry, as the store asks for it. */
export interface MarkChange {
  flags?: Array<[string, boolean]>;
  expunge?: { moved?: string };
  create?: { mailbox: string; message: string; size: number; date: number; flags: string[] };
}

/** Entries changed by fewer than this go as entry revisions: no fold to do later. */
export const MARKS_MIN = 64;
/** Entries per marks document, so one stays far below a CouchDB's document size limit. */
export const MARKS_PER_DOC = 2000;

/** The marks document for `changes` (logical id → change), all under `stamp`. */
export function marksMeta(changes: Array<[string, MarkChange]>, stamp: Stamp): MarksMeta {
  const groups = new Map<string, [string, boolean, string[]]>();
  const expunged: MarksMeta['expunged'] = [];
  const created: MarksMeta['created'] = [];
  for (const [logical, change] of changes) {
    const c = change.create;
    if (c) created.push([logical, c.mailbox, c.message, c.size, c.date, [...new Set(c.flags)].sort()]);
    for (const [flag, value] of change.flags ?? []) {
      const key = `${value ? '+' : '-'}${flag}`;
      let group = groups.get(key);
      if (!group) groups.set(key, (group = [flag, value, []]));
      group[2].push(logical);
    }
    if (change.expunge) expunged.push(change.expunge.moved === undefined ? [logical] : [logical, change.expunge.moved]);
  }
  return { stamp, flags: [...groups.values()], ...(expunged.length > 0 ? { expunged } : {}), ...(created.length > 0 ? { created } : {}) };
}

/** The entries a marks document makes, as their first revision would hold them. */
export function createdEntries(meta: MarksMeta): Array<{ logical: string; meta: EntryMeta }> {
  return (meta.created ?? []).map(([logical, mailbox, message, size, date, flags]) => ({
    logical,
    meta: { mailbox, message, size, date, flags: Object.fromEntries(flags.map((f) => [f, [true, meta.stamp]])), expunged: [false, meta.stamp] },
  }));
}

/** What a marks document sets, per entry. */
export function markedEntries(meta: MarksMeta): Map<string, Marked> {
  const out = new Map<string, Marked>();
  const of = (logical: string) => {
    let m = out.get(logical);
    if (!m) out.set(logical, (m = { flags: {} }));
    return m;
  };
  for (const c of createdEntries(meta)) {
    const m = of(c.logical);
    m.flags = { ...c.meta.flags };
    m.expunged = c.meta.expunged;
  }
  for (const [flag, value, logicals] of meta.flags) for (const logical of logicals) of(logical).flags[flag] = [value, meta.stamp];
  for (const [logical, moved] of meta.expunged ?? []) {
    const m = of(logical);
    m.expunged = [true, meta.stamp];
    if (moved !== undefined) m.moved = moved;
  }
  return out;
}

/** Two marks on one entry merged, as its revisions would merge. */
function mergeMarked(a: Marked | undefined, b: Marked): Marked {
  if (!a) return b;
  const out: Marked = { flags: mergeRegisters(a.flags, b.flags) };
  const expunged = a.expunged && b.expunged ? mergeRegister(a.expunged, b.expunged) : (a.expunged ?? b.expunged);
  if (expunged) out.expunged = expunged;
  const moved = [a.moved, b.moved].filter((x): x is string => x !== undefined).sort()[0];
  if (moved !== undefined) out.moved = moved;
  return out;
}

/**
 * `meta` with `marked` merged in: `meta` itself when that adds nothing (checked register by
 * register first: this runs for every entry a large STORE marks).
 */
export function withMarks(meta: EntryMeta, marked: Marked | undefined): EntryMeta {
  if (!marked) return meta;
  let adds = false;
  for (const flag in marked.flags) {
    const cur = meta.flags[flag];
    if (!cur || mergeRegister(cur, marked.flags[flag]!) !== cur) {
      adds = true;
      break;
    }
  }
  if (!adds && marked.expunged && mergeRegister(meta.expunged, marked.expunged) !== meta.expunged) adds = true;
  if (!adds && marked.moved !== undefined && (meta.moved === undefined || marked.moved < meta.moved)) adds = true;
  return adds ? folded(meta, marked) : meta;
}

/**
 * `meta` with `marked` merged in, always a new object (what a fold writes): what mergeEntry
 * gives, without re-merging the fields marks leave alone.
 */
export function folded(meta: EntryMeta, marked: Marked): EntryMeta {
  let flags = meta.flags;
  for (const _ in marked.flags) {
    flags = mergeRegisters(meta.flags, marked.flags);
    break;
  }
  const out: EntryMeta = { ...meta, flags };
  if (marked.expunged) out.expunged = mergeRegister(meta.expunged, marked.expunged);
  if (marked.moved !== undefined && (meta.moved === undefined || marked.moved < meta.moved)) out.moved = marked.moved;
  return out;
}

interface Live {
  id: string;
  rev: string;
  regs: Map<string, Marked>;
  /** The entries it makes, as their first revision would hold them. */
  created: Map<string, EntryMeta>;
  /** Where the changes feed showed it; unknown until the feed passes a local write. */
  seq?: number;
  /** When this process first applied it, and whether it wrote it. */
  since: number;
  own: boolean;
}

/** The marks documents the index has applied and not yet seen folded. */
export class LiveMarks {
  readonly #live = new Map<string, Live>();
  /** Per entry, what every live marks document naming it sets, merged. */
  readonly #marked = new Map<string, Marked>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  get size(): number {
    return this.#live.size;
  }

  has(id: string): boolean {
    return this.#live.has(id);
  }

  /** Take a marks document in; returns what it sets, per entry. */
  add(id: string, rev: string, meta: MarksMeta, own: boolean, seq?: number | string): Map<string, Marked> {
    const regs = markedEntries(meta);
    const had = this.#live.get(id);
    const created = new Map(createdEntries(meta).map((c) => [c.logical, c.meta]));
    this.#live.set(id, { id, rev, regs, created, since: had?.since ?? this.#now(), own: had?.own ?? own, seq: typeof seq === 'number' ? seq : had?.seq });
    for (const [logical, r] of regs) this.#marked.set(logical, mergeMarked(this.#marked.get(logical), r));
    return regs;
  }

  /** The changes feed shows `id` at `seq`. */
  seen(id: string, seq: number | string): void {
    const live = this.#live.get(id);
    if (live && typeof seq === 'number') live.seq = seq;
  }

  /** What live marks set on an entry. */
  regs(logical: string): Marked | undefined {
    return this.#marked.get(logical);
  }

  /** `id` was folded (here or on another device) and deleted. */
  gone(id: string): void {
    const live = this.#live.get(id);
    if (!live) return;
    this.#live.delete(id);
    for (const logical of live.regs.keys()) {
      this.#marked.delete(logical);
      for (const other of this.#live.values()) {
        const r = other.regs.get(logical);
        if (r) this.#marked.set(logical, mergeMarked(this.#marked.get(logical), r));
      }
    }
  }

  /** The feed position to persist: just before the oldest live marks document. */
  cursor(last: number | string): number | string {
    let min = Infinity;
    for (const l of this.#live.values()) if (l.seq !== undefined) min = Math.min(min, l.seq);
    return min === Infinity ? last : typeof last === 'number' ? Math.min(last, min - 1) : min - 1;
  }

  /** Marks to fold now: this process's own, and others' once live for `foreignAfterMs`. */
  due(foreignAfterMs: number): Array<{ id: string; rev: string; regs: Map<string, Marked>; created: Map<string, EntryMeta> }> {
    const now = this.#now();
    return [...this.#live.values()].filter((l) => l.own || now - l.since >= foreignAfterMs);
  }

  /** Try `id` again only after another wait (an entry it names has not arrived here yet). */
  postpone(id: string): void {
    const live = this.#live.get(id);
    if (live) {
      live.since = this.#now();
      live.own = false;
    }
  }

  /** Milliseconds until the next foreign marks document is due, or undefined when none waits. */
  nextForeign(foreignAfterMs: number): number | undefined {
    let next: number | undefined;
    for (const l of this.#live.values()) {
      if (l.own) continue;
      const wait = Math.max(0, l.since + foreignAfterMs - this.#now());
      next = next === undefined ? wait : Math.min(next, wait);
    }
    return next;
  }
}
