import type { MailboxStatus } from '../backend.js';
import { AUTHENTICATED, command, type CommandContext } from '../command.js';
import { ImapError } from '../types.js';
import { mailboxName } from '../wire/encode.js';

const ITEMS: Record<string, (s: MailboxStatus) => number> = {
  MESSAGES: (s) => s.messages,
  RECENT: (s) => s.recent,
  UIDNEXT: (s) => s.uidNext,
  UIDVALIDITY: (s) => s.uidValidity,
  UNSEEN: (s) => s.unseen,
  HIGHESTMODSEQ: (s) => s.highestModseq,
  SIZE: (s) => s.size,
};

export function checkStatusItems(items: string[]): string[] {
  for (const item of items) if (!(item in ITEMS)) throw new ImapError('BAD', `Unknown STATUS item ${item}`);
  return items;
}

export async function sendStatus(ctx: CommandContext, name: string, items: string[]): Promise<void> {
  const status = await ctx.session.account!.status(name);
  ctx.send(`* STATUS ${mailboxName(name)} (${items.map((i) => `${i} ${ITEMS[i]!(status)}`).join(' ')})\r\n`);
}

// status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"
export const status = command({
  name: 'STATUS',
  states: AUTHENTICATED,
  parse(s) {
    s.sp();
    const name = s.mailbox();
    s.sp();
    const items = checkStatusItems(s.list((x) => x.atomUpper()));
    s.end();
    return { name, items };
  },
  async run(ctx, { name, items }) {
    await sendStatus(ctx, name, items);
  },
});
