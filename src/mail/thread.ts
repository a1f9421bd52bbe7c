/**
 * THREAD (RFC 5256 §4): ORDEREDSUBJECT and REFERENCES, and the THREAD response syntax.
 *
 * REFERENCES follows the RFC's steps as Dovecot 2.3 implements them (index-thread-links.c,
 * index-thread-finish.c), which settles what the RFC leaves open:
 *  - messages are linked in UID order; a Message-ID already taken by an earlier message is
 *    replaced by a unique one; a message with no usable Message-ID gets a unique one;
 *  - Message-IDs are read as Dovecot's message_id_get_next reads them ("<...@...>", white
 *    space inside removed; quoted or commented forms parsed properly);
 *  - a dummy at the top with exactly one child is replaced by that child before the subjects
 *    are gathered, and a dummy sorts by its earliest child;
 *  - siblings sort by sent date (§2.2: Date: in UTC, or INTERNALDATE when Date: is missing or
 *    unreadable), then by UID;
 *  - Subject: and Date: come from the envelope, so when a message repeats them the last one
 *    counts (Dovecot reads the first); the caller's references should come from
 *    parseReferences, which reads the first References:/In-Reply-To: as Dovecot does.
 */
import type { Envelope } from '../model/message.js';
import { type HeaderBlock, fieldValue, parseHeaderBlock } from '../mime/header.js';
import { extractBaseSubject, fold, sentTime } from './sort.js';

export interface ThreadableMessage {
  uid: number;
  internalDate: Date;
  envelope: Envelope;
  /** Message-IDs this message refers to, oldest first: see parseReferences. */
  references: string[];
}

/** A thread tree; `uid` is null for a dummy that holds siblings whose parent is not here. */
export interface ThreadNode {
  uid: number | null;
  children: ThreadNode[];
}

export type ThreadAlgorithm = 'REFERENCES' | 'ORDEREDSUBJECT';

/** The threads of `messages`, in the order the THREAD response lists them. */
export function threadMessages(algorithm: ThreadAlgorithm, messages: ThreadableMessage[]): ThreadNode[] {
  return algorithm === 'ORDEREDSUBJECT' ? orderedSubject(messages) : references(messages);
}

/**
 * The references of RFC 5256 §4 (1): every Message-ID in the first References: field, or
 * when that has none the first Message-ID in In-Reply-To:.
 */
export function parseReferences(raw: Buffer): string[] {
  const header = parseHeaderBlock(raw);
  const refs = messageIds(firstValue(raw, header, 'references'));
  if (refs.length > 0) return refs;
  return messageIds(firstValue(raw, header, 'in-reply-to')).slice(0, 1);
}

function firstValue(raw: Buffer, header: HeaderBlock, key: string): string | null {
  const field = header.fields.find((f) => f.key === key);
  return field ? fieldValue(raw, field) : null;
}

// msg-id = "<" id-left "@" id-right ">", with quoted local parts and comments allowed
const CFWS = String.raw`(?:\s|\((?:[^()\\]|\\.)*\))*`;
const SLOW_MSGID = new RegExp(String.raw`^${CFWS}("(?:[^"\\]|\\.)*"|[^\s"()<>@[\]]+)${CFWS}@${CFWS}([^\s"()<>@[\]]+)${CFWS}>`);

/** Every valid msg-id in a field value, in order, without the angle brackets. */
export function messageIds(value: string | null): string[] {
  const out: string[] = [];
  if (value === null) return out;
  for (let p = value.indexOf('<'); p !== -1; p = value.indexOf('<', p)) {
    p++;
    // Dovecot's quick scan stops only at these ('[' sorts above 'A', so its check never fires).
    const stop: number = value.slice(p).search(/[>"(]/);
    if (stop === -1) break;
    const end = p + stop;
    if (value[end] === '>') {
      const id = value.slice(p, end);
      if (id.includes('@')) out.push(id.replace(/[ \t\r\n]/g, ''));
      p = end + 1;
      continue;
    }
    // Dovecot's slow path: parse the id properly
    const m = SLOW_MSGID.exec(value.slice(p));
    if (m) {
      const local = m[1]!.startsWith('"') ? m[1]!.slice(1, -1).replace(/\\(.)/g, '$1') : m[1]!;
      out.push(`${local}@${m[2]}`);
      p += m[0].length;
    }
  }
  return out;
}

/** A message in the threading table, or a dummy standing for a Message-ID only referred to. */
interface Container {
  uid: number | null;
  date: number;
  subject: string | null;
  parent: Container | undefined;
  /** How many containers have this one as their parent. */
  children: number;
}

/** A node while threads are assembled; siblings order by sent date, then UID. */
interface Work {
  uid: number | null;
  date: number;
  subject: string | null;
  children: Work[];
}

function references(messages: ThreadableMessage[]): ThreadNode[] {
  const byId = new Map<string, Container>();
  const all: Container[] = [];
  const container = (id: string): Container => {
    let c = byId.get(id);
    if (!c) {
      c = { uid: null, date: 0, subject: null, parent: undefined, children: 0 };
      byId.set(id, c);
      all.push(c);
    }
    return c;
  };
  // (1) link by Message-ID, References and In-Reply-To
  for (const m of [...messages].sort((a, b) => a.uid - b.uid)) {
    const id = messageIds(m.envelope.messageId)[0];
    let self = id === undefined ? undefined : container(id);
    if (!self || self.uid !== null) {
      self = { uid: null, date: 0, subject: null, parent: undefined, children: 0 };
      all.push(self);
    }
    Object.assign(self, { uid: m.uid, date: sentTime(m.envelope, m.internalDate), subject: m.envelope.subject });
    // (1A) each reference is the parent of the next, unless that child already has one
    let parent: Container | undefined;
    for (const ref of m.references) {
      const c = container(ref);
      if (parent) link(parent, c);
      parent = c;
    }
    // (1B) the last reference is this message's parent, replacing any parent it had
    if (self.parent !== parent) unlink(self);
    if (parent) link(parent, self);
  }

  // (2) the roots; (3) dummies dropped, each message hung on its nearest real ancestor or,
  // when it has none, on the dummy at the top of its tree
  const work = new Map<Container, Work>();
  const node = (c: Container): Work => {
    let w = work.get(c);
    if (!w) {
      w = { uid: c.uid, date: c.date, subject: c.subject, children: [] };
      work.set(c, w);
    }
    return w;
  };
  const roots: Work[] = [];
  for (const c of all) {
    if (!c.parent) roots.push(node(c));
    else if (c.uid !== null) {
      let p = c.parent;
      while (p.uid === null && p.parent) p = p.parent;
      node(p).children.push(node(c));
    }
  }
  let top = roots.flatMap((r) => (r.uid !== null || r.children.length > 1 ? [r] : r.children));

  // (4) sort the top level; (5) gather threads with the same base subject
  sortTop(top);
  top = mergeSubjects(top);
  sortTop(top);
  // (6) every set of siblings by date, copied out without recursion: reply chains can be
  // as deep as a mailbox is large
  const out = top.map((w) => ({ uid: w.uid, children: [] as ThreadNode[] }));
  const stack = top.map((w, i): [Work, ThreadNode] => [w, out[i]!]);
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [w, t] = item;
    for (const child of w.children.sort(byDate)) {
      const node: ThreadNode = { uid: child.uid, children: [] };
      t.children.push(node);
      stack.push([child, node]);
    }
  }
  return out;
}

/**
 * Make `parent` the parent of `child` unless it has one already or that would make a loop.
 * Only a container with children can close a loop, so the usual case (a new message, a new
 * dummy) needs no walk up the tree; that keeps long reply chains linear.
 */
function link(parent: Container, child: Container): void {
  if (child.parent || child === parent) return;
  if (child.children > 0) for (let p: Container | undefined = parent; p; p = p.parent) if (p === child) return;
  child.parent = parent;
  parent.children++;
}

function unlink(child: Container): void {
  if (child.parent) child.parent.children--;
  child.parent = undefined;
}

const byDate = (a: Work, b: Work): number => a.date - b.date || (a.uid ?? 0) - (b.uid ?? 0);

/** A dummy sorts, and takes its subject, from its earliest child. */
function representative(w: Work): Work {
  return w.uid === null ? w.children[0]! : w;
}

function sortTop(top: Work[]): void {
  for (const w of top) if (w.uid === null) w.children.sort(byDate);
  top.sort((a, b) => byDate(representative(a), representative(b)));
}

interface Entry {
  work: Work;
  dummy: boolean;
  replyOrForward: boolean;
  /** Set when this thread is to be merged into another one (its table entry). */
  into?: Entry;
  gone?: boolean;
}

/** RFC 5256 §4 (5): threads whose base subjects match become one thread. */
function mergeSubjects(top: Work[]): Work[] {
  const entries: Entry[] = top.map((work) => ({ work, dummy: work.uid === null, replyOrForward: false }));
  const table = new Map<string, Entry>();
  // (5B) the subject table: a dummy, or else a message that is not a reply, wins the entry
  for (const e of entries) {
    const subject = representative(e.work).subject;
    if (subject === null) continue;
    const { base, replyOrForward } = extractBaseSubject(subject);
    e.replyOrForward = replyOrForward;
    if (base === '') continue;
    const key = fold(base);
    const held = table.get(key);
    if (!held) table.set(key, e);
    else if (!held.dummy && (e.dummy || (held.replyOrForward && !replyOrForward))) {
      held.into = e;
      table.set(key, e);
    } else e.into = held;
  }
  // (5C) merge each thread into the one holding its subject's entry
  const added: Entry[] = [];
  for (const cur of entries) {
    if (!cur.into || cur.gone) continue;
    let target = cur.into;
    while (target.into) target = target.into;
    if (cur.dummy) {
      target.work.children.push(...cur.work.children);
      cur.gone = true;
    } else if (target.dummy || (cur.replyOrForward && !target.replyOrForward)) {
      target.work.children.push(cur.work);
      cur.gone = true;
    } else {
      const dummy: Entry = { work: { uid: null, date: 0, subject: null, children: [target.work, cur.work] }, dummy: true, replyOrForward: false };
      target.into = dummy;
      target.gone = true;
      cur.gone = true;
      added.push(dummy);
    }
  }
  return [...entries, ...added].filter((e) => !e.gone).map((e) => e.work);
}

/**
 * ORDEREDSUBJECT: messages sorted by base subject then sent date; each run with one base
 * subject is a thread whose first message is the parent of all the others (no grandchildren);
 * threads in the order of their first messages' sent dates.
 */
function orderedSubject(messages: ThreadableMessage[]): ThreadNode[] {
  const rows = messages.map((m) => ({
    uid: m.uid,
    date: sentTime(m.envelope, m.internalDate),
    key: Buffer.from(fold(extractBaseSubject(m.envelope.subject).base), 'utf8'),
  }));
  rows.sort((a, b) => Buffer.compare(a.key, b.key) || a.date - b.date || a.uid - b.uid);
  const threads: Array<{ date: number; uid: number; node: ThreadNode }> = [];
  let prev: Buffer | undefined;
  for (const r of rows) {
    const node: ThreadNode = { uid: r.uid, children: [] };
    if (prev && prev.equals(r.key)) threads[threads.length - 1]!.node.children.push(node);
    else threads.push({ date: r.date, uid: r.uid, node });
    prev = r.key;
  }
  threads.sort((a, b) => a.date - b.date || a.uid - b.uid);
  return threads.map((t) => t.node);
}

/**
 * thread-list = "(" (thread-members / thread-nested) ")"
 * thread-members = nz-number *(SP nz-number) [SP thread-nested]
 * thread-nested = 2*thread-list
 * An only child continues its parent's member list; two or more children nest. Written
 * with an explicit stack, for the same reason as above.
 */
