/**
 * The contract every IMAP command file fulfils (STYLE 1, 2): a name, the states it may run
 * in (dispatch enforces them, the handler never checks), a parser for its arguments that
 * follows the RFC grammar, and a handler. Handlers throw ImapError for NO/BAD; anything
 * else is an internal error that the session logs and answers generically.
 */
import type { ImapAccount } from './backend.js';
import type { SelectedView } from './session/selected.js';
import type { ImapState } from './types.js';
import type { Scanner } from './wire/scanner.js';
import type { Chunk } from './wire/encode.js';

export interface Completion {
  /** Response code for the tagged OK, without brackets ("READ-WRITE", "APPENDUID 1 2"). */
  code?: string;
  text?: string;
}

export interface SessionHandle {
  state: ImapState;
  account: ImapAccount | undefined;
  selected: SelectedView | undefined;
  readonly secure: boolean;
  readonly tlsAvailable: boolean;
  /** Extensions turned on with ENABLE (CONDSTORE, QRESYNC, UTF8=ACCEPT). */
  readonly enabled: Set<string>;
  capabilities(): string[];
  /** Check credentials with throttling; resolves the account or throws ImapError. */
  login(user: string, password: string): Promise<ImapAccount>;
  select(name: string, readOnly: boolean): Promise<void>;
  unselect(): Promise<void>;
  startTls(tag: string): Promise<void>;
  /** Send pending mailbox changes now; changes from `silentOrigin` update state without a FETCH. */
  flushChanges(expunge: boolean, silentOrigin?: unknown): void;
  /** This session's identity for the changes it makes itself (MailboxChange.origin). */
  readonly origin: unknown;
  /** Send "+ prompt" and resolve with the client's next line (SASL exchanges). */
  continuation(prompt: string): Promise<Buffer>;
  /** Enter IDLE: pending changes flow at once until the client sends DONE. */
  idle(tag: string): Promise<void>;
  logout(): void;
}

export interface CommandContext {
  tag: string;
  /** True for the UID form (UID FETCH, UID SEARCH, ...). */
  uid: boolean;
  session: SessionHandle;
  /** Queue untagged data (each call one or more whole responses). */
  send(...chunks: Chunk[]): void;
  /** Wait until queued output has gone to the socket (backpressure for big FETCHes). */
  drain(): Promise<void>;
}

export interface CommandSpec<A = unknown> {
  name: string;
  states: readonly ImapState[];
  /**
   * False for commands during which EXPUNGE responses must not be sent because sequence
   * numbers in the command would shift (RFC 3501 §7.4.1): FETCH, STORE, SEARCH.
   */
  expungeDuring?: boolean | ((uid: boolean) => boolean);
  parse(s: Scanner, ctx: { uid: boolean }): A;
  run(ctx: CommandContext, args: A): Promise<Completion | void>;
}

export function command<A>(spec: CommandSpec<A>): CommandSpec<A> {
  return spec;
}

export const ANY: readonly ImapState[] = ['not-authenticated', 'authenticated', 'selected'];
export const AUTHENTICATED: readonly ImapState[] = ['authenticated', 'selected'];
export const SELECTED: readonly ImapState[] = ['selected'];
export const NOT_AUTHENTICATED: readonly ImapState[] = ['not-authenticated'];
