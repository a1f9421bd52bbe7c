/**
 * OpenPGP benchmark: sign+encrypt and decrypt+verify of 10 KB and 1 MB messages, median of
 * 50, Waxseal's transforms (the whole PGP/MIME message, header protection included) beside
 * GnuPG 2.2 doing the same per message (`gpg --batch -z 0 -se`, `--decrypt`; process spawn
 * included, as a mail program calling gpg pays it) in the same run. gpg's `--multifile`
 * (many files, one process) is measured too where it applies: it encrypts or decrypts, but
 * does not sign, so it is the fastest gpg can go, not a like-for-like figure.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { readKey } from 'openpgp';
import { generateOwnKey } from '../src/openpgp/keys.js';
import { transformIncoming } from '../src/openpgp/incoming.js';
import { transformOutgoing } from '../src/openpgp/outgoing.js';
import { startGpg } from '../test/harness/gpg.js';
import { makeTempDir } from '../test/harness/tmp.js';

const RUNS = 50;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function message(size: number): Buffer {
  // Text-like content (base64 of random bytes, in lines), as a large mail body is.
  const line = () => randomBytes(57).toString('base64');
  const lines: string[] = [];
  let n = 0;
  while (n < size) {
    const l = line();
    lines.push(l);
    n += l.length + 2;
  }
  return Buffer.from(
    ['From: Alice <alice@example.org>', 'To: Bob <bob@example.net>', 'Subject: bench', 'Date: Mon, 23 Nov 2026 10:00:00 +0000', 'Message-ID: <bench@example.org>', 'Content-Type: text/plain; charset=us-ascii', '', ...lines, ''].join('\r\n'),
  );
}

async function time(fn: () => Promise<unknown>): Promise<number[]> {
  await fn(); // warm-up
  const out: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}

export async function main(): Promise<void> {
  const gpg = await startGpg();
  const tmp = await makeTempDir('waxseal-bench-pgp-');
  try {
    const alice = await generateOwnKey({ name: 'Alice', email: 'alice@example.org' });
    const bobFpr = await gpg.generate('Bob <bob@example.net>');
    const bob = await readKey({ armoredKey: await gpg.exportPublic(bobFpr) });
    const aliceFpr = (await gpg.importKey(alice.armor()))[0]!;
    const rows: Array<Record<string, string | number>> = [];
    for (const size of [10 * 1024, 1024 * 1024]) {
      const raw = message(size);
      const label = size >= 1024 * 1024 ? '1 MB' : '10 KB';
      // Waxseal, both directions, from Alice's side: encrypt to Bob+Alice, decrypt her Sent copy.
      const enc = await time(() => transformOutgoing({ raw, sender: { address: 'alice@example.org', key: alice }, recipients: [{ address: 'bob@example.net', key: bob }], policy: 'always', autocrypt: false }));
      const sample = (await transformOutgoing({ raw, sender: { address: 'alice@example.org', key: alice }, recipients: [{ address: 'bob@example.net', key: bob }], policy: 'always', autocrypt: false })).raw;
      const dec = await time(async () => {
        const r = await transformIncoming({ raw: sample, decryptionKeys: [alice], verificationKeys: async () => [alice.toPublic()] });
        if (r.signature.status !== 'valid') throw new Error('bench: signature did not verify');
      });
      // gpg per message, same keys (Alice signs, encrypts to Bob and Alice; Alice decrypts).
      const gEnc = await time(async () => {
        const r = await gpg.run(['-z', '0', '--armor', '--sign', '--local-user', aliceFpr, '--encrypt', '--recipient', bobFpr, '--recipient', aliceFpr], raw);
        if (r.code !== 0) throw new Error(`gpg: ${r.stderr}`);
      });
      const gpgCipher = (await gpg.run(['-z', '0', '--armor', '--sign', '--local-user', aliceFpr, '--encrypt', '--recipient', bobFpr, '--recipient', aliceFpr], raw)).stdout;
      const gDec = await time(async () => {
        const r = await gpg.run(['--decrypt'], gpgCipher);
        if (!r.status.some((s) => s.startsWith('GOODSIG'))) throw new Error(`gpg decrypt: ${r.stderr}`);
      });
      // gpg --multifile: RUNS files in one process, per-file time.
      const dir = join(tmp.path, label.replace(' ', ''));
      mkdirSync(dir, { recursive: true });
      const files = Array.from({ length: RUNS }, (_, i) => join(dir, `m${i}`));
      for (const f of files) writeFileSync(f, raw);
      let t = performance.now();
      const me = await gpg.run(['-z', '0', '--yes', '--encrypt', '--recipient', bobFpr, '--recipient', aliceFpr, '--multifile', ...files]);
      const multiEnc = (performance.now() - t) / RUNS;
      if (me.code !== 0) throw new Error(`gpg multifile: ${me.stderr}`);
      t = performance.now();
      const md = await gpg.run(['--yes', '--decrypt', '--multifile', ...files.map((f) => `${f}.gpg`)]);
      const multiDec = (performance.now() - t) / RUNS;
      if (md.code !== 0) throw new Error(`gpg multifile decrypt: ${md.stderr}`);
      rows.push({
        size: label,
        'waxseal sign+encrypt ms': +median(enc).toFixed(2),
        'gpg -se ms': +median(gEnc).toFixed(2),
        'ratio enc': +(median(enc) / median(gEnc)).toFixed(2),
        'waxseal decrypt+verify ms': +median(dec).toFixed(2),
        'gpg --decrypt ms': +median(gDec).toFixed(2),
        'ratio dec': +(median(dec) / median(gDec)).toFixed(2),
        'gpg --multifile enc ms/msg (no sign)': +multiEnc.toFixed(2),
        'gpg --multifile dec ms/msg': +multiDec.toFixed(2),
      });
    }
    console.table(rows);
    const out = fileURLToPath(new URL('./results/', import.meta.url));
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, `openpgp-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), `${JSON.stringify({ runs: RUNS, rows }, null, 2)}\n`);
    console.log('Ratio = Waxseal median / gpg median (per message, spawn included); < 1 means Waxseal is faster.');
  } finally {
    await gpg.stop();
    await tmp.cleanup();
  }
}
