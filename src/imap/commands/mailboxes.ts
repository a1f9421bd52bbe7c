/**
 * The commands that manage mailboxes by name. Each is a few lines over the backend port, so
 * they share a file rather than making five of twenty lines.
 */
import { AUTHENTICATED, command } from '../command.js';
import type { Scanner } from '../wire/scanner.js';

function oneMailbox(s: Scanner): string {
  s.sp();
  const name = s.mailbox();
  s.end();
  return name;
}

// create = "CREATE" SP mailbox [create-params]   (RFC 6154 USE is accepted: CREATE x (USE (\Sent)))
export const create = command({
  name: 'CREATE',
  states: AUTHENTICATED,
  parse(s) {
    s.sp();
    const name = s.mailbox();
    let use: string | null = null;
    if (s.tryChar(' ')) {
      s.expect('(');
      if (s.atomUpper() === 'USE') {
        s.sp();
        use = s.list((x) => x.flag())[0] ?? null;
      }
      s.expect(')');
    }
    s.end();
    return { name, use };
  },
  async run(ctx, { name, use }) {
    await ctx.session.account!.create(name, use);
  },
});

// delete = "DELETE" SP mailbox
export const del = command({
  name: 'DELETE',
  states: AUTHENTICATED,
  parse: oneMailbox,
  async run(ctx, name) {
    if (ctx.session.selected?.mailbox.name === name) await ctx.session.unselect();
    await ctx.session.account!.delete(name);
  },
});

// rename = "RENAME" SP mailbox SP mailbox
export const rename = command({
  name: 'RENAME',
  states: AUTHENTICATED,
  parse(s) {
    s.sp();
    const from = s.mailbox();
    s.sp();
    const to = s.mailbox();
    s.end();
    return { from, to };
  },
  async run(ctx, { from, to }) {
    await ctx.session.account!.rename(from, to);
  },
});

// subscribe = "SUBSCRIBE" SP mailbox ; unsubscribe = "UNSUBSCRIBE" SP mailbox
export const subscribe = command({
  name: 'SUBSCRIBE',
  states: AUTHENTICATED,
  parse: oneMailbox,
  run: async (ctx, name) => ctx.session.account!.subscribe(name, true),
});

export const unsubscribe = command({
  name: 'UNSUBSCRIBE',
  states: AUTHENTICATED,
  parse: oneMailbox,
  run: async (ctx, name) => ctx.session.account!.subscribe(name, false),
});
