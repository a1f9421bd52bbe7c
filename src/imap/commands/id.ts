import { ANY, command } from '../command.js';
import { quoteString } from '../wire/structures.js';

// id = "ID" SP id-params-list ; id-params-list = "(" *(string SP nstring) ")" / nil   (RFC 2971)
// The client's values are read and dropped: they are not needed, and not logged.
export const id = command({
  name: 'ID',
  states: ANY,
  parse(s) {
    s.sp();
    if (s.tryChar('(')) {
      while (!s.tryChar(')')) {
        s.tryChar(' ');
        s.string();
        s.sp();
        s.nstring();
      }
    } else if (s.atomUpper() !== 'NIL') s.expect('(');
    s.end();
  },
  async run(ctx) {
    ctx.send(`* ID (${['name', 'Waxseal', 'vendor', 'Waxseal', 'support-url', 'https://localhost/'].map(quoteString).join(' ')})\r\n`);
  },
});
