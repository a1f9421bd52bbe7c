import { AUTHENTICATED, command } from '../command.js';
import { ImapError } from '../types.js';

// append = "APPEND" SP mailbox [SP flag-list] [SP date-time] SP literal
export const append = command({
  name: 'APPEND',
  states: AUTHENTICATED,
  parse(s) {
    s.sp();
    const mailbox = s.mailbox();
    s.sp();
    let flags: string[] = [];
    let date: Date | undefined;
    if (s.peek() === 0x28) {
      flags = s.flagList();
      s.sp();
    }
    if (s.peek() === 0x22) {
      date = s.dateTime();
      s.sp();
    }
    const message = s.string();
    s.end();
    if (flags.some((f) => f.toLowerCase() === '\\recent')) throw new ImapError('BAD', '\\Recent cannot be set');
    return { mailbox, flags, date, message };
  },
  async run(ctx, { mailbox, flags, date, message }) {
    const names = (await ctx.session.account!.list()).map((m) => m.name.toLowerCase());
    if (!names.includes(mailbox.toLowerCase())) throw new ImapError('NO', `Mailbox ${mailbox} does not exist`, 'TRYCREATE');
    const { uidValidity, uid } = await ctx.session.account!.append(mailbox, message, { flags, ...(date ? { date } : {}) });
    return { code: `APPENDUID ${uidValidity} ${uid}`, text: 'APPEND completed' };
  },
});
