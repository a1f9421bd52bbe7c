import type { MailboxInfo } from '../backend.js';
import { AUTHENTICATED, command, type CommandContext } from '../command.js';
import { ImapError } from '../types.js';
import type { Scanner } from '../wire/scanner.js';
import { mailboxName } from '../wire/encode.js';
import { checkStatusItems, sendStatus } from './status.js';

interface ListArgs {
  reference: string;
  patterns: string[];
  subscribedOnly: boolean;
  specialUseOnly: boolean;
  recursiveMatch: boolean;
  returnSubscribed: boolean;
  returnStatus?: string[];
  lsub: boolean;
}

// list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]  (RFC 5258)
// mbox-or-pat = list-mailbox / patterns ; patterns = "(" list-mailbox *(SP list-mailbox) ")"
// list-return-opts = "RETURN" SP "(" [return-option *(SP return-option)] ")"
function parseList(s: Scanner, lsub: boolean): ListArgs {
  const args: ListArgs = { reference: '', patterns: [], subscribedOnly: lsub, specialUseOnly: false, recursiveMatch: false, returnSubscribed: false, lsub };
  s.sp();
  if (!lsub && s.peek() === 0x28) {
    for (const opt of s.list((x) => x.atomUpper())) {
      if (opt === 'SUBSCRIBED') args.subscribedOnly = args.returnSubscribed = true;
      else if (opt === 'SPECIAL-USE') args.specialUseOnly = true;
      else if (opt === 'RECURSIVEMATCH') args.recursiveMatch = true;
      else if (opt !== 'REMOTE') throw new ImapError('BAD', `Unknown LIST selection option ${opt}`);
    }
    if (args.recursiveMatch && !args.subscribedOnly) throw new ImapError('BAD', 'RECURSIVEMATCH needs another selection option');
    s.sp();
  }
  args.reference = s.mailbox();
  s.sp();
  args.patterns = s.peek() === 0x28 && !lsub ? s.list((x) => x.listMailbox()) : [s.listMailbox()];
  if (!lsub && s.tryChar(' ')) {
    if (s.atomUpper() !== 'RETURN') throw new ImapError('BAD', 'Expected RETURN');
    s.sp();
    s.expect('(');
    while (!s.tryChar(')')) {
      s.tryChar(' ');
      const opt = s.atomUpper();
      if (opt === 'SUBSCRIBED') args.returnSubscribed = true;
      else if (opt === 'STATUS') {
        s.sp();
        args.returnStatus = checkStatusItems(s.list((x) => x.atomUpper()));
      } else if (opt !== 'CHILDREN' && opt !== 'SPECIAL-USE') throw new ImapError('BAD', `Unknown LIST return option ${opt}`);
    }
  }
  s.end();
  return args;
}

/** "*" matches anything, "%" anything but the hierarchy delimiter (RFC 3501 §6.3.8). */
export function patternMatcher(reference: string, pattern: string): (name: string) => boolean {
  const full = pattern.startsWith('/') || reference === '' ? pattern : `${reference.replace(/\/$/, '')}/${pattern}`;
  const source = full
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '%' ? '[^/]*' : c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  const re = new RegExp(`^${source}$`, /^inbox/i.test(full) ? 'i' : '');
  return (name) => re.test(name) || (name === 'INBOX' && new RegExp(`^${source}$`, 'i').test(name));
}

async function runList(ctx: CommandContext, args: ListArgs): Promise<void> {
  if (args.patterns.length === 1 && args.patterns[0] === '') {
    ctx.send(`* ${args.lsub ? 'LSUB' : 'LIST'} (\\Noselect) "/" ""\r\n`);
    return;
  }
  const all = await ctx.session.account!.list();
  const names = new Set(all.map((m) => m.name));
  const matchers = args.patterns.map((p) => patternMatcher(args.reference, p));
  const hasChildren = (m: MailboxInfo) => all.some((o) => o.name.startsWith(`${m.name}/`));
  for (const m of all) {
    if (!matchers.some((match) => match(m.name))) continue;
    if (args.subscribedOnly && !m.subscribed) continue;
    if (args.specialUseOnly && !m.specialUse) continue;
    const attrs = [hasChildren(m) ? '\\HasChildren' : '\\HasNoChildren'];
    if (m.specialUse) attrs.push(m.specialUse);
    if (args.returnSubscribed && m.subscribed) attrs.push('\\Subscribed');
    ctx.send(`* ${args.lsub ? 'LSUB' : 'LIST'} (${attrs.join(' ')}) "/" ${mailboxName(m.name)}\r\n`);
    if (args.returnStatus && names.has(m.name)) await sendStatus(ctx, m.name, args.returnStatus);
  }
}

export const list = command({ name: 'LIST', states: AUTHENTICATED, parse: (s) => parseList(s, false), run: runList });
export const lsub = command({ name: 'LSUB', states: AUTHENTICATED, parse: (s) => parseList(s, true), run: runList });
