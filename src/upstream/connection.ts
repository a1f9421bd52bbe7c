/**
 * Opening an IMAP connection to the provider with imapflow, and checking a login: the TLS
 * mode is explicit (imapflow's default upgrades only when STARTTLS is offered, which a
 * man in the middle can strip), auto-IDLE is off (the fetcher idles itself), and failures
 * become one WaxsealError saying what went wrong, without the password.
 */
import { ImapFlow } from 'imapflow';
import { WaxsealError, errorMessage } from '../util/errors.js';
import type { ServerSettings } from './port.js';

export interface ConnectOptions {
  server: ServerSettings;
  user: string;
  password: string;
  /** Socket inactivity limit (default 5 min; IDLE is restarted well before it). */
  socketTimeoutMs?: number;
  connectTimeoutMs?: number;
}

export function imapClient(opts: ConnectOptions): ImapFlow {
  const { server } = opts;
  return new ImapFlow({
    host: server.host,
    port: server.port,
    secure: server.tls === 'implicit',
    doSTARTTLS: server.tls === 'starttls' ? true : server.tls === 'none' ? false : undefined,
    auth: { user: opts.user, pass: opts.password },
    logger: false,
    disableAutoIdle: true,
    // IDLE is broken and restarted this often (RFC 2177: servers may drop it after 30 min).
    maxIdleTime: 5 * 60_000,
    socketTimeout: opts.socketTimeoutMs ?? 5 * 60_000 + 30_000,
    connectionTimeout: opts.connectTimeoutMs ?? 20_000,
    greetingTimeout: opts.connectTimeoutMs ?? 16_000,
    clientInfo: { name: 'Waxseal' },
  });
}

/** Connect and log in; the error names the server and says what failed. */
export async function connectImap(opts: ConnectOptions): Promise<ImapFlow> {
  const client = imapClient(opts);
  // An 'error' event without a listener would crash the process; connect() rejects instead.
  client.on('error', () => undefined);
  try {
    await client.connect();
    return client;
  } catch (err) {
    client.close();
    throw explainConnectError(err, opts);
  }
}

export function explainConnectError(err: unknown, opts: ConnectOptions): WaxsealError {
  const where = `${opts.server.host}:${opts.server.port}`;
  const e = err as { code?: string; authenticationFailed?: boolean; responseText?: string; serverResponseCode?: string };
  if (e?.authenticationFailed || e?.serverResponseCode === 'AUTHENTICATIONFAILED' || e?.code === 'AuthenticationFailure') {
    const said = e.responseText ? ` (the server said: ${e.responseText.replace(/[\r\n]+/g, ' ').slice(0, 200)})` : '';
    return new WaxsealError('EAUTH', `The provider at ${where} refused the login for ${opts.user}: wrong user name or password${said}`, { cause: err });
  }
  const code = e?.code ?? '';
  if (code === 'ECONNREFUSED') return new WaxsealError('ECONNECT', `Could not connect to ${where}: connection refused (is the host and port right?)`, { cause: err });
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new WaxsealError('ECONNECT', `Could not connect to ${where}: the host name does not resolve`, { cause: err });
  if (/TIMEOUT/i.test(code)) return new WaxsealError('ECONNECT', `Could not connect to ${where}: no answer in time`, { cause: err });
  if (/CERT|SSL|TLS|self.signed|DEPTH_ZERO/i.test(`${code} ${errorMessage(err)}`)) {
    return new WaxsealError('ETLS', `TLS with ${where} failed: ${errorMessage(err)} (check the TLS mode and the server's certificate)`, { cause: err });
  }
  return new WaxsealError('ECONNECT', `Could not log in to ${where}: ${errorMessage(err)}`, { cause: err });
}

/** Log in once and out again: what `waxseal account set` does before saving anything. */
export async function checkLogin(opts: ConnectOptions): Promise<void> {
  const client = await connectImap(opts);
  await client.logout().catch(() => client.close());
}
