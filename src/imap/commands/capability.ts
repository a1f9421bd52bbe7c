import { ANY, command } from '../command.js';

// capability = "CAPABILITY"
export const capability = command({
  name: 'CAPABILITY',
  states: ANY,
  parse: (s) => s.end(),
  async run(ctx) {
    ctx.send(`* CAPABILITY ${ctx.session.capabilities().join(' ')}\r\n`);
  },
});
