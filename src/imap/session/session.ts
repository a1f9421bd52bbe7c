/**
 * One IMAP connection's state machine and dispatcher. Commands run one at a time in arrival
 * order; the state each command may run in is checked here, never in the handler (STYLE 2).
 * Errors become responses in one place (STYLE 4): an ImapError passes through as NO/BAD with
 * its code, a parse error is BAD, anything else is logged and answered generically, so no
 * internals reach the client.
 */
import type { ImapAccount, ImapBackend } from '../backend.js';
import type { CommandContext, CommandSpec, Completion, SessionHandle } from '../command.js';
import { ImapError, ParseError, type ImapState } from '../types.js';
import { parseCommandHead } from '../wire/scanner.js';
import { taggedResponse, type Chunk } from '../wire/encode.js';
import { SelectedView } from './selected.js';

export interface Transport {
  write(chunks: Chunk[]): void;
  drain(): Promise<void>;
  close(): void;
  readonly secure: boolean;
  /** Upgrade to TLS after the tagged OK has been written; undefined when no TLS is configured. */
  startTls?: () => Promise<void>;
}

export interface SessionOptions {
  backend: ImapBackend;
  commands: ReadonlyMap<string, CommandSpec<any>>;
  capabilities: (session: Session) => string[];
  throttle: LoginThrottle;
  remote: string;
  log: (event: string, fields?: Record<string, unknown>) => void;
}

/** Failed logins slow down per remote address: 0.5 s, 1 s, 2 s, ... up to 16 s. */
export class LoginThrottle {
  readonly #failures = new Map<string, { count: number; last: number }>();
  delayFor(remote: string): number {
    const f = this.#failures.get(remote);
    if (!f || Date.now() - f.last > 15 * 60_000) return 0;
    return Math.min(16_000, 500 * 2 ** (f.count - 1));
  }
  failed(remote: string): void {
    const f = this.#failures.get(remote) ?? { count: 0, last: 0 };
    this.#failures.set(remote, { count: f.count + 1, last: Date.now() });
  }
  succeeded(remote: string): void {
    this.#failures.delete(remote);
  }
}

export class Session implements SessionHandle {
  state: ImapState = 'not-authenticated';
  account: ImapAccount | undefined;
  selected: SelectedView | undefined;
  readonly enabled = new Set<string>();
  readonly #opts: SessionOptions;
  readonly #transport: Transport;
  #idleTag: string | undefined;
  #lineWaiter: ((data: Buffer) => void) | undefined;
  /** Bumped by STARTTLS: commands queued under an older epoch came in the clear. */
  #epoch = 0;
  #queue: Promise<void> = Promise.resolve();
  /** Identity for this session's own STOREs (see MailboxChange.origin). */
  readonly origin = Symbol('session');

  constructor(transport: Transport, opts: SessionOptions) {
    this.#transport = transport;
    this.#opts = opts;
  }

  get secure(): boolean {
    return this.#transport.secure;
  }

  get tlsAvailable(): boolean {
    return this.#transport.startTls !== undefined;
  }

  get idling(): boolean {
    return this.#idleTag !== undefined;
  }

  capabilities(): string[] {
    return this.#opts.capabilities(this);
  }

  greeting(): string {
    return `* OK [CAPABILITY ${this.capabilities().join(' ')}] Waxseal ready\r\n`;
  }

  /**
   * Queue one framed command; commands run strictly one after another. A line a running
   * command is waiting for (a SASL response) goes straight to it: queueing it behind that
   * very command would deadlock.
   */
  receive(data: Buffer): Promise<void> {
    const waiter = this.#lineWaiter;
    if (waiter) {
      this.#lineWaiter = undefined;
      waiter(data);
      return Promise.resolve();
    }
    // Commands that arrived in the clear before a STARTTLS completed are dropped, never run
    // inside the TLS session (RFC 3501 §6.2.1; the CVE-2011-0411 command injection).
    const epoch = this.#epoch;
    const run = this.#queue.then(() => (epoch === this.#epoch ? this.#execute(data) : undefined));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** A framing error from the reader (line too long, literal too big). */
  reject(tag: string | undefined, status: 'BAD' | 'NO', text: string, code?: string): void {
    this.#transport.write([taggedResponse(tag ?? '*', status, text, code)]);
  }

  async #execute(data: Buffer): Promise<void> {
    if (this.state === 'logout') return;
    if (this.#idleTag !== undefined) return this.#endIdle(data);
    let tag = '*';
    try {
      const head = parseCommandHead(data);
      tag = head.tag;
      let name = head.name;
      let uid = false;
      if (name === 'UID') {
        head.scanner.sp();
        name = `UID ${head.scanner.atomUpper()}`;
        uid = true;
      }
      const spec = this.#opts.commands.get(name);
      if (!spec) throw new ImapError('BAD', `Unknown command ${name.slice(0, 40)}`);
      if (!spec.states.includes(this.state)) throw new ImapError('BAD', `${name} is not allowed ${stateText(this.state)}`);
      const args = spec.parse(head.scanner, { uid });
      const ctx: CommandContext = {
        tag,
        uid,
        session: this,
        send: (...chunks) => this.#transport.write(chunks),
        drain: () => this.#transport.drain(),
      };
      const completion = (await spec.run(ctx, args)) as Completion | void;
      if (this.#idleTag !== undefined || (this.state as ImapState) === 'logout' || name === 'STARTTLS') return;
      const expunge = typeof spec.expungeDuring === 'function' ? spec.expungeDuring(uid) : spec.expungeDuring !== false;
      this.flushChanges(expunge);
      this.#transport.write([taggedResponse(tag, 'OK', completion?.text ?? `${name} completed`, completion?.code)]);
    } catch (err) {
      if (err instanceof ImapError) {
        this.flushChanges(false);
        this.#transport.write([taggedResponse(err instanceof ParseError ? ((err as ParseError & { tag?: string }).tag ?? tag) : tag, err.status, err.message, err.code)]);
      } else {
        this.#opts.log('imap.internal-error', { remote: this.#opts.remote, error: (err as Error)?.message });
        this.#transport.write([taggedResponse(tag, 'NO', 'Internal error; the server log has details', 'SERVERBUG')]);
      }
    }
  }

  /** Send whatever changed since the client last heard. */
  flushChanges(expunge: boolean, silentOrigin?: unknown): void {
    if (!this.selected) return;
    const lines = this.selected.flush({
      expunge,
      condstore: this.enabled.has('CONDSTORE') || this.enabled.has('QRESYNC'),
      qresync: this.enabled.has('QRESYNC'),
      ...(silentOrigin !== undefined ? { silentOrigin } : {}),
    });
    if (lines.length > 0) this.#transport.write(lines);
  }

  async login(user: string, password: string): Promise<ImapAccount> {
    const wait = this.#opts.throttle.delayFor(this.#opts.remote);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const account = await this.#opts.backend.login(user, password);
    if (!account) {
      this.#opts.throttle.failed(this.#opts.remote);
      this.#opts.log('imap.login-failed', { remote: this.#opts.remote });
      throw new ImapError('NO', 'Wrong user name or password (see `waxseal credentials`)', 'AUTHENTICATIONFAILED');
    }
    this.#opts.throttle.succeeded(this.#opts.remote);
    this.account = account;
    this.state = 'authenticated';
    return account;
  }

  async select(name: string, readOnly: boolean): Promise<void> {
    await this.unselect();
    const mailbox = await this.account!.open(name, { readOnly });
    this.selected = new SelectedView(mailbox);
    this.selected.onPending = () => {
      if (this.#idleTag !== undefined) this.flushChanges(true);
    };
    this.state = 'selected';
  }

  async unselect(): Promise<void> {
    if (!this.selected) return;
    const view = this.selected;
    this.selected = undefined;
    this.state = 'authenticated';
    view.close();
    await view.mailbox.close();
  }

  async startTls(tag: string): Promise<void> {
    if (!this.#transport.startTls) throw new ImapError('NO', 'TLS is not available');
    if (this.secure) throw new ImapError('BAD', 'TLS is already active');
    this.#transport.write([taggedResponse(tag, 'OK', 'Begin TLS negotiation now')]);
    this.#epoch++;
    await this.#transport.startTls();
  }

  continuation(prompt: string): Promise<Buffer> {
    this.#transport.write([`+ ${prompt}\r\n`]);
    return new Promise((resolve) => (this.#lineWaiter = resolve));
  }

  async idle(tag: string): Promise<void> {
    this.#idleTag = tag;
    this.#transport.write(['+ idling\r\n']);
    this.flushChanges(true);
  }

  #endIdle(data: Buffer): void {
    const tag = this.#idleTag!;
    this.#idleTag = undefined;
    if (data.toString('latin1').trim().toUpperCase() !== 'DONE') {
      this.#transport.write([taggedResponse(tag, 'BAD', 'Expected DONE to end IDLE')]);
      return;
    }
    this.flushChanges(true);
    this.#transport.write([taggedResponse(tag, 'OK', 'IDLE terminated')]);
  }

  logout(): void {
    this.state = 'logout';
  }

  async close(): Promise<void> {
    await this.unselect().catch(() => undefined);
    await this.account?.close().catch(() => undefined);
    this.account = undefined;
    this.state = 'logout';
  }
}

function stateText(state: ImapState): string {
  return state === 'not-authenticated' ? 'before logging in' : state === 'authenticated' ? 'without a selected mailbox' : 'now';
}
