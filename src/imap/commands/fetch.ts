import type { MessageRecord } from '../backend.js';
import { command, SELECTED, type CommandContext } from '../command.js';
import { ImapError, type FetchItem, type FetchModifiers, type Section, type SequenceSet } from '../types.js';
import { compressSet, flagList, literal, type Chunk } from '../wire/encode.js';
import { parseFetch } from '../wire/fetch.js';
import { astring } from '../wire/encode.js';

interface FetchArgs {
  set: SequenceSet;
  items: FetchItem[];
  modifiers: FetchModifiers;
}

/** Messages loaded per batched read while answering a FETCH. */
const PREFETCH = 250;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE (UTC) */
export function imapDate(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `"${String(d.getUTCDate()).padStart(2, ' ')}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000"`;
}

/** The name a BODY[...] item is answered under: the section as asked, the partial's origin only. */
function sectionName(item: Extract<FetchItem, { kind: 'BODY[]' }>): string {
  if (item.legacy) return item.legacy;
  const s: Section = item.section;
  let spec = s.path.join('.');
  if (s.text) spec += `${spec ? '.' : ''}${s.text}`;
  if (s.fields) spec += ` (${s.fields.map((f) => astring(f.toUpperCase())).join(' ')})`;
  return `BODY[${spec}]${item.partial ? `<${item.partial.start}>` : ''}`;
}

// fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att /
//         "(" fetch-att *(SP fetch-att) ")") [fetch-modifiers]
export const fetch = command({
  name: 'FETCH',
  states: SELECTED,
  expungeDuring: (uid) => uid,
  parse(s): FetchArgs {
    s.sp();
    const set = s.sequenceSet();
    s.sp();
    const { items, modifiers } = parseFetch(s);
    s.end();
    return { set, items, modifiers };
  },
  async run(ctx: CommandContext, { set, items, modifiers }) {
    const session = ctx.session;
    const view = session.selected!;
    if (modifiers.vanished && (!ctx.uid || !session.enabled.has('QRESYNC') || modifiers.changedSince === undefined)) {
      throw new ImapError('BAD', 'VANISHED needs UID FETCH, CHANGEDSINCE and QRESYNC enabled');
    }
    let uids = view.resolve(set, ctx.uid);
    const wanted = [...items];
    if (ctx.uid && !wanted.some((i) => i.kind === 'UID')) wanted.unshift({ kind: 'UID' });
    if (modifiers.changedSince !== undefined) {
      session.enabled.add('CONDSTORE');
      uids = uids.filter((u) => view.records.get(u)!.modseq > modifiers.changedSince!);
      if (!wanted.some((i) => i.kind === 'MODSEQ')) wanted.push({ kind: 'MODSEQ' });
      if (modifiers.vanished) {
        const max = view.uids.at(-1) ?? 0;
        const inSetAsked = view.resolveAll(set, max);
        const present = new Set(view.uids);
        const gone: number[] = [];
        for (let u = 1; u < view.uidNext && gone.length < 100_000; u++) if (!present.has(u) && inSetAsked(u)) gone.push(u);
        if (gone.length) ctx.send(`* VANISHED (EARLIER) ${compressSet(gone)}\r\n`);
      }
    }
    if (modifiers.changedSince === undefined && session.enabled.has('CONDSTORE') && wanted.some((i) => i.kind === 'FLAGS') && !wanted.some((i) => i.kind === 'MODSEQ')) {
      wanted.push({ kind: 'MODSEQ' }); // RFC 7162 §3.2: once CONDSTORE is on, FLAGS come with MODSEQ
    }
    // Reading a body without PEEK sets \Seen (RFC 3501 §6.4.5); the new flags are reported.
    const setsSeen = !view.readOnly && wanted.some((i) => i.kind === 'BODY[]' && !i.peek);
    if (setsSeen) {
      const unseen = uids.filter((u) => !view.records.get(u)!.flags.includes('\\Seen'));
      if (unseen.length > 0) {
        await view.mailbox.store(unseen, 'add', ['\\Seen'], { origin: session.origin });
        session.flushChanges(false, session.origin);
        if (!wanted.some((i) => i.kind === 'FLAGS')) wanted.push({ kind: 'FLAGS' });
      }
    }
    const needsBytes = wanted.some((i) => i.kind === 'BODY[]');
    const needsStructure = wanted.some((i) => i.kind === 'ENVELOPE' || i.kind === 'BODYSTRUCTURE' || i.kind === 'BODY');
    if (!needsBytes && !needsStructure) {
      // Metadata only (the FLAGS sync every client does): answered from the view, no I/O,
      // built as one string.
      // `uids` usually ascend through the view: the next sequence number is checked first.
      let out = '';
      let at = -1;
      const seqs = view.uids;
      for (let i = 0; i < uids.length; i++) {
        const uid = uids[i]!;
        const r = view.records.get(uid);
        at = seqs[at + 1] === uid ? at + 1 : view.seqOf(uid) - 1;
        if (r && at >= 0) out += `* ${at + 1} FETCH (${cheapItems(wanted, uid, r)})\r\n`;
        if ((i & 2047) === 2047) {
          ctx.send(out);
          out = '';
        }
      }
      if (out) ctx.send(out);
      return;
    }
    let sent = 0;
    // The next batch loads while this one is answered, so reads overlap encoding and writing.
    // BODY (non-extensible) is not among the kept structures: it comes from the message.
    const onlyWhole = wanted.every((i) => i.kind !== 'BODY' && (i.kind !== 'BODY[]' || (i.section.path.length === 0 && !i.section.text)));
    const what = !needsBytes && onlyWhole ? 'structure' : onlyWhole ? 'whole' : 'content';
    const load = (from: number) => {
      const loading = view.mailbox.prefetch(uids.slice(from, from + PREFETCH), what);
      loading.catch(() => undefined); // awaited (and so reported) when its batch comes
      return loading;
    };
    let next = load(0);
    for (const [i, uid] of uids.entries()) {
      if (i % PREFETCH === 0) {
        await next;
        if (i + PREFETCH < uids.length) next = load(i + PREFETCH);
      }
      const record = view.records.get(uid);
      if (!record) continue;
      let parts: Chunk[];
      try {
        parts = await fetchOne(ctx, uid, wanted);
      } catch (err) {
        // Expunged by another session meanwhile: the client keeps its numbering; skip it.
        if (err instanceof ImapError && err.code === 'EXPUNGEISSUED') continue;
        throw err;
      }
      ctx.send(`* ${view.seqOf(uid)} FETCH (`, ...parts, ')\r\n');
      if (++sent % 64 === 0) await ctx.drain();
    }
  },
});

function cheapItems(items: FetchItem[], uid: number, r: MessageRecord): string {
  let out = '';
  for (const item of items) {
    if (out) out += ' ';
    if (item.kind === 'UID') out += `UID ${uid}`;
    else if (item.kind === 'FLAGS') out += `FLAGS ${flagList(r.flags)}`;
    else if (item.kind === 'MODSEQ') out += `MODSEQ (${r.modseq})`;
    else if (item.kind === 'INTERNALDATE') out += `INTERNALDATE ${imapDate(r.internalDate)}`;
    else if (item.kind === 'RFC822.SIZE') out += `RFC822.SIZE ${r.size}`;
  }
  return out;
}

async function fetchOne(ctx: CommandContext, uid: number, items: FetchItem[]): Promise<Chunk[]> {
  const view = ctx.session.selected!;
  const mailbox = view.mailbox;
  const r = view.records.get(uid)!;
  const out: Chunk[] = [];
  for (const item of items) {
    if (out.length > 0) out.push(' ');
    switch (item.kind) {
      case 'UID':
        out.push(`UID ${uid}`);
        break;
      case 'FLAGS':
        out.push(`FLAGS ${flagList(r.flags)}`);
        break;
      case 'INTERNALDATE':
        out.push(`INTERNALDATE ${imapDate(r.internalDate)}`);
        break;
      case 'RFC822.SIZE':
        out.push(`RFC822.SIZE ${r.size}`);
        break;
      case 'MODSEQ':
        out.push(`MODSEQ (${r.modseq})`);
        break;
      case 'ENVELOPE':
        out.push(`ENVELOPE ${await mailbox.structure(uid, 'ENVELOPE')}`);
        break;
      case 'BODYSTRUCTURE':
        out.push(`BODYSTRUCTURE ${await mailbox.structure(uid, 'BODYSTRUCTURE')}`);
        break;
      case 'BODY':
        out.push(`BODY ${await mailbox.structure(uid, 'BODY')}`);
        break;
      case 'BODY[]': {
        if (item.binary) throw new ImapError('NO', 'BINARY is not supported', 'CANNOT');
        const data = await mailbox.section(uid, item.section, item.partial);
        out.push(`${sectionName(item)} `, ...literal(data));
        break;
      }
    }
  }
  return out;
}
