/**
 * The loopback submission server (RFC 6409) on smtp-server: AUTH PLAIN and LOGIN with the
 * profile's local login, STARTTLS on the plain port and implicit TLS (RFC 8314) on a second
 * one, PIPELINING, 8BITMIME, SMTPUTF8 and a SIZE that tells the truth.
 *
 * Refused, each with its own reply: use before AUTH (530), a failed login (535, answered
 * slower after each failure), a sender the profile does not own (553), a malformed address
 * (501), too many recipients (452), an oversized message (552), and bare CR or LF next to an
 * end-of-data marker (554) — the SMTP smuggling pattern, where a line "." ended by something
 * other than CRLF could end the message early at a later server and let the rest be read as
 * commands there. `250` is answered only once the backend has the message durably.
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { SmtpError, type SubmissionBackend } from './port.js';

export interface SubmissionServerOptions {
  backend: SubmissionBackend;
  host: string;
  port: number;
  /** Implicit-TLS port; absent = none. */
  tlsPort?: number;
  tls: { key: string; cert: string };
  maxRecipients?: number;
  /** Seconds of silence before a connection is closed. */
  socketTimeoutMs?: number;
  log?: (event: string, fields: Record<string, unknown>) => void;
}

export interface SubmissionServer {
  port: number;
  tlsPort: number | undefined;
  /** Announce a new SIZE from the next EHLO on (the provider's limit became known). */
  setMaxSize(bytes: number): void;
  close(): Promise<void>;
}

// addr-spec, loosely: something@something, no spaces, brackets or control characters.
const ADDRESS = /^[^\s@<>()",;:\\[\]\x00-\x1f]+@[^\s@<>()",;:\\[\]\x00-\x1f]+$/;

/**
 * True when a line consisting of "." is delimited by anything but CRLF on either side: the
 * SMTP smuggling end-of-data variants (`\n.\n`, `\n.\r\n`, `\r\n.\n`, `\r.\r`, ...).
 */
export function hasSmugglingMarker(data: Buffer): boolean {
  for (let i = data.indexOf(0x2e); i !== -1; i = data.indexOf(0x2e, i + 1)) {
    const before = i === 0 ? 'start' : data[i - 1] === 0x0a ? (data[i - 2] === 0x0d ? 'crlf' : 'lf') : data[i - 1] === 0x0d ? 'cr' : 'text';
    if (before === 'text' || before === 'start') continue;
    const a = data[i + 1];
    const after = a === 0x0d ? (data[i + 2] === 0x0a ? 'crlf' : 'cr') : a === 0x0a ? 'lf' : 'text';
    if (after === 'text') continue;
    if (before !== 'crlf' || after !== 'crlf') return true;
  }
  return false;
}

function reply(err: unknown): Error {
  if (err instanceof SmtpError) return err;
  const e = new Error('4.3.0 The message could not be queued; try again') as Error & { responseCode: number };
  e.responseCode = 451;
  return e;
}

const isLoopback = (host: string) => host === '127.0.0.1' || host === '::1' || host === 'localhost' || host.startsWith('127.');

export async function startSubmissionServer(opts: SubmissionServerOptions): Promise<SubmissionServer> {
  const { backend } = opts;
  const maxRecipients = opts.maxRecipients ?? 100;
  const failures = new Map<string, number>();
  const log = opts.log ?? (() => undefined);

  const make = (secure: boolean) =>
    new SMTPServer({
      secure,
      key: opts.tls.key,
      cert: opts.tls.cert,
      name: 'waxseal.localhost',
      banner: 'Waxseal submission',
      logger: false,
      authMethods: ['PLAIN', 'LOGIN'],
      // We refuse unauthenticated MAIL FROM ourselves, with a reply that says what to do.
      authOptional: true,
      closeTimeout: 2000,
      // Plaintext AUTH is fine on loopback (nothing leaves the machine); elsewhere TLS first.
      allowInsecureAuth: isLoopback(opts.host),
      size: backend.maxMessageBytes(),
      disableReverseLookup: true,
      socketTimeout: opts.socketTimeoutMs ?? 5 * 60_000,
      onAuth(auth, session, callback) {
        const ok = auth.method !== 'XOAUTH2' && backend.login(auth.username ?? '', auth.password ?? '');
        if (ok) {
          failures.delete(session.remoteAddress);
          return callback(null, { user: auth.username });
        }
        const n = (failures.get(session.remoteAddress) ?? 0) + 1;
        failures.set(session.remoteAddress, n);
        log('smtp.auth.failed', { attempt: n });
        // Each failure from the same address waits longer before its answer (max 5 s).
        setTimeout(() => callback(new SmtpError(535, '5.7.8', 'Authentication failed: use the login `waxseal credentials` prints')), Math.min(5000, 250 * 2 ** (n - 1)));
      },
      onMailFrom(address, session, callback) {
        if (!session.user) return callback(new SmtpError(530, '5.7.0', 'Authentication required: log in with the login `waxseal credentials` prints'));
        const from = address.address.toLowerCase();
        if (!ADDRESS.test(from)) return callback(new SmtpError(501, '5.1.7', `"${address.address}" is not a valid sender address`));
        const why = backend.checkSender(from);
        callback(why ? new SmtpError(553, '5.7.1', why) : null);
      },
      onRcptTo(address, session, callback) {
        if (!session.user) return callback(new SmtpError(530, '5.7.0', 'Authentication required'));
        if (!ADDRESS.test(address.address)) return callback(new SmtpError(501, '5.1.3', `"${address.address}" is not a valid recipient address`));
        if (session.envelope.rcptTo.length >= maxRecipients) return callback(new SmtpError(452, '4.5.3', `Too many recipients; at most ${maxRecipients} per message`));
        callback();
      },
      onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => {
          if (!stream.sizeExceeded) chunks.push(c);
        });
        stream.on('end', () => {
          if (stream.sizeExceeded) {
            return callback(new SmtpError(552, '5.3.4', `Message too big: at most ${backend.maxMessageBytes()} bytes (the provider's limit, less what encryption adds)`));
          }
          const raw = Buffer.concat(chunks);
          if (hasSmugglingMarker(raw)) {
            log('smtp.smuggling.refused', {});
            return callback(new SmtpError(554, '5.6.0', 'Bare CR or LF next to a "." line: refused (SMTP smuggling protection); send CRLF line ends'));
          }
          const envelope = {
            from: (session.envelope.mailFrom ? session.envelope.mailFrom.address : '').toLowerCase(),
            to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
          };
          backend.accept(envelope, raw).then(
            () => callback(null, '2.0.0 Queued: sealed in the outbox'),
            (err: unknown) => {
              if (!(err instanceof SmtpError)) log('smtp.accept.failed', { error: String((err as Error)?.message ?? err) });
              callback(reply(err));
            },
          );
        });
      },
    });

  const listen = (server: SMTPServer, port: number) =>
    new Promise<number>((resolve, reject) => {
      server.server.once('error', reject);
      server.listen(port, opts.host, () => {
        server.server.off('error', reject);
        resolve((server.server.address() as AddressInfo).port);
      });
    });
  // Errors on a single connection (a client gone mid-TLS) must not take the server down.
  const plain = make(false);
  plain.on('error', (err) => log('smtp.error', { error: err.message }));
  const port = await listen(plain, opts.port);
  let secure: SMTPServer | undefined;
  let tlsPort: number | undefined;
  if (opts.tlsPort !== undefined) {
    secure = make(true);
    secure.on('error', (err) => log('smtp.error', { error: err.message }));
    try {
      tlsPort = await listen(secure, opts.tlsPort);
    } catch (err) {
      await new Promise<void>((r) => plain.close(() => r()));
      throw err;
    }
  }
  return {
    port,
    tlsPort,
    setMaxSize(bytes: number) {
      for (const server of [plain, secure]) if (server) server.options.size = bytes;
    },
    async close() {
      await Promise.all([plain, secure].filter((s): s is SMTPServer => s !== undefined).map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}
