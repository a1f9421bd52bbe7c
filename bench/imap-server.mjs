/**
 * The Waxseal side of the IMAP benchmark, in its own process so its RSS is its own, and run
 * from the build (`dist/`, as `waxseal serve` runs) rather than through tsx, whose loader
 * thread and compiler add ~30 MB and their own CPU to what would be measured:
 * opens (or creates) a store in DIR with the given root secret, serves IMAP on an ephemeral
 * port, prints `READY <port> <ms from start to listening>`, and on SIGTERM consolidates the
 * marks the operations left (timed: `MARKS <documents> <after> <ms> <peak MB before> <after>`),
 * prints `RSS <peak MB>` and exits.
 */
import { join } from 'node:path';
import { startImapServer } from '../dist/src/imap/server.js';
import { StoreBackend, summarizeForImap } from '../dist/src/mail/imap-backend.js';
import { STANDARD_MAILBOXES } from '../dist/src/daemon/profile.js';
import { deriveKeys } from '../dist/src/secrets/root.js';
import { Store } from '../dist/src/store/store.js';

const started = performance.now();
const [dir, secretHex, user, password] = process.argv.slice(2);
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
// When profiling (bench/imap.ts), RSS over time on the operations' clock, to see which one peaks.
if (process.env.WAXSEAL_BENCH_PROFILE) {
  setInterval(() => {
    const m = process.memoryUsage();
    process.stderr.write(`rss ${process.hrtime.bigint() / 1000n} ${(m.rss / 1e6).toFixed(0)} heap ${(m.heapTotal / 1e6).toFixed(0)} used ${(m.heapUsed / 1e6).toFixed(0)} ext ${(m.external / 1e6).toFixed(0)}\n`);
  }, 50).unref();
}
/** When profiling, the background steps after the operations, on the same clock. */
const step = (name) => process.env.WAXSEAL_BENCH_PROFILE && process.stderr.write(`step ${process.hrtime.bigint() / 1000n} ${name}\n`);
process.once('SIGTERM', async () => {
  step('sigterm');
  await server.close();
  // STOREs, MOVEs and EXPUNGEs on many messages leave marks documents (store/marks.ts), which
  // are consolidated into a few once 16 pile up; the operations leave fewer, so a
  // consolidation of all of them is done here, timed and counted in the peak.
  const marks = store.index.liveMarks;
  const opsRss = process.resourceUsage().maxRSS / 1024;
  const t = performance.now();
  step('consolidate');
  await store.index.consolidateMarks(true);
  step('close');
  process.stdout.write(`MARKS ${marks} ${store.index.liveMarks} ${(performance.now() - t).toFixed(0)} ${opsRss.toFixed(0)} ${(process.resourceUsage().maxRSS / 1024).toFixed(0)}\n`);
  await store.close();
  step('closed');
  process.stdout.write(`RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)}\n`);
  process.exit(0);
});
