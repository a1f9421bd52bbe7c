import { command, SELECTED } from '../command.js';
import { ImapError, type SequenceSet, type StoreMode } from '../types.js';
import { compressSet } from '../wire/encode.js';

interface StoreArgs {
  set: SequenceSet;
  unchangedSince?: number;
  mode: StoreMode;
  silent: boolean;
  flags: string[];
}

// store = "STORE" SP sequence-set [store-modifiers] SP store-att-flags
// store-modifiers = SP "(" "UNCHANGEDSINCE" SP mod-sequence-valzer ")"      (RFC 7162)
// store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))
export const store = command({
  name: 'STORE',
  states: SELECTED,
  expungeDuring: (uid) => uid,
  parse(s): StoreArgs {
    s.sp();
    const set = s.sequenceSet();
    s.sp();
    let unchangedSince: number | undefined;
    if (s.tryChar('(')) {
      if (s.atomUpper() !== 'UNCHANGEDSINCE') throw new ImapError('BAD', 'Expected UNCHANGEDSINCE');
      s.sp();
      unchangedSince = s.number64();
      s.expect(')');
      s.sp();
    }
    const item = s.atomUpper();
    const m = /^([+-]?)FLAGS(\.SILENT)?$/.exec(item);
    if (!m) throw new ImapError('BAD', `Unknown STORE item ${item.slice(0, 40)}`);
    s.sp();
    let flags: string[];
    if (s.peek() === 0x28) flags = s.flagList();
    else {
      flags = [s.flag()];
      while (s.tryChar(' ')) flags.push(s.flag());
    }
    s.end();
    if (flags.some((f) => f.toLowerCase() === '\\recent')) throw new ImapError('BAD', '\\Recent cannot be stored');
    return { set, ...(unchangedSince !== undefined ? { unchangedSince } : {}), mode: m[1] === '+' ? 'add' : m[1] === '-' ? 'remove' : 'set', silent: !!m[2], flags };
  },
  async run(ctx, args) {
    const session = ctx.session;
    const view = session.selected!;
    if (view.readOnly) throw new ImapError('NO', 'The mailbox is read-only', 'READ-ONLY');
    const uids = view.resolve(args.set, ctx.uid).filter((u) => !view.ghosts.has(u));
    const condstore = args.unchangedSince !== undefined || session.enabled.has('CONDSTORE');
    if (args.unchangedSince !== undefined) session.enabled.add('CONDSTORE');
    const { failed } = await view.mailbox.store(uids, args.mode, args.flags, {
      ...(args.unchangedSince !== undefined ? { unchangedSince: args.unchangedSince } : {}),
      origin: session.origin,
    });
    // Our own change updates the view without its own FETCH; other sessions' changes still show.
    session.flushChanges(false, session.origin);
    if (!args.silent || condstore) {
      const failedSet = new Set(failed);
      for (const uid of uids) {
        if (failedSet.has(uid)) continue;
        // .SILENT with CONDSTORE still reports the new MODSEQ (RFC 7162 §3.1.3), without FLAGS.
        if (args.silent) ctx.send(`* ${view.seqOf(uid)} FETCH (${ctx.uid ? `UID ${uid} ` : ''}MODSEQ (${view.records.get(uid)!.modseq}))\r\n`);
        else ctx.send(view.fetchFlagsLine(uid, { condstore, withUid: ctx.uid }));
      }
    }
    if (failed.length > 0) {
      const set = ctx.uid ? failed : failed.map((u) => view.seqOf(u));
      return { code: `MODIFIED ${compressSet(set.sort((a, b) => a - b))}`, text: 'Some messages were modified meanwhile' };
    }
  },
});
