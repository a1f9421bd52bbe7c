/**
 * The running daemons of this user on this machine, so that the embedded default can hand
 * mail for another local profile to that profile's daemon (its own pipeline decrypts and
 * stores it). One small file per running daemon in a 0700 directory of the user's runtime
 * dir: the address, the data dir (whose control API and 0600 token the other daemon uses,
 * as the CLI does) and the public key to encrypt to. Nothing secret is in it.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export interface RegisteredDaemon {
  email: string;
  dataDir: string;
  pid: number;
  publicKey: string;
}

export function registryDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.WAXSEAL_RUNTIME_DIR) return env.WAXSEAL_RUNTIME_DIR;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'waxseal');
  let uid = 'user';
  try {
    uid = String(userInfo().uid);
  } catch {
    // keep the default
  }
  return join(tmpdir(), `waxseal-${uid}`);
}

const fileOf = (dir: string, email: string) => join(dir, `${createHash('sha256').update(email.toLowerCase()).digest('hex').slice(0, 32)}.json`);

export function register(entry: RegisteredDaemon, dir = registryDir()): () => void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = fileOf(dir, entry.email);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(entry), { mode: 0o600 });
  renameSync(tmp, file);
  return () => {
    try {
      const current = JSON.parse(readFileSync(file, 'utf8')) as RegisteredDaemon;
      if (current.pid === entry.pid && current.dataDir === entry.dataDir) rmSync(file, { force: true });
    } catch {
      // already gone
    }
  };
}

/** The running daemon serving `email`, if any (a stale entry of a dead process is ignored). */
export function findDaemon(email: string, dir = registryDir()): RegisteredDaemon | undefined {
  try {
    const entry = JSON.parse(readFileSync(fileOf(dir, email), 'utf8')) as RegisteredDaemon;
    if (entry.email.toLowerCase() !== email.toLowerCase()) return undefined;
    process.kill(entry.pid, 0);
    return entry;
  } catch {
    return undefined;
  }
}

export function listDaemons(dir = registryDir()): RegisteredDaemon[] {
  try {
    return readdirSync(dir)
      .filter((n) => n.endsWith('.json'))
      .map((n) => {
        try {
          return JSON.parse(readFileSync(join(dir, n), 'utf8')) as RegisteredDaemon;
        } catch {
          return undefined;
        }
      })
      .filter((e): e is RegisteredDaemon => e !== undefined && findDaemon(e.email, dir) !== undefined);
  } catch {
    return [];
  }
}
