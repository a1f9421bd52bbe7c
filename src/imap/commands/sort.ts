import { command, SELECTED } from '../command.js';
import { ImapError, type SearchKey } from '../types.js';
import { parseSearch } from '../wire/search.js';
import { toUidKeys } from './search.js';

const KEYS = new Set(['ARRIVAL', 'CC', 'DATE', 'FROM', 'SIZE', 'SUBJECT', 'TO', 'DISPLAYFROM', 'DISPLAYTO']);
const CHARSETS = new Set(['US-ASCII', 'UTF-8']);

function charset(name: string): void {
  if (!CHARSETS.has(name.toUpperCase())) throw new ImapError('NO', `Unsupported charset ${name}`, 'BADCHARSET (US-ASCII UTF-8)');
}

// sort = ["UID" SP] "SORT" SP sort-criteria SP search-criteria   (RFC 5256)
// sort-criteria = "(" sort-criterion *(SP sort-criterion) ")" ; sort-criterion = ["REVERSE" SP] sort-key
// search-criteria = charset 1*(SP search-key)
export const sort = command({
  name: 'SORT',
  states: SELECTED,
  expungeDuring: (uid) => uid,
  parse(s) {
    s.sp();
    const criteria = s.list((x) => {
      let key = x.atomUpper();
      let reverse = false;
      if (key === 'REVERSE') {
        reverse = true;
        x.sp();
        key = x.atomUpper();
      }
      if (!KEYS.has(key)) throw new ImapError('BAD', `Unknown sort key ${key.slice(0, 20)}`);
      return { key, reverse };
    });
    if (criteria.length === 0) throw new ImapError('BAD', 'Empty sort criteria');
    s.sp();
    const cs = s.astring();
    const { key } = parseSearch(s, { esearch: false });
    return { criteria, charset: cs, key };
  },
  async run(ctx, args: { criteria: Array<{ key: string; reverse: boolean }>; charset: string; key: SearchKey }) {
    charset(args.charset);
    const view = ctx.session.selected!;
    const found = await view.mailbox.search(toUidKeys(args.key, view), view.uids.filter((u) => !view.ghosts.has(u)));
    const sorted = await view.mailbox.sort(args.criteria, found);
    const numbers = ctx.uid ? sorted : sorted.map((u) => view.seqOf(u));
    ctx.send(`* SORT${numbers.map((n) => ` ${n}`).join('')}\r\n`);
  },
});

export { charset as checkCharset };
