/**
 * The Waxseal side of the IMAP benchmark, in its own process so its RSS is its own:
 * opens (or creates) a store in DIR with the given root secret, serves IMAP on an ephemeral
 * port, prints `READY <port> <ms from start to listening>`, and on SIGTERM prints
 * `RSS <peak MB>` and exits.
 */
import { join } from 'node:path';
import { startImapServer } from '../src/imap/server.js';
import { StoreBackend, summarizeForImap } from '../src/mail/imap-backend.js';
import { STANDARD_MAILBOXES } from '../src/daemon/profile.js';
import { deriveKeys } from '../src/secrets/root.js';
import { Store } from '../src/store/store.js';

const started = performance.now();
const [dir, secretHex, user, password] = process.argv.slice(2) as [string, string, string, string];
const store = await Store.open({ dir: join(dir, 'store'), keys: deriveKeys(Buffer.from(secretHex, 'hex')), summarize: summarizeForImap });
for (const [name, use] of STANDARD_MAILBOXES) if (!store.mailboxByName(name)) await store.createMailbox(name, use);
const server = await startImapServer({
  backend: new StoreBackend({ store, user, password: () => password }),
  host: '127.0.0.1',
  port: 0,
  maxMessageBytes: 64 * 1024 * 1024,
  preAuthTimeoutMs: 60_000,
  idleTimeoutMs: 30 * 60_000,
  log: () => undefined,
});
process.stdout.write(`READY ${server.port} ${(performance.now() - started).toFixed(0)}\n`);
process.once('SIGTERM', async () => {
  await server.close();
  await store.close();
  process.stdout.write(`RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)}\n`);
  process.exit(0);
});
