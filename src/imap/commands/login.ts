import { command, NOT_AUTHENTICATED } from '../command.js';

// login = "LOGIN" SP userid SP password ; userid = astring ; password = astring
// Credentials are never logged (STYLE 6).
export const login = command({
  name: 'LOGIN',
  states: NOT_AUTHENTICATED,
  parse(s) {
    s.sp();
    const user = s.astring();
    s.sp();
    const password = s.astring();
    s.end();
    return { user, password };
  },
  async run(ctx, { user, password }) {
    await ctx.session.login(user, password);
    return { code: `CAPABILITY ${ctx.session.capabilities().join(' ')}`, text: 'Logged in' };
  },
});
