import { AUTHENTICATED, command, type CommandContext } from '../command.js';
import { ImapError, type SequenceSet } from '../types.js';
import type { Scanner } from '../wire/scanner.js';
import { compressSet, flagList } from '../wire/encode.js';

interface SelectArgs {
  mailbox: string;
  condstore: boolean;
  qresync?: { uidValidity: number; modseq: number; known?: SequenceSet };
}

// select = "SELECT" SP mailbox [SP "(" select-param *(SP select-param) ")"]   (RFC 4466, 7162)
// select-param = "CONDSTORE" / "QRESYNC" SP "(" uidvalidity SP mod-sequence-value
//                [SP known-uids] [SP seq-match-data] ")"
function parseSelect(s: Scanner): SelectArgs {
  s.sp();
  const args: SelectArgs = { mailbox: s.mailbox(), condstore: false };
  if (s.tryChar(' ')) {
    s.expect('(');
    do {
      const param = s.atomUpper();
      if (param === 'CONDSTORE') args.condstore = true;
      else if (param === 'QRESYNC') {
        s.sp();
        s.expect('(');
        const uidValidity = s.nzNumber();
        s.sp();
        const modseq = s.number64();
        let known: SequenceSet | undefined;
        if (s.tryChar(' ')) {
          if (s.peek() !== 0x28) known = s.sequenceSet();
          if (s.peek() === 0x28 || s.tryChar(' ')) {
            // seq-match-data = "(" known-sequence-set SP known-uid-set ")": only a hint; unused.
            s.expect('(');
            s.sequenceSet();
            s.sp();
            s.sequenceSet();
            s.expect(')');
          }
        }
        s.expect(')');
        args.qresync = { uidValidity, modseq, ...(known ? { known } : {}) };
      } else throw new ImapError('BAD', `Unknown SELECT parameter ${param}`);
    } while (s.tryChar(' '));
    s.expect(')');
  }
  s.end();
  return args;
}

async function open(ctx: CommandContext, args: SelectArgs, readOnly: boolean) {
  const session = ctx.session;
  if (args.qresync && !session.enabled.has('QRESYNC')) throw new ImapError('BAD', 'QRESYNC must be enabled first');
  if (args.condstore) session.enabled.add('CONDSTORE');
  try {
    await session.select(args.mailbox, readOnly);
  } catch (err) {
    await session.unselect(); // a failed SELECT leaves no mailbox selected (RFC 3501)
    throw err;
  }
  const view = session.selected!;
  const snap = view.mailbox.snapshot();
  const firstUnseen = view.uids.findIndex((u) => !view.records.get(u)!.flags.includes('\\Seen'));
  const lines = [
    `* FLAGS ${flagList(snap.flags)}\r\n`,
    `* OK [PERMANENTFLAGS ${readOnly ? '()' : flagList([...snap.flags, '\\*'])}] Flags permitted\r\n`,
    `* ${view.exists} EXISTS\r\n`,
    '* 0 RECENT\r\n',
    ...(firstUnseen >= 0 ? [`* OK [UNSEEN ${firstUnseen + 1}] First unseen\r\n`] : []),
    `* OK [UIDVALIDITY ${view.uidValidity}] UIDs valid\r\n`,
    `* OK [UIDNEXT ${view.uidNext}] Predicted next UID\r\n`,
    `* OK [HIGHESTMODSEQ ${view.highestModseq}] Highest\r\n`,
  ];
  ctx.send(...lines);
  const q = args.qresync;
  if (q && q.uidValidity === view.uidValidity) {
    // Without a per-UID expunge log, VANISHED (EARLIER) names every UID below UIDNEXT the
    // mailbox no longer has (RFC 7162 allows UIDs the client never knew), within known-uids.
    const present = new Set(view.uids);
    const max = view.uidNext - 1;
    const inKnown = q.known ? view.resolveAll(q.known, max) : undefined;
    const gone: number[] = [];
    for (let u = 1; u <= max && gone.length < 100_000; u++) if (!present.has(u) && (!inKnown || inKnown(u))) gone.push(u);
    if (gone.length > 0) ctx.send(`* VANISHED (EARLIER) ${compressSet(gone)}\r\n`);
    for (const uid of view.uids) {
      if (view.records.get(uid)!.modseq > q.modseq) ctx.send(view.fetchFlagsLine(uid, { condstore: true, withUid: true }));
    }
  }
  return { code: readOnly ? 'READ-ONLY' : 'READ-WRITE', text: `${readOnly ? 'EXAMINE' : 'SELECT'} completed` };
}

export const select = command({ name: 'SELECT', states: AUTHENTICATED, parse: parseSelect, run: (ctx, a) => open(ctx, a, false) });
export const examine = command({ name: 'EXAMINE', states: AUTHENTICATED, parse: parseSelect, run: (ctx, a) => open(ctx, a, true) });
