/**
 * The port between the IMAP protocol layer and whatever stores mail. The protocol layer
 * speaks only through these interfaces (STYLE 3): the store-backed implementation lives in
 * src/mail/, an in-memory one serves protocol tests. Sequence numbers never cross this port:
 * they belong to each session's view; the backend speaks UIDs.
 */
import type { SearchKey, Section, StoreMode } from './types.js';
import type { ThreadTree } from './wire/encode.js';

export interface ImapBackend {
  /** Check a login; null for wrong credentials (the caller throttles and answers NO). */
  login(user: string, password: string): Promise<ImapAccount | null>;
}

export interface MailboxInfo {
  /** Full name with "/" as the hierarchy delimiter; INBOX is always "INBOX". */
  name: string;
  /** RFC 6154 attribute such as "\\Sent", or null. */
  specialUse: string | null;
  subscribed: boolean;
}

export interface MailboxStatus {
  messages: number;
  recent: number;
  uidNext: number;
  uidValidity: number;
  unseen: number;
  highestModseq: number;
  /** Total octets of all messages (STATUS=SIZE, RFC 8438). */
  size: number;
}

export interface ImapAccount {
  readonly user: string;
  list(): Promise<MailboxInfo[]>;
  create(name: string, specialUse?: string | null): Promise<void>;
  /** Deleting INBOX or a missing mailbox throws ImapError NO. */
  delete(name: string): Promise<void>;
  /** Renaming INBOX moves its messages to the new mailbox and leaves INBOX empty (RFC 3501). */
  rename(from: string, to: string): Promise<void>;
  subscribe(name: string, subscribed: boolean): Promise<void>;
  status(name: string): Promise<MailboxStatus>;
  open(name: string, opts: { readOnly: boolean }): Promise<OpenMailbox>;
  append(name: string, raw: Buffer, opts: { flags: string[]; date?: Date }): Promise<{ uidValidity: number; uid: number }>;
  close(): Promise<void>;
}

/** What a session knows of a message without any I/O. */
export interface MessageRecord {
  uid: number;
  flags: readonly string[];
  modseq: number;
  internalDate: Date;
  size: number;
}

export interface MailboxSnapshot {
  uidValidity: number;
  uidNext: number;
  highestModseq: number;
  /** In ascending UID order: position + 1 is the sequence number at SELECT. */
  messages: MessageRecord[];
  /** Flags and keywords in use, for the FLAGS response. */
  flags: string[];
  /** UIDs expunged with the MODSEQ of the expunge (QRESYNC VANISHED), oldest first. */
  expunged?: Array<[uid: number, modseq: number]>;
}

/** What changed in a mailbox, from any source: this session, another one, sync or fetch. */
export interface MailboxChange {
  added: MessageRecord[];
  updated: MessageRecord[];
  expunged: number[];
  uidNext: number;
  highestModseq: number;
  /** Set when this session's own STORE caused the change (for .SILENT). */
  origin?: unknown;
}

export interface OpenMailbox {
  readonly name: string;
  readonly readOnly: boolean;
  snapshot(): MailboxSnapshot;
  /** Every change after the snapshot, in order; returns the unsubscribe function. */
  onChange(listener: (change: MailboxChange) => void): () => void;

  /**
   * A hint that these messages' structures (ENVELOPE, BODYSTRUCTURE) or their bytes are
   * about to be read, so they can be loaded in one batch; 'whole' when only whole messages
   * (BODY[] with no section) will be read.
   */
  prefetch(uids: number[], what: 'structure' | 'content' | 'whole'): Promise<void>;
  /**
   * ENVELOPE, BODYSTRUCTURE or BODY of a message in wire form (imap/wire/structures.ts),
   * ready to send: a backend may keep them encoded, so that listing a mailbox opens no message.
   */
  structure(uid: number, item: 'ENVELOPE' | 'BODYSTRUCTURE' | 'BODY'): Promise<string>;
  /**
   * The bytes of a section (the whole message for an empty path and no text), with
   * HEADER.FIELDS filtering applied; an empty buffer when the message has no such part.
   * `partial` cuts the result (<start.length>) without reading more than needed.
   */
  section(uid: number, section: Section, partial?: { start: number; length: number }): Promise<Buffer>;
  /**
   * UIDs among `uids` that match `key`. Sequence-number keys have been rewritten to UID sets
   * by the caller; text keys (BODY, TEXT, HEADER) match decoded text case-insensitively.
   */
  search(key: SearchKey, uids: number[]): Promise<number[]>;

  /** RFC 5256 SORT of `uids` (criteria keys upper case: ARRIVAL, CC, DATE, FROM, SIZE, SUBJECT, TO, DISPLAYFROM, DISPLAYTO). */
  sort(criteria: Array<{ key: string; reverse: boolean }>, uids: number[]): Promise<number[]>;
  /** RFC 5256 THREAD of `uids`. */
  thread(algorithm: 'REFERENCES' | 'ORDEREDSUBJECT', uids: number[]): Promise<ThreadTree[]>;
  /**
   * Change flags; `unchangedSince` (CONDSTORE) skips messages modified after it and returns
   * their UIDs as `failed`. Changes are also reported through onChange with `origin`.
   */
  store(uids: number[], mode: StoreMode, flags: string[], opts: { unchangedSince?: number; origin?: unknown }): Promise<{ failed: number[] }>;
  /** Expunge messages flagged \Deleted (only those in `uids`, when given); returns the UIDs. */
  expunge(uids?: number[]): Promise<number[]>;
  copy(uids: number[], dest: string): Promise<{ uidValidity: number; mapping: Array<[number, number]> }>;
  move(uids: number[], dest: string): Promise<{ uidValidity: number; mapping: Array<[number, number]> }>;
  close(): Promise<void>;
}
