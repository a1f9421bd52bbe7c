/**
 * The upstream fetcher's port: everything it needs from the rest of Waxseal, in one place.
 * `upstream/` talks IMAP to the provider and knows nothing of the store or of OpenPGP; the
 * implementation of this port (src/mail/upstream-sink.ts) decrypts, learns keys and stores,
 * through the one ingest path every arriving message takes.
 */

import type { AccountSettings, AfterIngest, ServerSettings, TlsMode } from '../model/account.js';

export type { AccountSettings, AfterIngest, ServerSettings, TlsMode };

/** A folder at the provider, as LIST shows it. */
export interface RemoteFolder {
  path: string;
  delimiter: string;
  /** RFC 6154 attribute (`\Sent`, ...) or null. */
  specialUse: string | null;
}

/** One message as downloaded: the provider's bytes and what it knows of them. */
export interface Downloaded {
  uid: number;
  raw: Buffer;
  flags: string[];
  date: Date | undefined;
}

/** A downloaded message after the open stage (decrypt, verify, learn keys). */
export interface Opened {
  uid: number;
  /** What the user's mail client will be shown: labelled, decrypted when it could be. */
  raw: Buffer;
  /** The original bytes' digest, from which the store's deterministic entry key is made. */
  digest: string;
  flags: string[];
  date: Date | undefined;
  encryption: 'encrypted' | 'none' | 'failed';
}

/** Where a folder's fetching stands; device-local, written after each stored batch. */
export interface Checkpoint {
  uidValidity: number;
  /** The provider's UIDNEXT when the folder was first seen: older UIDs are history. */
  boundary: number;
  /** Next history UID to fetch (history runs from 1 up to boundary, oldest first). */
  historyNext: number;
  /** Next UID at or above boundary to fetch (new mail, fetched first). */
  liveNext: number;
}

export interface UpstreamSink {
  /** Our mailbox for a provider folder (created when missing); null to leave the folder alone. */
  mailboxFor(folder: RemoteFolder): Promise<string | null>;
  /** Stage "open": decrypt, verify, label and learn keys. Never throws for one bad message. */
  open(items: Downloaded[]): Promise<Opened[]>;
  /** Stage "store": write to our mailbox; storing the same message again adds nothing. */
  store(mailbox: string, items: Opened[]): Promise<void>;
  getCheckpoint(folder: string): Promise<Checkpoint | undefined>;
  putCheckpoint(folder: string, checkpoint: Checkpoint | null): Promise<void>;
  /** Running counters kept across restarts (messages that could not be decrypted). */
  getCounters(): Promise<UpstreamCounters>;
  putCounters(counters: UpstreamCounters): Promise<void>;
}

export interface UpstreamCounters {
  fetched: number;
  undecryptable: number;
}

export type UpstreamState = 'offline' | 'connecting' | 'syncing' | 'idle' | 'backoff' | 'stopped';

export interface UpstreamProgress {
  /** Messages of the current sync stored / to store (history and new mail together). */
  done: number;
  total: number;
  bytes: number;
  /** Messages per second over the last seconds of work, and seconds left at that rate. */
  rate: number;
  etaSeconds: number | null;
}

export interface UpstreamStatus {
  state: UpstreamState;
  /** True until every folder's history has been fetched once. */
  firstSync: boolean;
  progress: UpstreamProgress;
  counters: UpstreamCounters;
  folders: Array<{ path: string; mailbox: string; done: number; total: number }>;
  lastError: string | null;
  /** When the next connection attempt is made, while in backoff. */
  retryAt: string | null;
}
