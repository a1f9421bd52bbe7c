import { command, SELECTED } from '../command.js';

// close = "CLOSE" — expunges \Deleted silently (no EXPUNGE responses), then deselects.
export const close = command({
  name: 'CLOSE',
  states: SELECTED,
  parse: (s) => s.end(),
  async run(ctx) {
    const view = ctx.session.selected!;
    if (!view.readOnly) await view.mailbox.expunge();
    await ctx.session.unselect();
  },
});

// unselect = "UNSELECT" — deselect without expunging (RFC 3691).
export const unselect = command({
  name: 'UNSELECT',
  states: SELECTED,
  parse: (s) => s.end(),
  async run(ctx) {
    await ctx.session.unselect();
  },
});
