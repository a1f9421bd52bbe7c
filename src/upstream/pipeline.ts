/**
 * Stages "download → open → store → checkpoint" for the messages of one provider folder.
 * Batches are cut by count and bytes (sizes come from a cheap RFC822.SIZE pass first), and
 * the next batch downloads while the current one is opened and stored, so the provider
 * connection and the CPU work overlap. A batch is checkpointed only after it is stored;
 * after a crash it is fetched again and the store's deterministic keys make that harmless.
 */
import type { ImapFlow } from 'imapflow';
import { uidSet } from './folders.js';
import type { AfterIngest, Downloaded, Opened, UpstreamSink } from './port.js';

export interface Sized {
  uid: number;
  size: number;
}

export interface BatchLimits {
  messages: number;
  bytes: number;
}

export const DEFAULT_BATCH: BatchLimits = { messages: 100, bytes: 4 * 1024 * 1024 };

/** The messages with UID ≥ from (and < below, when given), with their sizes, ascending. */
export async function listRange(client: ImapFlow, from: number, below?: number): Promise<Sized[]> {
  if (below !== undefined && from >= below) return [];
  const range = below === undefined ? `${from}:*` : `${from}:${below - 1}`;
  const out: Sized[] = [];
  // `N:*` with N above the highest UID still matches the last message (RFC 3501 §6.4.8).
  for await (const m of client.fetch(range, { uid: true, size: true }, { uid: true })) {
    if (m.uid >= from && (below === undefined || m.uid < below)) out.push({ uid: m.uid, size: m.size ?? 0 });
  }
  return out.sort((a, b) => a.uid - b.uid);
}

export function batches(items: Sized[], limits: BatchLimits): Sized[][] {
  const out: Sized[][] = [];
  let cur: Sized[] = [];
  let bytes = 0;
  for (const it of items) {
    if (cur.length > 0 && (cur.length >= limits.messages || bytes + it.size > limits.bytes)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(it);
    bytes += it.size;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

const KEPT_SYSTEM = new Set(['\\seen', '\\answered', '\\flagged', '\\draft']);

/** Provider flags worth keeping: \Recent is per session, \Deleted is the provider's business. */
export function keptFlags(flags: Iterable<string>): string[] {
  return [...flags].filter((f) => (f.startsWith('\\') ? KEPT_SYSTEM.has(f.toLowerCase()) : true));
}

/** Stage "download": one UID FETCH of the batch's messages. */
export async function download(client: ImapFlow, batch: Sized[]): Promise<Downloaded[]> {
  const out: Downloaded[] = [];
  const wanted = new Set(batch.map((b) => b.uid));
  for await (const m of client.fetch(uidSet(batch.map((b) => b.uid)), { uid: true, source: true, flags: true, internalDate: true }, { uid: true })) {
    if (!wanted.has(m.uid) || !m.source) continue;
    const date = m.internalDate ? new Date(m.internalDate) : undefined;
    out.push({ uid: m.uid, raw: m.source, flags: keptFlags(m.flags ?? []), date: date && !Number.isNaN(date.getTime()) ? date : undefined });
  }
  // Messages expunged at the provider meanwhile are simply missing.
  return out.sort((a, b) => a.uid - b.uid);
}

/** What happens at the provider to a stored batch (the folder is selected on `client`). */
export async function afterIngest(client: ImapFlow, policy: AfterIngest, uids: number[]): Promise<void> {
  if (uids.length === 0) return;
  if (policy.action === 'seen') await client.messageFlagsAdd(uidSet(uids), ['\\Seen'], { uid: true });
  else if (policy.action === 'move') await client.messageMove(uidSet(uids), policy.folder, { uid: true });
  // 'delete' is by age, done by prune(); 'leave' leaves it.
}

/** Delete, at the provider, messages already fetched (UID in `fetched`) older than `days`. */
export async function prune(client: ImapFlow, days: number, fetched: (uid: number) => boolean): Promise<number> {
  const before = new Date(Date.now() - days * 86400_000);
  const found = await client.search({ before }, { uid: true });
  const uids = (found || []).filter(fetched).sort((a, b) => a - b);
  if (uids.length > 0) await client.messageDelete(uidSet(uids), { uid: true });
  return uids.length;
}

export interface BatchDone {
  uids: number[];
  bytes: number;
  opened: Opened[];
}

export interface FolderRun {
  client: ImapFlow;
  mailbox: string;
  sink: UpstreamSink;
  policy: AfterIngest;
  items: Sized[];
  limits?: BatchLimits;
  /** After each stored batch: checkpoint and progress. */
  onBatch: (done: BatchDone) => Promise<void>;
  /** Checked between batches; true stops the run. */
  stopped?: () => boolean;
}

/**
 * Three stages overlap: batch k+1 downloads while batch k is opened while batch k-1 is
 * stored. Stores (and checkpoints) stay in order, one at a time.
 */
export async function runFolder(run: FolderRun): Promise<void> {
  const list = batches(run.items, run.limits ?? DEFAULT_BATCH);
  const quiet = <T>(p: Promise<T>) => {
    p.catch(() => undefined); // awaited later; not an unhandled rejection meanwhile
    return p;
  };
  let next = list.length > 0 ? quiet(download(run.client, list[0]!)) : undefined;
  let storing: Promise<void> = Promise.resolve();
  for (let i = 0; i < list.length; i++) {
    const got = await next!;
    if (run.stopped?.()) break;
    next = i + 1 < list.length ? quiet(download(run.client, list[i + 1]!)) : undefined;
    const opened = await run.sink.open(got);
    await storing;
    const uids = list[i]!.map((b) => b.uid);
    storing = quiet(
      (async () => {
        await run.sink.store(run.mailbox, opened);
        await afterIngest(run.client, run.policy, got.map((g) => g.uid));
        await run.onBatch({ uids, bytes: got.reduce((n, g) => n + g.raw.length, 0), opened });
      })(),
    );
  }
  await storing;
}
