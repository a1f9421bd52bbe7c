import { ANY, command } from '../command.js';
import { taggedResponse } from '../wire/encode.js';

// logout = "LOGOUT"
export const logout = command({
  name: 'LOGOUT',
  states: ANY,
  parse: (s) => s.end(),
  async run(ctx) {
    ctx.send('* BYE Waxseal logging out\r\n', taggedResponse(ctx.tag, 'OK', 'LOGOUT completed'));
    ctx.session.logout();
  },
});
