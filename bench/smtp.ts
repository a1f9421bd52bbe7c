/**
 * SMTP benchmark: 500 messages of 10 KB submitted through Waxseal (sealed outbox, OpenPGP
 * sign+encrypt to the recipient, relay) to the harness's Postfix, beside the same 500
 * submitted straight to that Postfix in the same run. Both use the same client (nodemailer,
 * 4 pooled connections). Measured: submission latency per message (p50/p95, until the 250)
 * and end-to-end throughput (first submission until the last message is in the recipient's
 * Dovecot mailbox).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { createTransport } from 'nodemailer';
import { generateOwnKey } from '../src/openpgp/keys.js';
import { startProvider } from '../test/harness/provider.js';
import { startDaemon } from '../test/harness/daemon.js';
import { readdir } from 'node:fs/promises';

const N = Number(process.env.BENCH_SMTP_MESSAGES ?? 500);
const SIZE = 10 * 1024;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))]!;
}

/** Messages delivered so far: directory entries only (reading them would load this process). */
async function delivered(dir: string): Promise<number> {
  let n = 0;
  for (const sub of ['new', 'cur']) n += await readdir(join(dir, sub)).then((x) => x.length, () => 0);
  return n;
}

async function submit(port: number, auth: { user: string; pass: string }, tag: string, bobDir: string): Promise<{ latencies: number[]; totalMs: number }> {
  const t = createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, auth, pool: true, maxConnections: 4, maxMessages: Infinity });
  const body = randomBytes((SIZE * 3) / 4).toString('base64').replace(/.{76}/g, '$&\r\n');
  const before = await delivered(bobDir);
  const latencies: number[] = [];
  const start = performance.now();
  let i = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (i < N) {
        const n = i++;
        const t0 = performance.now();
        await t.sendMail({ from: 'me@example.org', to: 'bob@example.test', subject: `${tag} ${n}`, text: body });
        latencies.push(performance.now() - t0);
      }
    }),
  );
  t.close();
  for (;;) {
    const have = (await delivered(bobDir)) - before;
    if (have >= N) break;
    if (performance.now() - start > 600_000) throw new Error(`${tag}: only ${have} of ${N} delivered`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { latencies, totalMs: performance.now() - start };
}

export async function main(): Promise<void> {
  const provider = await startProvider({ users: [{ user: 'me@example.org', password: 'upstream-pw' }, { user: 'bob@example.test', password: 'bob-pw' }] });
  const w = await startDaemon({
    email: 'me@example.org',
    upstreamSmtp: { host: '127.0.0.1', port: provider.postfix.submissionPort, tls: 'none', user: 'me@example.org', password: () => 'upstream-pw' },
  });
  try {
    const bob = await generateOwnKey({ email: 'bob@example.test' });
    await w.daemon.keyring.import(bob.toPublic().armor());
    const bobDir = provider.dovecot.mailDir('bob@example.test');
    // Warm both paths (Postfix's first delivery creates its queue files and the Maildir).
    await submit(provider.postfix.submissionPort, { user: 'me@example.org', pass: 'upstream-pw' }, 'warm', bobDir).catch(() => undefined);
    const direct = await submit(provider.postfix.submissionPort, { user: 'me@example.org', pass: 'upstream-pw' }, 'direct', bobDir);
    const sealed = await submit(w.credentials.smtp.port, { user: w.credentials.user, pass: w.credentials.password }, 'waxseal', bobDir);
    const rows = [
      { path: 'Postfix direct', 'msg/s end-to-end': +((N * 1000) / direct.totalMs).toFixed(1), 'p50 submit ms': +pct(direct.latencies, 50).toFixed(1), 'p95 submit ms': +pct(direct.latencies, 95).toFixed(1), 'total s': +(direct.totalMs / 1000).toFixed(2) },
      { path: 'through Waxseal', 'msg/s end-to-end': +((N * 1000) / sealed.totalMs).toFixed(1), 'p50 submit ms': +pct(sealed.latencies, 50).toFixed(1), 'p95 submit ms': +pct(sealed.latencies, 95).toFixed(1), 'total s': +(sealed.totalMs / 1000).toFixed(2) },
    ];
    console.table(rows);
    const ratio = sealed.totalMs / direct.totalMs;
    console.log(`${N} messages of 10 KB. Throughput ratio (direct / Waxseal): ${ratio.toFixed(2)}x slower through Waxseal; aim within 3x. p95 submission latency through Waxseal ${pct(sealed.latencies, 95).toFixed(1)} ms (aim < 100 ms).`);
    const out = fileURLToPath(new URL('./results/', import.meta.url));
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, `smtp-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), `${JSON.stringify({ messages: N, size: SIZE, rows, ratio }, null, 2)}\n`);
  } finally {
    await w.stop();
    await provider.stop();
  }
}
