import { AUTHENTICATED, command } from '../command.js';

const KNOWN = new Set(['CONDSTORE', 'QRESYNC']);

// enable = "ENABLE" 1*(SP capability)   (RFC 5161); QRESYNC implies CONDSTORE (RFC 7162 §3.2.3)
export const enable = command({
  name: 'ENABLE',
  states: AUTHENTICATED,
  parse(s) {
    const caps: string[] = [];
    do {
      s.sp();
      caps.push(s.atomUpper());
    } while (!s.atEnd());
    return caps;
  },
  async run(ctx, caps) {
    const now: string[] = [];
    for (const cap of caps) {
      if (!KNOWN.has(cap) || ctx.session.enabled.has(cap)) continue;
      ctx.session.enabled.add(cap);
      now.push(cap);
      if (cap === 'QRESYNC' && !ctx.session.enabled.has('CONDSTORE')) ctx.session.enabled.add('CONDSTORE');
    }
    ctx.send(`* ENABLED${now.map((c) => ` ${c}`).join('')}\r\n`);
  },
});
