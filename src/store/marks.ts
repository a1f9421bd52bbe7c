/**
 * Marks: one flag change made to many entries at once (`STORE 1:* +FLAGS (\Seen)`) written as
 * one immutable state document, instead of a new revision of every entry document. A
 * 10,000-entry STORE wrote 10,000 sealed revisions (about 5x Dovecot's whole STORE, most of it
 * in PouchDB's update path) and replicated 10,000 documents; as marks it is a handful.
 *
 * A marks document carries registers like an entry's flags, all with one stamp, so it merges
 * with the entries the way their revisions merge with each other: field by field, newest
 * stamp wins, in any order. The index shows every entry merged with the live marks naming it.
 *
 * Marks are folded away: once writing pauses, the index writes each marked entry with the
 * marks merged in, then deletes the marks document. Until then the index does not persist a
 * feed position past a live marks document, so a restart reads it again. Another device
 * that pulls a live marks document shows it the same way; it folds only marks that stay live
 * for a while, since the device that wrote them normally folds them within seconds, and two
 * folds of the same marks only make conflicting revisions that merge to the same thing.
 */
import { type EntryMeta, type Register, mergeRegisters, sameMeta } from './kinds.js';
import type { Stamp } from '../util/hlc.js';

export interface MarksMeta {
  /** The stamp of every register this document sets. */
  stamp: Stamp;
  /** [flag, value, logical ids of the entries it is set on]. */
  flags: Array<[string, boolean, string[]]>;
}

export type MarkedFlags = Record<string, Register<boolean>>;

/** Entries changed by fewer than this go as entry revisions: no fold to do later. */
export const MARKS_MIN = 64;
/** Entries per marks document, so one stays far below a CouchDB's document size limit. */
export const MARKS_PER_DOC = 2000;

/** The flag registers a marks document sets, per entry. */
export function markedFlags(meta: MarksMeta): Map<string, MarkedFlags> {
  const out = new Map<string, MarkedFlags>();
  for (const [flag, value, logicals] of meta.flags) {
    for (const logical of logicals) {
      let regs = out.get(logical);
      if (!regs) out.set(logical, (regs = {}));
      regs[flag] = [value, meta.stamp];
    }
  }
  return out;
}

/** `meta` with `regs` merged into its flags: `meta` itself when they add nothing. */
export function withMarks(meta: EntryMeta, regs: MarkedFlags | undefined): EntryMeta {
  if (!regs) return meta;
  const flags = mergeRegisters(meta.flags, regs);
  return sameMeta(flags, meta.flags) ? meta : { ...meta, flags };
}

interface Live {
  id: string;
  rev: string;
  regs: Map<string, MarkedFlags>;
  /** Where the changes feed showed it; unknown until the feed passes a local write. */
  seq?: number;
  /** When this process first applied it, and whether it wrote it. */
  since: number;
  own: boolean;
}

/** The marks documents the index has applied and not yet seen folded. */
export class LiveMarks {
  readonly #live = new Map<string, Live>();
  /** Per entry, the registers of every live marks document naming it, merged. */
  readonly #marked = new Map<string, MarkedFlags>();
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

  /** Take a marks document in; returns the registers it sets, per entry. */
  add(id: string, rev: string, meta: MarksMeta, own: boolean, seq?: number | string): Map<string, MarkedFlags> {
    const regs = markedFlags(meta);
    const had = this.#live.get(id);
    this.#live.set(id, { id, rev, regs, since: had?.since ?? this.#now(), own: had?.own ?? own, seq: typeof seq === 'number' ? seq : had?.seq });
    for (const [logical, r] of regs) this.#marked.set(logical, withRegs(this.#marked.get(logical), r));
    return regs;
  }

  /** The changes feed shows `id` at `seq`. */
  seen(id: string, seq: number | string): void {
    const live = this.#live.get(id);
    if (live && typeof seq === 'number') live.seq = seq;
  }

  /** The registers live marks set on an entry. */
  regs(logical: string): MarkedFlags | undefined {
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
        if (r) this.#marked.set(logical, withRegs(this.#marked.get(logical), r));
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
  due(foreignAfterMs: number): Array<{ id: string; rev: string; regs: Map<string, MarkedFlags> }> {
    const now = this.#now();
    return [...this.#live.values()].filter((l) => l.own || now - l.since >= foreignAfterMs);
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

function withRegs(a: MarkedFlags | undefined, b: MarkedFlags): MarkedFlags {
  return a ? mergeRegisters(a, b) : b;
}
