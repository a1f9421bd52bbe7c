/**
 * Store benchmark: import N corpus messages, then read every one back whole.
 *
 *   sealed     Waxseal's store: split, AES-GCM sealed, content + state + local index
 *   reference  plain PouchDB on the same LevelDB adapter, one document per raw message
 *
 * Both write in batches of the same size and read with the same concurrency. Each phase
 * runs in its own process, so the peak RSS reported is that phase's alone.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spamAssassin, type CorpusMessage } from '../test/harness/corpus.js';

const BATCH = 100;
const READ_CONCURRENCY = 16;

export function corpus(n: number): CorpusMessage[] {
  const groups = ['easy-ham-1', 'easy-ham-2', 'spam-1', 'spam-2', 'hard-ham-1'] as const;
  const out: CorpusMessage[] = [];
  for (const g of groups) {
    if (out.length >= n) break;
    out.push(...spamAssassin(g, n - out.length));
  }
  return out;
}

interface PhaseResult {
  importMs: number;
  readMs: number;
  importPeakMb: number;
  readPeakMb: number;
  bytes: number;
  messages: number;
  peakRssMb: number;
  verified: boolean;
}

/** Peak RSS while `fn` runs, sampled every 5 ms (maxRSS covers only the whole process). */
async function peakDuring<T>(fn: () => Promise<T>): Promise<[T, number]> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  try {
    const result = await fn();
    peak = Math.max(peak, process.memoryUsage().rss);
    return [result, peak / 1e6];
  } finally {
    clearInterval(timer);
  }
}

async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

async function sealedPhase(dir: string, msgs: CorpusMessage[]): Promise<Omit<PhaseResult, 'peakRssMb'>> {
  const { Store } = await import('../src/store/store.js');
  const { deriveKeys, newRootSecret } = await import('../src/secrets/root.js');
  const keys = deriveKeys(newRootSecret());
  const store = await Store.open({ dir, keys });
  const box = (await store.createMailbox('INBOX')).logical;
  let t = performance.now();
  const [, importPeakMb] = await peakDuring(async () => {
    for (let i = 0; i < msgs.length; i += BATCH) {
      await store.import(box, msgs.slice(i, i + BATCH).map((m) => ({ raw: m.raw })));
    }
  });
  const importMs = performance.now() - t;
  await store.close();
  // Read from a fresh open: no cache warmed by the import.
  const reader = await Store.open({ dir, keys });
  const entries = [...reader.index.mailbox(box)!.entries.values()];
  let bytes = 0;
  let verified = true;
  t = performance.now();
  const [, readPeakMb] = await peakDuring(() =>
    pool(entries, READ_CONCURRENCY, async (e) => {
      const raw = await reader.read(e);
      bytes += raw.length;
      if (!raw.equals(msgs[e.uid - 1]!.raw)) verified = false;
    }),
  );
  const readMs = performance.now() - t;
  await reader.close();
  return { importMs, readMs, importPeakMb, readPeakMb, bytes, messages: entries.length, verified };
}

async function referencePhase(dir: string, msgs: CorpusMessage[]): Promise<Omit<PhaseResult, 'peakRssMb'>> {
  const { PouchDB } = await import('../src/store/pouch.js');
  let db = new PouchDB(dir);
  let t = performance.now();
  const [, importPeakMb] = await peakDuring(async () => {
    for (let i = 0; i < msgs.length; i += BATCH) {
      await db.bulkDocs(msgs.slice(i, i + BATCH).map((m, j) => ({ _id: String(i + j).padStart(8, '0'), raw: m.raw.toString('latin1') })));
    }
  });
  const importMs = performance.now() - t;
  await db.close();
  db = new PouchDB(dir);
  let bytes = 0;
  let verified = true;
  t = performance.now();
  const [, readPeakMb] = await peakDuring(() =>
    pool(msgs.map((_, i) => i), READ_CONCURRENCY, async (i) => {
      const doc = await db.get(String(i).padStart(8, '0'));
      const raw = Buffer.from(doc.raw as string, 'latin1');
      bytes += raw.length;
      if (!raw.equals(msgs[i]!.raw)) verified = false;
    }),
  );
  const readMs = performance.now() - t;
  await db.close();
  return { importMs, readMs, importPeakMb, readPeakMb, bytes, messages: msgs.length, verified };
}

/** Child-process side: run one phase and print its result as JSON. */
async function child(phase: string, n: number, dir: string): Promise<void> {
  const msgs = corpus(n);
  const result = phase === 'sealed' ? await sealedPhase(dir, msgs) : await referencePhase(dir, msgs);
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(`${JSON.stringify({ ...result, peakRssMb })}\n`);
}

function runPhase(phase: string, n: number): PhaseResult {
  const dir = mkdtempSync(join(tmpdir(), `waxseal-bench-${phase}-`));
  try {
    const self = fileURLToPath(import.meta.url);
    const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', phase, String(n), dir], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (r.status !== 0) throw new Error(`${phase} phase failed:\n${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function main(args: string[]): Promise<void> {
  const n = Number(args.find((a) => a.startsWith('--messages='))?.split('=')[1] ?? 5000);
  console.log(`store benchmark: ${n} SpamAssassin corpus messages, batches of ${BATCH}, ${READ_CONCURRENCY} parallel reads`);
  const reference = runPhase('reference', n);
  const sealed = runPhase('sealed', n);
  const mb = (r: PhaseResult) => r.bytes / 1e6;
  const row = (name: string, r: PhaseResult) =>
    `${name.padEnd(10)} import ${(r.messages / (r.importMs / 1000)).toFixed(0).padStart(6)} msg/s ${(mb(r) / (r.importMs / 1000)).toFixed(1).padStart(6)} MB/s` +
    `   read ${(r.messages / (r.readMs / 1000)).toFixed(0).padStart(6)} msg/s ${(mb(r) / (r.readMs / 1000)).toFixed(1).padStart(6)} MB/s` +
    `   peak RSS import ${r.importPeakMb.toFixed(0)} / read ${r.readPeakMb.toFixed(0)} / process ${r.peakRssMb.toFixed(0)} MB   byte-exact ${r.verified ? 'yes' : 'NO'}`;
  console.log(row('reference', reference));
  console.log(row('sealed', sealed));
  console.log(
    `ratio (sealed / reference time): import ${(sealed.importMs / reference.importMs).toFixed(2)}×, read ${(sealed.readMs / reference.readMs).toFixed(2)}×  (aim: ≤ 2×, peak RSS < 300 MB)`,
  );
  const out = join(fileURLToPath(new URL('.', import.meta.url)), 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, `store-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), JSON.stringify({ n, reference, sealed }, null, 2));
  if (!sealed.verified || !reference.verified) throw new Error('a read did not return the bytes that were stored');
}

if (process.argv[2] === '--child') {
  await child(process.argv[3]!, Number(process.argv[4]), process.argv[5]!);
}
