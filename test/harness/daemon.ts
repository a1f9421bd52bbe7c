/**
 * A whole Waxseal daemon (IMAP, SMTP, outbox, control API) over a fresh profile in a temp
 * dir, on ephemeral loopback ports: in this process (`startDaemon`), or as a child process
 * that a test can kill -9 and start again over the same data dir (`startDaemonProcess`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Daemon, type Credentials, type DaemonOptions } from '../../src/daemon/daemon.js';
import { initProfile, unlockProfile, type SecretAccess } from '../../src/daemon/profile.js';
import { createMemoryKeychain } from '../../src/secrets/keychain.js';
import type { SmtpRelayOptions } from '../../src/outbox/relay.js';
import { makeTempDir, type TempDir } from './tmp.js';

const PASSPHRASE = 'daemon harness passphrase';
/** Cheap scrypt: these profiles live for one test. */
const access = (): SecretAccess => ({ keychain: createMemoryKeychain({ unavailable: 'tests use a passphrase' }), passphrase: { given: PASSPHRASE }, scrypt: { N: 1024, r: 8, p: 1 } });
const EPHEMERAL = { imap: { host: '127.0.0.1', port: 0 }, imaps: { host: '127.0.0.1', port: 0 }, smtp: { host: '127.0.0.1', port: 0 }, smtps: { host: '127.0.0.1', port: 0 } };

export interface DaemonHarness {
  daemon: Daemon;
  dir: TempDir;
  dataDir: string;
  credentials: Credentials;
  stop(): Promise<void>;
}

export async function startDaemon(opts: { email?: string; name?: string; dir?: TempDir } & Omit<DaemonOptions, 'unlocked'> = {}): Promise<DaemonHarness> {
  const { email = 'me@example.org', name, dir: given, ...daemonOpts } = opts;
  const dir = given ?? (await makeTempDir('waxseal-daemon-'));
  const dataDir = join(dir.path, 'profile');
  let unlocked;
  try {
    unlocked = await unlockProfile({ dataDir, ...access() });
  } catch {
    unlocked = await initProfile({ dataDir, email, ...(name ? { name } : {}), ...access() });
  }
  // Daemons of one test find each other, never those of tests running beside it.
  const daemon = await Daemon.start({ unlocked, ...EPHEMERAL, registryDir: join(dir.path, 'run'), ...daemonOpts });
  let stopped: Promise<void> | undefined;
  return {
    daemon,
    dir,
    dataDir,
    credentials: daemon.credentials(),
    stop: () => (stopped ??= daemon.stop().then(() => (given ? undefined : dir.cleanup()))),
  };
}

export async function initDaemonProfile(dir: TempDir, email = 'me@example.org'): Promise<string> {
  const dataDir = join(dir.path, 'profile');
  await initProfile({ dataDir, email, ...access() });
  return dataDir;
}

const CHILD = fileURLToPath(new URL('./daemon-child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface DaemonProcess {
  child: ChildProcess;
  credentials: Credentials;
  /** SIGKILL, no clean-up at all. */
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

/** The daemon in a child process over an existing profile (see initDaemonProfile). */
export async function startDaemonProcess(dataDir: string, opts: { upstreamSmtp?: Omit<SmtpRelayOptions, 'password'> & { password: string }; outbox?: DaemonOptions['outbox'] } = {}): Promise<DaemonProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    cwd: ROOT,
    env: { ...process.env, WAXSEAL_TEST_CHILD: JSON.stringify({ dataDir, passphrase: PASSPHRASE, ...opts }) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const credentials = await new Promise<Credentials>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /^READY (.*)$/m.exec(out);
      if (m) resolve(JSON.parse(m[1]!));
    });
    child.once('exit', (code) => reject(new Error(`daemon child exited with ${code} before it was ready: ${out}`)));
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    child,
    credentials,
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
