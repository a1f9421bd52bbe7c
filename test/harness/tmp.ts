/**
 * Temp dirs and loopback ports for the real-server harnesses.
 *
 * Every harness owns one temp dir and removes it in stop(), so parallel test files never share
 * state and a passing run leaves nothing behind in os.tmpdir(). The daemons a harness starts
 * run in their own process group, which is how stop() (and the watchdog, when the test
 * process dies without calling stop()) finds every one of their children.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TempDir {
  readonly path: string;
  /** Remove the dir and everything in it. Safe to call twice. */
  cleanup(): Promise<void>;
}

/** A fresh dir `<os.tmpdir()>/<prefix>XXXXXX`, mode 0700 as mkdtemp makes it. */
export async function makeTempDir(prefix: string): Promise<TempDir> {
  if (prefix.includes('/')) throw new Error(`makeTempDir: prefix must not contain "/": ${prefix}`);
  const path = await mkdtemp(join(tmpdir(), prefix));
  return {
    path,
    // maxRetries: a daemon that was just killed may still be closing files in the dir.
    cleanup: () => rm(path, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 }),
  };
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago. Only for servers that need the port
 * written into a config file (Dovecot, Postfix); anything we listen on ourselves uses port 0.
 * Another process can take the port before the server binds it, so callers must retry their
 * start when it fails with "Address already in use".
 */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port as number;
}

/**
 * `count` distinct free ports. They are held open together until all are known, because
 * binding port 0 twice in a row can hand out the same port again.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  try {
    return await Promise.all(
      servers.map(
        (server) =>
          new Promise<number>((resolve, reject) => {
            server.once('error', reject);
            server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
              const address = server.address();
              if (address === null || typeof address === 'string') reject(new Error('freePorts: no TCP address'));
              else resolve(address.port);
            });
          }),
      ),
    );
  } finally {
    await Promise.all(
      servers.map((server) => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()))),
    );
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Pids of the live (not zombie) processes in process group `pgid`, read from /proc. */
export async function groupMembers(pgid: number): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = await readFile(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // "pid (comm) state ppid pgrp ...": comm may contain spaces and parens, so split after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] !== 'Z' && Number(fields[2]) === pgid) pids.push(Number(name));
  }
  return pids;
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/**
 * SIGTERM every process of the group, SIGKILL whatever is left after `graceMs`, and resolve
 * once none is left. Daemons that take their time on SIGTERM (Dovecot's master sleeps a fixed
 * second for its log process) are not worth waiting for: their temp dir is deleted next.
 */
export async function stopProcessGroup(pgid: number, graceMs: number): Promise<void> {
  // -1 or 0 would signal every process we may signal, or our own group.
  if (!Number.isInteger(pgid) || pgid <= 1) throw new Error(`stopProcessGroup: bad process group ${pgid}`);
  signalGroup(pgid, 'SIGTERM');
  const killAt = Date.now() + graceMs;
  for (;;) {
    if ((await groupMembers(pgid)).length === 0) return;
    if (Date.now() >= killAt) break;
    await sleep(20);
  }
  signalGroup(pgid, 'SIGKILL');
  const giveUpAt = Date.now() + 5_000;
  while ((await groupMembers(pgid)).length > 0) {
    if (Date.now() >= giveUpAt) throw new Error(`process group ${pgid} survived SIGKILL`);
    await sleep(20);
  }
}

export interface Watchdog {
  /** Kill this process group too if the test process dies. */
  guard(pgid: number): void;
  /** The harness is stopping normally: the watchdog must not act any more. */
  release(): void;
}

/**
 * A detached shell that waits for EOF on its stdin, which happens when the test process dies
 * by any means (even SIGKILL), and then kills the guarded process groups and removes `dir`.
 * Without it a crashed or timed-out test file leaves Postfix (which daemonizes) running forever.
 */
export function startWatchdog(dir: string): Watchdog {
  const script =
    'g=; while read p; do g="$g $p"; done; for p in $g; do kill -9 -$p 2>/dev/null; done; rm -rf -- "$1"';
  const child = spawn('/bin/sh', ['-c', script, 'waxseal-watchdog', dir], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  child.on('error', () => {}); // only a safety net: a missing /bin/sh must not fail the test
  child.unref();
  const stdin = child.stdin;
  stdin?.on('error', () => {});
  (stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return {
    guard: (pgid) => {
      if (!Number.isInteger(pgid) || pgid <= 1) throw new Error(`watchdog: bad process group ${pgid}`);
      stdin?.write(`${pgid}\n`);
    },
    release: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      stdin?.destroy();
    },
  };
}
