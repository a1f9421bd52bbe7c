/**
 * Marks: one flag change, expunge or copy made to many entries at once (`STORE 1:* +FLAGS
 * (\Seen)`, a MOVE's copies and its expunge of the originals) written as one immutable state
 * document, instead of a new revision of every entry document (or a new document for each
 * copy). A 10,000-entry STORE wrote 10,000 sealed revisions (about 5x Dovecot's whole STORE,
 * most of it in PouchDB's update path) and replicated 10,000 documents; as marks it is a
 * handful, on the device and on the wire.
 *
 * A marks document carries registers like an entry's flags and expunge, all with one stamp,
 * so it merges with the entries the way their revisions merge with each other: field by
 * field, newest stamp wins, in any order. The index shows every entry merged with the live
 * marks naming it, and an entry a marks document makes as if its first revision had arrived
 * (its document is written at its first update of its own).
 *
 * Marks are a lasting layer over the entry documents, not folded into them: writing every
 * marked entry again cost as much as the STORE it saved, peaked the process's memory, and
 * replicated every entry anyway. The index keeps the list of live marks with its feed
 * position and reads them again on open. When many pile up they are consolidated
 * (marks-consolidation.ts): a few documents holding the newest register per entry and flag,
 * grouped in `parts` by stamp, replace them. Merging is idempotent, so two devices
 * consolidating the same marks at once only leave two documents saying the same.
 */
import { type EntryMeta, type Register, mergeRegister, mergeRegisters } from './kinds.js';
import type { Stamp } from '../util/hlc.js';

export interface MarksMeta {
  /** The stamp of every register this document sets (of a consolidation: when it was made). */
  stamp: Stamp;
  /** [flag, value, logical ids of the entries it is set on]. */
  flags: Array<[string, boolean, string[]]>;
  /** Entries expunged: [logical id] or, for a MOVE, [logical id, the entry it moved to]. */
  expunged?: Array<[string] | [string, string]>;
  /** Entries made (a COPY's or MOVE's copies): [logical id, mailbox, message, size, date, flags]. */
  created?: Array<[string, string, string, number, number, string[]]>;
  /** A consolidation's registers, one part per stamp (parts have no parts). */
  parts?: MarksMeta[];
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
  const own = (meta.created ?? []).map(([logical, mailbox, message, size, date, flags]) => ({
    logical,
    meta: { mailbox, message, size, date, flags: Object.fromEntries(flags.map((f) => [f, [true, meta.stamp]])), expunged: [false, meta.stamp] } as EntryMeta,
  }));
  return meta.parts ? [...own, ...meta.parts.flatMap(createdEntries)] : own;
}

/** What a marks document sets, per entry. */
export function markedEntries(meta: MarksMeta): Map<string, Marked> {
  const out = new Map<string, Marked>();
  for (const part of meta.parts ?? []) for (const [logical, m] of markedEntries(part)) out.set(logical, mergeMarked(out.get(logical), m));
  const of = (logical: string) => {
    let m = out.get(logical);
    if (!m) out.set(logical, (m = { flags: {} }));
    return m;
  };
  // Registers of this document's own stamp, merged: a consolidation's parts may name an entry too.
  const set = (logical: string, flag: string, reg: Register<boolean>) => {
    const m = of(logical);
    const cur = m.flags[flag];
    m.flags[flag] = cur ? mergeRegister(cur, reg) : reg;
  };
  for (const [logical, , , , , flags] of meta.created ?? []) {
    for (const flag of flags) set(logical, flag, [true, meta.stamp]);
    const m = of(logical);
    m.expunged = m.expunged ? mergeRegister(m.expunged, [false, meta.stamp]) : [false, meta.stamp];
  }
  for (const [flag, value, logicals] of meta.flags) for (const logical of logicals) set(logical, flag, [value, meta.stamp]);
  for (const [logical, moved] of meta.expunged ?? []) {
    const m = of(logical);
    m.expunged = m.expunged ? mergeRegister(m.expunged, [true, meta.stamp]) : [true, meta.stamp];
    if (moved !== undefined && (m.moved === undefined || moved < m.moved)) m.moved = moved;
  }
  return out;
}

/** Two marks on one entry merged, as its revisions would merge. */
function mergeMarked(a: Marked | undefined, b: Marked): Marked {
  if (!a) return b;
  if (covers(a, b)) return a;
  const out: Marked = { flags: mergeRegisters(a.flags, b.flags) };
  const expunged = a.expunged && b.expunged ? mergeRegister(a.expunged, b.expunged) : (a.expunged ?? b.expunged);
  if (expunged) out.expunged = expunged;
  const moved = [a.moved, b.moved].filter((x): x is string => x !== undefined).sort()[0];
  if (moved !== undefined) out.moved = moved;
  return out;
}

/** Whether `b` adds nothing to `a` (a consolidation's registers, taken in: every one of them). */
function covers(a: Marked, b: Marked): boolean {
  for (const flag in b.flags) {
    const cur = a.flags[flag];
    if (!cur || mergeRegister(cur, b.flags[flag]!) !== cur) return false;
  }
  if (b.expunged && (!a.expunged || mergeRegister(a.expunged, b.expunged) !== a.expunged)) return false;
  return b.moved === undefined || (a.moved !== undefined && a.moved <= b.moved);
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

/**
 * Marks documents holding what `marked` sets (per entry, merged) and the entries `made` makes
 * (as their first revisions would hold them): the registers grouped by stamp into parts,
 * MARKS_PER_DOC entries a document, each document stamped `stamp`.
 */
export function consolidated(marked: Map<string, Marked>, made: Map<string, EntryMeta>, stamp: () => Stamp): MarksMeta[] {
  // The entries made first, in the order they were made: a device that learns of them from
  // here alone gives them UIDs in that order, as the device that copied them did.
  const logicals = [...new Set([...made.keys(), ...marked.keys()])];
  const out: MarksMeta[] = [];
  for (let i = 0; i < logicals.length; i += MARKS_PER_DOC) {
    const parts = new Map<Stamp, MarksMeta>();
    const part = (s: Stamp) => {
      let p = parts.get(s);
      if (!p) parts.set(s, (p = { stamp: s, flags: [] }));
      return p;
    };
    const groups = new Map<string, [string, boolean, string[]]>();
    for (const logical of logicals.slice(i, i + MARKS_PER_DOC)) {
      const m = marked.get(logical);
      const c = made.get(logical);
      const madeAt = c?.expunged[1];
      if (c && madeAt !== undefined) {
        const flags = Object.keys(c.flags).filter((f) => c.flags[f]![0] && c.flags[f]![1] === madeAt).sort();
        (part(madeAt).created ??= []).push([logical, c.mailbox, c.message, c.size, c.date, flags]);
      }
      for (const [flag, [value, s]] of Object.entries(m?.flags ?? {})) {
        if (s === madeAt && value && c?.flags[flag]?.[0] === true) continue; // the creation says it
        const key = `${s}\u0000${value ? '+' : '-'}${flag}`;
        let group = groups.get(key);
        if (!group) {
          groups.set(key, (group = [flag, value, []]));
          part(s).flags.push(group);
        }
        group[2].push(logical);
      }
      // Marks only ever expunge; an entry they make starts unexpunged, which its creation says.
      if (m?.expunged?.[0]) (part(m.expunged[1]).expunged ??= []).push(m.moved === undefined ? [logical] : [logical, m.moved]);
    }
    out.push({ stamp: stamp(), flags: [], parts: [...parts.values()].sort((a, b) => (a.stamp < b.stamp ? -1 : 1)) });
  }
  return out;
}

const FIELDS = new Set(['stamp', 'flags', 'expunged', 'created', 'parts']);

/**
 * Whether this version knows every field of `meta`. One it does not (written by a later
 * version) is shown for what it knows but never consolidated, which would drop the rest.
 */
function understood(meta: MarksMeta, depth = 0): boolean {
  for (const key of Object.keys(meta)) if (!FIELDS.has(key) || (key === 'parts' && depth > 0)) return false;
  return (meta.parts ?? []).every((p) => understood(p, depth + 1));
}

interface Live {
  rev: string;
  /** Every field known (understood()): it may be consolidated. */
  known: boolean;
  regs: Map<string, Marked>;
  /** The entries it makes, as their first revision would hold them. */
  created: Map<string, EntryMeta>;
}

/** The marks documents the index has applied and not seen deleted (by a consolidation). */
export class LiveMarks {
  readonly #live = new Map<string, Live>();
  /** Per entry, what every live marks document naming it sets, merged. */
  readonly #marked = new Map<string, Marked>();

  get size(): number {
    return this.#live.size;
  }

  has(id: string): boolean {
    return this.#live.has(id);
  }

  /** How many live documents a consolidation would replace (those of a known shape). */
  get consolidable(): number {
    let n = 0;
    for (const l of this.#live.values()) if (l.known) n++;
    return n;
  }

  /** How many documents a consolidation of the live marks would write (MARKS_PER_DOC entries each). */
  get consolidatedSize(): number {
    return Math.ceil(this.#marked.size / MARKS_PER_DOC);
  }

  /** The live documents, [id, revision], as the index persists them with its feed position. */
  list(): Array<[string, string]> {
    return [...this.#live].map(([id, l]) => [id, l.rev]);
  }

  /** Take a marks document in; returns what it sets, per entry. */
  add(id: string, rev: string, meta: MarksMeta): Map<string, Marked> {
    const regs = markedEntries(meta);
    if (this.#live.has(id)) {
      this.#live.get(id)!.rev = rev;
      return regs;
    }
    this.#live.set(id, { rev, known: understood(meta), regs, created: new Map(createdEntries(meta).map((c) => [c.logical, c.meta])) });
    for (const [logical, r] of regs) this.#marked.set(logical, mergeMarked(this.#marked.get(logical), r));
    return regs;
  }

  /** What live marks set on an entry. */
  regs(logical: string): Marked | undefined {
    return this.#marked.get(logical);
  }

  /**
   * `ids` were consolidated here into documents already added: what they set is live in those,
   * so what is merged per entry stays as it is (gone() would merge it all again).
   */
  replaced(ids: string[]): void {
    for (const id of ids) this.#live.delete(id);
  }

  /** The entries live document `id` names. */
  named(id: string): string[] {
    return [...(this.#live.get(id)?.regs.keys() ?? [])];
  }

  /** `id` was deleted (consolidated, here or on another device). */
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

  /**
   * What a consolidation replaces: the live documents of a known shape, what they set per
   * entry (merged) and the entries they make. With one of an unknown shape live, what is
   * merged per entry is recomputed from the others (it stays beside the consolidation).
   */
  snapshot(): { docs: Array<[string, string]>; marked: Map<string, Marked>; made: Map<string, EntryMeta> } {
    const known = [...this.#live].filter(([, l]) => l.known);
    let marked = this.#marked;
    if (known.length < this.#live.size) {
      marked = new Map();
      for (const [, l] of known) for (const [logical, r] of l.regs) marked.set(logical, mergeMarked(marked.get(logical), r));
    }
    const made = new Map<string, EntryMeta>();
    // In the order the documents were taken in, and each one's in its order: the order made.
    for (const [, l] of known) for (const [logical, meta] of l.created) if (!made.has(logical) || meta.expunged[1] < made.get(logical)!.expunged[1]) made.set(logical, meta);
    return { docs: known.map(([id, l]) => [id, l.rev]), marked: new Map(marked), made };
  }
}
