import { ANY, command, SELECTED } from '../command.js';

// noop = "NOOP" — its point is the untagged updates the session flushes after every command.
export const noop = command({ name: 'NOOP', states: ANY, parse: (s) => s.end(), run: async () => undefined });

// check = "CHECK" — nothing to checkpoint: every change is durable when its command completes.
export const check = command({ name: 'CHECK', states: SELECTED, parse: (s) => s.end(), run: async () => undefined });
