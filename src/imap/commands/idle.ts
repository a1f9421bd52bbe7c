import { command, AUTHENTICATED } from '../command.js';

// idle = "IDLE" CRLF "DONE"   (RFC 2177) — the session answers the tagged OK after DONE.
export const idle = command({
  name: 'IDLE',
  states: AUTHENTICATED,
  parse: (s) => s.end(),
  async run(ctx) {
    await ctx.session.idle(ctx.tag);
  },
});
