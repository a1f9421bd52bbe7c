/**
 * A real Waxseal IMAP server over a real sealed store, on an ephemeral loopback port, for
 * protocol tests. Clients (imapflow, mbsync, mutt, imaplib) connect to `port`.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { startImapServer, type ImapServer } from '../../src/imap/server.js';
import { StoreBackend, summarizeForImap } from '../../src/mail/imap-backend.js';
import { STANDARD_MAILBOXES } from '../../src/daemon/profile.js';
import { deriveKeys, newRootSecret } from '../../src/secrets/root.js';
import { Store } from '../../src/store/store.js';
import { makeTempDir, type TempDir } from './tmp.js';

export interface ImapHarness {
  port: number;
  user: string;
  password: string;
  store: Store;
  server: ImapServer;
  dir: TempDir;
  /** A logged-in imapflow client; closed by stop(). */
  client(): Promise<ImapFlow>;
  stop(): Promise<void>;
}

export async function startImap(
  opts: { maxMessageBytes?: number; preAuthTimeoutMs?: number; idleTimeoutMs?: number; tls?: { key: string; cert: string } } = {},
): Promise<ImapHarness> {
  const dir = await makeTempDir('waxseal-imap-');
  const store = await Store.open({ dir: join(dir.path, 'store'), keys: deriveKeys(newRootSecret()), summarize: summarizeForImap });
  for (const [name, use] of STANDARD_MAILBOXES) await store.createMailbox(name, use);
  const user = 'alice@example.org';
  const password = randomBytes(12).toString('base64url');
  const server = await startImapServer({
    backend: new StoreBackend({ store, user, password: () => password }),
    host: '127.0.0.1',
    port: 0,
    ...(opts.tls ? { tls: opts.tls, tlsPort: 0 } : {}),
    maxMessageBytes: opts.maxMessageBytes ?? 64 * 1024 * 1024,
    preAuthTimeoutMs: opts.preAuthTimeoutMs ?? 60_000,
    idleTimeoutMs: opts.idleTimeoutMs ?? 30 * 60_000,
    log: () => undefined,
  });
  const clients: ImapFlow[] = [];
  return {
    port: server.port,
    user,
    password,
    store,
    server,
    dir,
    async client() {
      const c = new ImapFlow({ host: '127.0.0.1', port: server.port, secure: false, auth: { user, pass: password }, logger: false, doSTARTTLS: false } as never);
      await c.connect();
      clients.push(c);
      return c;
    },
    async stop() {
      await Promise.all(clients.map((c) => c.logout().catch(() => c.close())));
      await server.close();
      await store.close();
      await dir.cleanup();
    },
  };
}
