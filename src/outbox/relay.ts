/**
 * Relaying to the provider's submission server with nodemailer's SMTP transport: one
 * transaction per message with all its recipients, STARTTLS or implicit TLS, authenticated.
 * A pool keeps a few connections open so a burst does not pay a TLS handshake and AUTH per
 * message.
 *
 * Failures are sorted for the outbox: a per-recipient 5xx is permanent (that recipient is
 * bounced), 4xx is temporary (retried); for the whole transaction, no connection, a timeout
 * or a failed login is temporary (the user can fix the password or the network without
 * losing the message), a 5xx to MAIL FROM or DATA is permanent.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { createTransport } from 'nodemailer';
import type { NodemailerError } from 'nodemailer/lib/errors';
import { RelayError, type Relay, type RelayResult } from './port.js';

export interface SmtpRelayOptions {
  host: string;
  port: number;
  /** starttls: must upgrade; implicit: TLS from the first byte; none: plaintext (loopback/tests). */
  tls: 'starttls' | 'implicit' | 'none';
  user: string;
  password: () => Promise<string> | string;
  /** Extra CA certificates to trust (a provider with its own CA; tests). */
  ca?: string;
  timeoutMs?: number;
  maxConnections?: number;
}

function addr(a: unknown): string {
  return typeof a === 'string' ? a : String((a as { address?: string })?.address ?? a);
}

export function createSmtpRelay(opts: SmtpRelayOptions): Relay {
  let transport: ReturnType<typeof createTransport> | undefined;
  let password: string | undefined;
  const get = async () => {
    const pw = await opts.password();
    if (!transport || pw !== password) {
      transport?.close();
      password = pw;
      transport = createTransport({
        pool: true,
        maxConnections: opts.maxConnections ?? 6,
        host: opts.host,
        port: opts.port,
        secure: opts.tls === 'implicit',
        requireTLS: opts.tls === 'starttls',
        ignoreTLS: opts.tls === 'none',
        auth: { user: opts.user, pass: pw },
        connectionTimeout: opts.timeoutMs ?? 30_000,
        greetingTimeout: opts.timeoutMs ?? 30_000,
        socketTimeout: (opts.timeoutMs ?? 30_000) * 2,
        ...(opts.ca ? { tls: { ca: [opts.ca] } } : {}),
        name: 'waxseal.localhost',
        logger: false,
        disableFileAccess: true,
        disableUrlAccess: true,
      });
    }
    return transport;
  };
  return {
    async send(message): Promise<RelayResult> {
      const t = await get();
      try {
        const info = (await t.sendMail({ envelope: { from: message.from, to: message.to }, raw: message.raw })) as unknown as {
          accepted: unknown[];
          rejected: unknown[];
          rejectedErrors?: NodemailerError[];
        };
        const errors = new Map((info.rejectedErrors ?? []).map((e) => [String(e.recipient ?? '').toLowerCase(), e]));
        return {
          accepted: info.accepted.map(addr),
          rejected: info.rejected.map(addr).map((address) => {
            const e = errors.get(address.toLowerCase());
            return { address, response: e?.response ?? 'refused', temporary: e?.responseCode !== undefined ? e.responseCode < 500 : false };
          }),
        };
      } catch (err) {
        const e = err as NodemailerError;
        if (e.code === 'EENVELOPE' && e.rejectedErrors?.length) {
          // Every recipient refused: per-recipient results, not a transaction failure.
          return {
            accepted: [],
            rejected: e.rejectedErrors.map((r) => ({ address: String(r.recipient ?? ''), response: r.response ?? r.message, temporary: (r.responseCode ?? 500) < 500 })),
          };
        }
        const response = e.response ?? e.message;
        const permanent = e.responseCode !== undefined && e.responseCode >= 500 && e.code !== 'EAUTH';
        throw new RelayError(`${opts.host}:${opts.port}: ${response}`, !permanent, { cause: err });
      }
    },
    close() {
      transport?.close();
      transport = undefined;
    },
  };
}

/**
 * The provider's message size limit, from the SIZE its submission server announces in reply
 * to EHLO (RFC 1870); undefined when it announces none or cannot be reached in time.
 */
export async function probeProviderSize(opts: Pick<SmtpRelayOptions, 'host' | 'port' | 'tls' | 'ca' | 'timeoutMs'>): Promise<number | undefined> {
  const socket: Socket =
    opts.tls === 'implicit' ? tlsConnect({ host: opts.host, port: opts.port, servername: opts.host, ...(opts.ca ? { ca: [opts.ca] } : {}) }) : netConnect(opts.port, opts.host);
  try {
    return await new Promise<number | undefined>((resolve, reject) => {
      let buf = '';
      let greeted = false;
      socket.setTimeout(opts.timeoutMs ?? 5000, () => reject(new Error('timed out')));
      socket.once('error', reject);
      socket.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        if (!/(?:^|\r\n)\d{3} [^\r\n]*\r\n$/.test(buf)) return;
        if (!greeted) {
          greeted = true;
          buf = '';
          socket.write('EHLO waxseal.localhost\r\n');
          return;
        }
        const m = /^250[ -]SIZE\s+(\d+)/im.exec(buf);
        socket.write('QUIT\r\n');
        resolve(m && Number(m[1]) > 0 ? Number(m[1]) : undefined);
      });
    });
  } catch {
    return undefined;
  } finally {
    socket.destroy();
  }
}
