import { command, NOT_AUTHENTICATED } from '../command.js';

// starttls = "STARTTLS" — the session writes the tagged OK itself, then upgrades; anything the
// client pipelined after the command is discarded (RFC 3501 §6.2.1, command injection).
export const starttls = command({
  name: 'STARTTLS',
  states: NOT_AUTHENTICATED,
  parse: (s) => s.end(),
  async run(ctx) {
    await ctx.session.startTls(ctx.tag);
  },
});
