/**
 * Stage "list": the provider's folders that hold mail of their own, INBOX first. Virtual
 * folders that only show mail kept elsewhere (`\All`, `\Flagged`: Gmail's All Mail and
 * Starred) are left out, or every message would be stored twice.
 */
import type { ImapFlow } from 'imapflow';
import type { RemoteFolder } from './port.js';

const VIRTUAL = new Set(['\\All', '\\Flagged', '\\Important']);

export async function listFolders(client: ImapFlow, opts: { exclude?: string[] } = {}): Promise<RemoteFolder[]> {
  const exclude = new Set(opts.exclude ?? []);
  const listed = await client.list();
  const folders: RemoteFolder[] = [];
  for (const f of listed) {
    const flags = new Set([...f.flags].map((x) => x.toLowerCase()));
    if (flags.has('\\noselect') || flags.has('\\nonexistent')) continue;
    const specialUse = f.specialUseSource === 'extension' || f.path.toUpperCase() === 'INBOX' ? (f.specialUse ?? null) : null;
    if (specialUse && VIRTUAL.has(specialUse)) continue;
    if (exclude.has(f.path)) continue;
    folders.push({ path: f.path, delimiter: f.delimiter || '/', specialUse: f.path.toUpperCase() === 'INBOX' ? null : specialUse });
  }
  const rank = (f: RemoteFolder) => (f.path.toUpperCase() === 'INBOX' ? 0 : f.specialUse ? 1 : 2);
  return folders.sort((a, b) => rank(a) - rank(b) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** A compact UID set ("1:5,9,12:14") for sorted ascending UIDs. */
export function uidSet(uids: number[]): string {
  const out: string[] = [];
  for (let i = 0; i < uids.length; ) {
    let j = i;
    while (j + 1 < uids.length && uids[j + 1] === uids[j]! + 1) j++;
    out.push(i === j ? String(uids[i]) : `${uids[i]}:${uids[j]}`);
    i = j + 1;
  }
  return out.join(',');
}
