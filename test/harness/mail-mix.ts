/**
 * A provider mailbox as the upstream tests and the ingest benchmark want it: corpus plaintext
 * (byte-identical duplicates dropped, since a store keyed by content keeps one of them) and
 * PGP/MIME messages that GnuPG signed and encrypted to the profile's key.
 */
import { createHash } from 'node:crypto';
import { spamAssassin } from './corpus.js';
import type { Gpg } from './gpg.js';

export interface MixedMessage {
  raw: Buffer;
  encrypted: boolean;
  /** For encrypted ones: a line only the plaintext holds. */
  secret?: string;
}

export function corpusPlain(count: number): Buffer[] {
  const seen = new Set<string>();
  const out: Buffer[] = [];
  for (const group of ['easy-ham-1', 'easy-ham-2', 'hard-ham-1', 'spam-2'] as const) {
    for (const m of spamAssassin(group)) {
      const h = createHash('sha256').update(m.raw).digest('hex');
      if (seen.has(h) || m.raw.includes(0)) continue;
      seen.add(h);
      out.push(m.raw);
      if (out.length === count) return out;
    }
  }
  throw new Error(`the corpus has only ${out.length} distinct messages`);
}

/** One gpg-made PGP/MIME message from `sender` (a gpg uid) to `to`. */
export async function gpgMessage(gpg: Gpg, opts: { sender: string; to: string; recipient: string; index: number }): Promise<MixedMessage> {
  const secret = `the secret of message ${opts.index} is ${createHash('sha256').update(String(opts.index)).digest('hex').slice(0, 16)}`;
  const inner = `Content-Type: text/plain; charset=utf-8\r\n\r\n${secret}\r\n`;
  const armored = (await gpg.encrypt(inner, { recipients: [opts.recipient], signer: opts.sender, armor: true })).toString('latin1').replace(/\r?\n/g, '\r\n');
  const raw = [
    `From: <${opts.sender}>`,
    `To: <${opts.to}>`,
    'Subject: [...]',
    `Date: Mon, 23 Nov 2026 10:${String(opts.index % 60).padStart(2, '0')}:00 +0000`,
    `Message-ID: <enc-${opts.index}@waxseal.test>`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="enc-b"',
    '',
    '--enc-b',
    'Content-Type: application/pgp-encrypted',
    '',
    'Version: 1',
    '',
    '--enc-b',
    'Content-Type: application/octet-stream; name="encrypted.asc"',
    '',
    armored.trimEnd(),
    '--enc-b--',
    '',
  ].join('\r\n');
  return { raw: Buffer.from(raw, 'latin1'), encrypted: true, secret };
}

/** `plain` corpus messages with `encrypted` gpg messages spread evenly among them. */
export async function mixedMailbox(opts: { gpg: Gpg; sender: string; to: string; recipient: string; plain: number; encrypted: number }): Promise<MixedMessage[]> {
  const plain = corpusPlain(opts.plain).map((raw) => ({ raw, encrypted: false }));
  const enc: MixedMessage[] = [];
  // Two gpg at a time: more would starve the other test file running beside this one.
  for (let i = 0; i < opts.encrypted; i += 2) {
    const n = Math.min(2, opts.encrypted - i);
    enc.push(...(await Promise.all(Array.from({ length: n }, (_, k) => gpgMessage(opts.gpg, { ...opts, index: i + k })))));
  }
  const out: MixedMessage[] = [];
  const every = opts.encrypted > 0 ? Math.max(1, Math.floor((opts.plain + opts.encrypted) / opts.encrypted)) : Infinity;
  let p = 0;
  let e = 0;
  for (let i = 0; i < opts.plain + opts.encrypted; i++) {
    if ((i % every === every - 1 && e < enc.length) || p >= plain.length) out.push(enc[e++]!);
    else out.push(plain[p++]!);
  }
  return out;
}
