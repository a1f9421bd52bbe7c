/**
 * One session's view of its selected mailbox: the sequence numbers this client knows, and
 * the changes (from anyone) it has not been told about yet. Changes queue as they happen and
 * are turned into untagged EXISTS / EXPUNGE (or VANISHED) / FETCH responses at the moments
 * the protocol allows: after a command, or at once during IDLE. EXPUNGEs are held back while
 * a command that uses sequence numbers runs (RFC 3501 §7.4.1), and the expunged messages stay
 * in the view ("ghosts") until they can be announced, so numbers never shift under a client.
 */
import type { MailboxChange, MessageRecord, OpenMailbox } from '../backend.js';
import { expandSet, ImapError, inSet, type SequenceSet } from '../types.js';
import { compressSet, flagList } from '../wire/encode.js';

export interface FlushOptions {
  expunge: boolean;
  condstore: boolean;
  qresync: boolean;
  /** Changes carrying this origin produce no FETCH (STORE .SILENT by this session). */
  silentOrigin?: unknown;
}

export class SelectedView {
  readonly mailbox: OpenMailbox;
  readonly readOnly: boolean;
  uidValidity: number;
  uidNext: number;
  highestModseq: number;
  /** uids[seq - 1] = UID, ascending. */
  readonly uids: number[];
  readonly records = new Map<number, MessageRecord>();
  /** Expunged by someone, not yet announced to this client. */
  readonly ghosts = new Set<number>();
  readonly #pending: MailboxChange[] = [];
  readonly #unsubscribe: () => void;
  /** Called when a change arrives (the session flushes at once while idling). */
  onPending: () => void = () => undefined;
  /** UIDs saved by SEARCH RETURN (SAVE) (RFC 5182). */
  saved: number[] = [];

  constructor(mailbox: OpenMailbox) {
    this.mailbox = mailbox;
    this.readOnly = mailbox.readOnly;
    const snap = mailbox.snapshot();
    this.uidValidity = snap.uidValidity;
    this.uidNext = snap.uidNext;
    this.highestModseq = snap.highestModseq;
    this.uids = snap.messages.map((m) => m.uid);
    for (const m of snap.messages) this.records.set(m.uid, m);
    this.#unsubscribe = mailbox.onChange((c) => {
      this.#pending.push(c);
      this.onPending();
    });
  }

  get exists(): number {
    return this.uids.length;
  }

  /** Index of the first UID in the view that is at least `uid`. */
  #lowerBound(uid: number): number {
    let lo = 0;
    let hi = this.uids.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.uids[mid]! < uid) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Sequence number of a UID, or 0 when the client does not know it. */
  seqOf(uid: number): number {
    let lo = 0;
    let hi = this.uids.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = this.uids[mid]!;
      if (v === uid) return mid + 1;
      if (v < uid) lo = mid + 1;
      else hi = mid - 1;
    }
    return 0;
  }

  /**
   * The UIDs a set names, ascending. Sequence sets refer to this client's numbering;
   * UID sets match UIDs the client can know (`*` = the highest UID in the view).
   */
  resolve(set: SequenceSet, uid: boolean): number[] {
    // `$` holds UIDs whichever form the command has; keep those the client still sees.
    if (set.saved) return this.saved.filter((u) => this.seqOf(u) > 0);
    const out = new Set<number>();
    if (uid) {
      const max = this.uids.at(-1) ?? 0;
      const ranges = expandSet(set, max);
      // The UIDs in a range are a slice of the ascending view: two binary searches.
      const slice = ([a, b]: [number, number]) => this.uids.slice(this.#lowerBound(a), this.#lowerBound(b + 1));
      if (ranges.length === 1) return slice(ranges[0]!);
      for (const r of ranges) for (const u of slice(r)) out.add(u);
    } else {
      const max = this.uids.length;
      const ranges = expandSet(set, max);
      for (const [a, b] of ranges) {
        if (a < 1 || b > max) throw new ImapError('BAD', `Message sequence number out of range (the mailbox has ${max})`);
      }
      if (ranges.length === 1) return this.uids.slice(ranges[0]![0] - 1, ranges[0]![1]);
      for (const [a, b] of ranges) for (let n = a; n <= b; n++) out.add(this.uids[n - 1]!);
    }
    return [...out].sort((x, y) => x - y);
  }

  /** A membership test for a set of UIDs resolved against `max` (for QRESYNC known-uids). */
  resolveAll(set: SequenceSet, max: number): (uid: number) => boolean {
    const ranges = expandSet(set, max);
    return (uid) => inSet(uid, ranges);
  }

  fetchFlagsLine(uid: number, opts: { condstore: boolean; withUid: boolean }): string {
    const r = this.records.get(uid)!;
    const parts = [`FLAGS ${flagList(r.flags)}`];
    if (opts.withUid) parts.push(`UID ${uid}`);
    if (opts.condstore) parts.push(`MODSEQ (${r.modseq})`);
    return `* ${this.seqOf(uid)} FETCH (${parts.join(' ')})\r\n`;
  }

  /** Untagged responses for every change the client may be told about now. */
  flush(opts: FlushOptions): string[] {
    const out: string[] = [];
    const changedFlags = new Set<number>();
    let added = false;
    for (const change of this.#pending.splice(0)) {
      for (const uid of change.expunged) if (this.records.has(uid)) this.ghosts.add(uid);
      for (const r of change.added) {
        if (this.records.has(r.uid) || r.uid <= (this.uids.at(-1) ?? 0)) continue;
        this.uids.push(r.uid);
        this.records.set(r.uid, r);
        added = true;
      }
      for (const r of change.updated) {
        if (!this.records.has(r.uid) || this.ghosts.has(r.uid)) continue;
        this.records.set(r.uid, r);
        if (change.origin === undefined || change.origin !== opts.silentOrigin) changedFlags.add(r.uid);
        else changedFlags.delete(r.uid);
      }
      this.uidNext = Math.max(this.uidNext, change.uidNext);
      this.highestModseq = Math.max(this.highestModseq, change.highestModseq);
    }
    if (opts.expunge && this.ghosts.size > 0) {
      const gone = [...this.ghosts].sort((a, b) => a - b);
      if (opts.qresync) {
        out.push(`* VANISHED ${compressSet(gone)}\r\n`);
      } else {
        // Highest first, so each number is still right when the client applies it.
        for (const uid of [...gone].reverse()) out.push(`* ${this.seqOf(uid)} EXPUNGE\r\n`);
      }
      // One pass over the view, not a splice per message (1,000 expunged of 10,000: 10M moves).
      const kept = this.uids.filter((u) => !this.ghosts.has(u));
      this.uids.length = 0;
      for (const u of kept) this.uids.push(u);
      for (const uid of gone) {
        this.records.delete(uid);
        changedFlags.delete(uid);
      }
      this.ghosts.clear();
    }
    // After the EXPUNGEs, so the count is the one the client ends up with.
    if (added) out.push(`* ${this.uids.length} EXISTS\r\n`);
    for (const uid of [...changedFlags].sort((a, b) => a - b)) {
      out.push(this.fetchFlagsLine(uid, { condstore: opts.condstore, withUid: true }));
    }
    return out;
  }

  close(): void {
    this.#unsubscribe();
  }
}
