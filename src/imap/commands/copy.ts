import { command, SELECTED, type CommandContext } from '../command.js';
import { ImapError, type SequenceSet } from '../types.js';
import type { Scanner } from '../wire/scanner.js';

interface CopyArgs {
  set: SequenceSet;
  mailbox: string;
}

// copy = "COPY" SP sequence-set SP mailbox ; move = "MOVE" SP sequence-set SP mailbox (RFC 6851)
function parseCopy(s: Scanner): CopyArgs {
  s.sp();
  const set = s.sequenceSet();
  s.sp();
  const mailbox = s.mailbox();
  s.end();
  return { set, mailbox };
}

function copyUid(uidValidity: number, mapping: Array<[number, number]>): string {
  // COPYUID lists source and destination UIDs in corresponding order.
  return `COPYUID ${uidValidity} ${mapping.map(([a]) => a).join(',')} ${mapping.map(([, b]) => b).join(',')}`;
}

async function run(ctx: CommandContext, { set, mailbox }: CopyArgs, move: boolean) {
  const view = ctx.session.selected!;
  const uids = view.resolve(set, ctx.uid);
  if (move && view.readOnly) throw new ImapError('NO', 'The mailbox is read-only', 'READ-ONLY');
  if (uids.length === 0) return { text: 'No messages matched' };
  const result = move ? await view.mailbox.move(uids, mailbox) : await view.mailbox.copy(uids, mailbox);
  const code = copyUid(result.uidValidity, result.mapping);
  if (!move) return { code, text: 'COPY completed' };
  // MOVE: COPYUID goes in an untagged OK before the EXPUNGEs (RFC 6851 §4.3).
  ctx.send(`* OK [${code}] Moved\r\n`);
  return { text: 'MOVE completed' };
}

export const copy = command({ name: 'COPY', states: SELECTED, parse: parseCopy, run: (ctx, a) => run(ctx, a, false) });
export const move = command({ name: 'MOVE', states: SELECTED, parse: parseCopy, run: (ctx, a) => run(ctx, a, true) });
