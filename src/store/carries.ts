/**
 * A message moved on one device while another changed its flags: the change lands on the
 * expunged original and is carried to the copy the move made, register by register, so it
 * wins there only where it is newer than what the copy holds. The index notes it whenever it
 * applies an expunged original that links to its copy, whichever way that came about: two
 * revisions merged (state.ts resolve), or an original edited elsewhere while its MOVE still
 * waited in marks (marks.ts), which leaves no conflict to merge. Written after the catch-up,
 * like replays, since the writes are applied through the index's own queue.
 */
import { type EntryMeta, mergeRegister, mergeRegisters, sameMeta } from './kinds.js';
import type { StateRepo } from './state.js';

export class Carries {
  /** Per copy, the registers to carry to it. */
  readonly #due = new Map<string, EntryMeta['flags']>();

  get size(): number {
    return this.#due.size;
  }

  /**
   * `original` was applied: when it is a MOVE's expunged original, note what of its flags the
   * copy (`copy`, as the index shows it) lacks. A flag off on the original and absent on the
   * copy is the same thing, and is not carried.
   */
  note(original: EntryMeta, copy: EntryMeta | undefined): void {
    if (!original.expunged[0] || original.moved === undefined || !copy) return;
    let regs: EntryMeta['flags'] | undefined;
    for (const [flag, reg] of Object.entries(original.flags)) {
      const cur = copy.flags[flag];
      if (cur ? mergeRegister(cur, reg) === cur : !reg[0]) continue;
      (regs ??= {})[flag] = reg;
    }
    if (regs) this.#due.set(original.moved, mergeRegisters(this.#due.get(original.moved) ?? {}, regs));
  }

  /** Write what was noted; `known` gives the copies' states the index holds. */
  async carry(state: StateRepo, known: (logical: string) => { id: string; rev: string; meta: EntryMeta } | undefined): Promise<void> {
    if (this.#due.size === 0) return;
    const due = new Map(this.#due);
    this.#due.clear();
    const states = new Map<string, { id: string; rev: string; meta: EntryMeta }>();
    for (const logical of due.keys()) {
      const k = known(logical);
      if (k) states.set(logical, k);
    }
    await state.update<EntryMeta>(
      'entry',
      [...states.keys()],
      (meta, _stamp, logical) => {
        const flags = mergeRegisters(meta.flags, due.get(logical)!);
        return sameMeta(flags, meta.flags) ? undefined : { ...meta, flags };
      },
      undefined,
      states,
    );
  }
}
