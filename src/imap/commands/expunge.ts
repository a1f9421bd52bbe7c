import { command, SELECTED } from '../command.js';
import { ImapError, type SequenceSet } from '../types.js';

// expunge = "EXPUNGE" ; uid-expunge = "UID" SP "EXPUNGE" SP sequence-set   (RFC 4315)
// The EXPUNGE (or VANISHED) responses come from the change feed, flushed after the command.
export const expunge = command({
  name: 'EXPUNGE',
  states: SELECTED,
  parse(s, { uid }) {
    let set: SequenceSet | undefined;
    if (uid) {
      s.sp();
      set = s.sequenceSet();
    }
    s.end();
    return set;
  },
  async run(ctx, set) {
    const view = ctx.session.selected!;
    if (view.readOnly) throw new ImapError('NO', 'The mailbox is read-only', 'READ-ONLY');
    await view.mailbox.expunge(set ? view.resolve(set, true) : undefined);
  },
});
