import { command, SELECTED } from '../command.js';
import { ImapError, type SearchKey } from '../types.js';
import { encodeThreads, type ThreadTree } from '../wire/encode.js';
import { parseSearch } from '../wire/search.js';
import { toUidKeys } from './search.js';
import { checkCharset } from './sort.js';

type Algorithm = 'REFERENCES' | 'ORDEREDSUBJECT';

// thread = ["UID" SP] "THREAD" SP thread-alg SP search-criteria   (RFC 5256)
export const thread = command({
  name: 'THREAD',
  states: SELECTED,
  expungeDuring: (uid) => uid,
  parse(s) {
    s.sp();
    const algorithm = s.atomUpper();
    if (algorithm !== 'REFERENCES' && algorithm !== 'ORDEREDSUBJECT') throw new ImapError('BAD', `Unknown thread algorithm ${algorithm.slice(0, 20)}`);
    s.sp();
    const cs = s.astring();
    const { key } = parseSearch(s, { esearch: false });
    return { algorithm: algorithm as Algorithm, charset: cs, key };
  },
  async run(ctx, args: { algorithm: Algorithm; charset: string; key: SearchKey }) {
    checkCharset(args.charset);
    const view = ctx.session.selected!;
    const found = await view.mailbox.search(toUidKeys(args.key, view), view.uids.filter((u) => !view.ghosts.has(u)));
    const threads = await view.mailbox.thread(args.algorithm, found);
    // Sequence numbers for THREAD, UIDs for UID THREAD.
    const renumber = (t: ThreadTree): ThreadTree => ({ uid: t.uid === null || ctx.uid ? t.uid : view.seqOf(t.uid), children: t.children.map(renumber) });
    ctx.send(`* THREAD ${encodeThreads(ctx.uid ? threads : threads.map(renumber))}\r\n`);
  },
});
