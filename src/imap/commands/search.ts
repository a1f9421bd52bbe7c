import { command, SELECTED, type CommandContext } from '../command.js';
import type { SearchKey, SearchReturn, SequenceSet } from '../types.js';
import { compressSet } from '../wire/encode.js';
import { parseSearch } from '../wire/search.js';
import type { SelectedView } from '../session/selected.js';

/** Sequence-number keys become UID keys here: the backend never sees sequence numbers. */
export function toUidKeys(key: SearchKey, view: SelectedView): SearchKey {
  switch (key.kind) {
    case 'seq':
      return { kind: 'uid', set: uidSet(view.resolve(key.set, false)) };
    case 'uid':
      return key.set.saved ? { kind: 'uid', set: uidSet(view.resolve(key.set, true)) } : key;
    case 'not':
      return { kind: 'not', key: toUidKeys(key.key, view) };
    case 'or':
      return { kind: 'or', a: toUidKeys(key.a, view), b: toUidKeys(key.b, view) };
    case 'and':
      return { kind: 'and', keys: key.keys.map((k) => toUidKeys(k, view)) };
    default:
      return key;
  }
}

function uidSet(uids: number[]): SequenceSet {
  return { ranges: uids.map((u) => [u, u] as [number, number]) };
}

function usesModseq(key: SearchKey): boolean {
  if (key.kind === 'modseq') return true;
  if (key.kind === 'not') return usesModseq(key.key);
  if (key.kind === 'or') return usesModseq(key.a) || usesModseq(key.b);
  if (key.kind === 'and') return key.keys.some(usesModseq);
  return false;
}

// search = "SEARCH" [search-return-opts] SP search-program   (RFC 4731 ESEARCH, RFC 5182 SAVE)
export const search = command({
  name: 'SEARCH',
  states: SELECTED,
  expungeDuring: (uid) => uid,
  parse: (s) => {
    const parsed = parseSearch(s, { esearch: true });
    s.end();
    return parsed;
  },
  async run(ctx: CommandContext, args: { charset?: string; returns?: SearchReturn[]; key: SearchKey }) {
    const view = ctx.session.selected!;
    const key = toUidKeys(args.key, view);
    const candidates = view.uids.filter((u) => !view.ghosts.has(u));
    const found = await view.mailbox.search(key, candidates);
    const numbers = ctx.uid ? found : found.map((u) => view.seqOf(u));
    const modseq = usesModseq(args.key) && found.length > 0 ? Math.max(...found.map((u) => view.records.get(u)!.modseq)) : undefined;
    if (modseq !== undefined) ctx.session.enabled.add('CONDSTORE');
    if (args.returns === undefined) {
      ctx.send(`* SEARCH${numbers.map((n) => ` ${n}`).join('')}${modseq !== undefined ? ` (MODSEQ ${modseq})` : ''}\r\n`);
      return;
    }
    const returns = args.returns.length === 0 ? ['ALL'] : args.returns;
    if (returns.includes('SAVE')) view.saved = found;
    const parts: string[] = [];
    if (returns.includes('MIN') && numbers.length) parts.push(`MIN ${numbers[0]}`);
    if (returns.includes('MAX') && numbers.length) parts.push(`MAX ${numbers.at(-1)}`);
    if (returns.includes('ALL') && numbers.length) parts.push(`ALL ${compressSet(numbers)}`);
    if (returns.includes('COUNT')) parts.push(`COUNT ${numbers.length}`);
    if (modseq !== undefined) parts.push(`MODSEQ ${modseq}`);
    // With only SAVE, no ESEARCH response is sent (RFC 5182 §2.4).
    if (returns.length === 1 && returns[0] === 'SAVE') return;
    ctx.send(`* ESEARCH (TAG "${ctx.tag}")${ctx.uid ? ' UID' : ''}${parts.map((p) => ` ${p}`).join('')}\r\n`);
  },
});
