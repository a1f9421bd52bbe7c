/**
 * Sandboxing shared by the real-server harnesses: temp dirs, loopback ports, and the daemon
 * processes started in them.
 *
 * Every harness owns one temp dir and removes it in stop(), so parallel test files never share
 * state and a passing run leaves nothing behind in os.tmpdir(). Daemons run in their own
 * process group, which is how stop() (and the watchdog, when the test process dies without
 * calling stop()) finds every process they forked.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';

export const run = promisify(execFile);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

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

// --- daemon processes ------------------------------------------------------------------------

/** Pids of the live (not zombie) processes in process group `pgid`, read from /proc. */
export async function groupMembers(pgid: number): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => ''); // may have exited
    // "pid (comm) state ppid pgrp ...": comm may contain spaces and parens, so split after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (stat && fields[0] !== 'Z' && Number(fields[2]) === pgid) pids.push(Number(name));
  }
  return pids;
}

function checkGroup(pgid: number): void {
  // -1 or 0 would signal every process we may signal, or our own group.
  if (!Number.isInteger(pgid) || pgid <= 1) throw new Error(`bad process group ${pgid}`);
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
  checkGroup(pgid);
  signalGroup(pgid, 'SIGTERM');
  const killAt = Date.now() + graceMs;
  while ((await groupMembers(pgid)).length > 0) {
    if (Date.now() >= killAt) {
      signalGroup(pgid, 'SIGKILL');
      if (Date.now() >= killAt + 5_000) throw new Error(`process group ${pgid} survived SIGKILL`);
    }
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
  // dash's kill takes no "--", so "-$p" must be a separate, negative argument.
  const script = 'g=; while read p; do g="$g $p"; done; for p in $g; do kill -9 -$p 2>/dev/null; done; rm -rf -- "$1"';
  const child = spawn('/bin/sh', ['-c', script, 'waxseal-watchdog', dir], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
  child.on('error', () => {}); // a safety net only: its absence must not fail a test
  child.unref();
  const stdin = child.stdin;
  stdin?.on('error', () => {});
  (stdin as unknown as { unref?: () => void } | null)?.unref?.(); // the pipe must not keep us alive
  return {
    guard: (pgid) => {
      checkGroup(pgid);
      stdin?.write(`${pgid}\n`);
    },
    release: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      stdin?.destroy();
    },
  };
}

/** Keep a daemon's stdout/stderr (startup errors go there before its log file is open). */
export function collectOutput(child: ChildProcess): () => string {
  let out = '';
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      out = (out + chunk).slice(-8_000);
    });
  }
  child.on('error', (err) => {
    out += `\n${err.message}`;
  });
  return () => out;
}

export interface Greeting {
  port: number;
  /** What the first line must match, e.g. /^220 / or /^\* OK/. */
  banner: RegExp;
  /** Connect with implicit TLS, verifying against this certificate (which also tests it). */
  ca?: string;
}

/**
 * Resolves once every port sends a first line matching its banner, retrying refused
 * connections for up to `timeoutMs`; rejects at once if `child` exits first. Listening alone
 * is not enough: both Dovecot and Postfix bind early and fork the process that greets later.
 */
export async function untilGreeted(child: ChildProcess | undefined, greetings: Greeting[], timeoutMs = 10_000): Promise<void> {
  const abort = new AbortController(); // stop the polling of the others once one check fails
  let onExit: (() => void) | undefined;
  const exited = new Promise<never>((_, reject) => {
    onExit = () => reject(new Error(`exited with ${child?.exitCode ?? child?.signalCode} before it was ready`));
    child?.once('exit', onExit);
  });
  exited.catch(() => {});
  try {
    await Promise.race([Promise.all(greetings.map((g) => greeted(g, Date.now() + timeoutMs, abort.signal))), exited]);
  } finally {
    abort.abort();
    if (onExit) child?.off('exit', onExit);
  }
}

async function greeted({ port, banner, ca }: Greeting, deadline: number, signal: AbortSignal): Promise<void> {
  for (;;) {
    const line = await new Promise<string | Error>((resolve) => {
      const socket = ca ? tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' }) : connect(port, '127.0.0.1');
      socket.setEncoding('latin1');
      let data = '';
      socket.on('data', (chunk: string) => {
        data += chunk;
        if (!data.includes('\n')) return;
        socket.destroy();
        resolve(data.split(/\r?\n/)[0] as string);
      });
      socket.on('error', resolve);
      socket.on('close', () => resolve(new Error(`port ${port} closed before a greeting`)));
      socket.setTimeout(2_000, () => socket.destroy(new Error(`no greeting on port ${port}`)));
    });
    if (typeof line === 'string') {
      if (banner.test(line)) return;
      throw new Error(`unexpected greeting on port ${port}: ${line}`);
    }
    if (Date.now() > deadline || signal.aborted) throw line;
    await sleep(10);
  }
}

/** The error a failed start throws: what failed, and the tail of the server's own words. */
export function startError(what: string, cause: unknown, log: string): Error {
  const tail = log.trim().split('\n').slice(-25).join('\n');
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new Error(`${what} failed: ${reason}\n--- log tail ---\n${tail || '(empty)'}`, { cause });
}

/** stdout and stderr of a failed execFile, or '' */
export function outputOf(err: unknown): string {
  const e = err as { stdout?: string; stderr?: string };
  return [e.stdout, e.stderr].filter(Boolean).join('\n');
}

export async function fileSize(path: string): Promise<number> {
  return (await stat(path).catch(() => ({ size: 0 }))).size;
}

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** The self-signed certificate (PEM) to pass as `ca` to a client that verifies it. */
  ca: string;
}

/** A self-signed certificate for localhost and 127.0.0.1, valid for two days. */
export async function makeCertificate(dir: string): Promise<TlsFiles> {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  // EC instead of RSA: generating the key takes milliseconds.
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ]);
  return { certFile, keyFile, ca: await readFile(certFile, 'utf8') };
}

/** uid and primary gid of a system account, from /etc/passwd. */
export async function systemUser(name: string): Promise<{ uid: number; gid: number }> {
  const line = (await readFile('/etc/passwd', 'utf8')).split('\n').find((l) => l.startsWith(`${name}:`));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) throw new Error(`no system user ${name} in /etc/passwd`);
  return { uid: Number(uid), gid: Number(gid) };
}

/** What a log file gained since it was `offset` bytes long. */
export async function logSince(path: string, offset: number): Promise<string> {
  return (await readFile(path).catch(() => Buffer.alloc(0))).subarray(offset).toString('utf8');
}

/** How many sockets listen on 127.0.0.1:`port` (IPv4), from /proc/net/tcp. */
export async function listenersOn(port: number): Promise<number> {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const table = await readFile('/proc/net/tcp', 'utf8');
  // Columns: sl local_address rem_address st ...; st 0A is LISTEN.
  return table.split('\n').filter((line) => {
    const cols = line.trim().split(/\s+/);
    return cols[1] === local && cols[3] === '0A';
  }).length;
}
