import { AUTHENTICATED, command } from '../command.js';

// namespace = "NAMESPACE" — one personal namespace, "/" between levels (RFC 2342).
export const namespace = command({
  name: 'NAMESPACE',
  states: AUTHENTICATED,
  parse: (s) => s.end(),
  async run(ctx) {
    ctx.send('* NAMESPACE (("" "/")) NIL NIL\r\n');
  },
});
