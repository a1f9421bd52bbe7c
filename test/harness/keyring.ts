/**
 * A real gnome-keyring in a private D-Bus session, for tests of the OS keychain port.
 *
 * Everything lives in one temp dir (bus socket, HOME, XDG dirs, keyring files), so several
 * harnesses can run at once and none of them can reach the real user's bus or keyrings: the
 * daemons are started with a scrubbed environment, never the test process's own.
 */
import { spawn, execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface KeyringHarness {
  /** What a child process needs to talk to this keyring (merge it over process.env). */
  readonly env: Record<string, string>;
  readonly dir: string;
  /**
   * Restart gnome-keyring-daemon, unlocking the login collection with `password`. A wrong
   * password leaves the collection locked, so any access needs an unlock prompt.
   * Resolves with whether the collection ended up locked.
   */
  restartDaemon(password: string): Promise<{ locked: boolean }>;
  /** Kill the daemons and remove the temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

export interface KeyringOptions {
  password?: string;
  /**
   * What happens when the daemon needs an unlock prompt. 'absent': no prompter can be
   * started, so the request fails at once ("prompt was dismissed"). 'unanswered': a
   * prompter is activated but never shows up, as on a desktop where nobody answers the
   * dialog; the daemon waits ~25 s (GDBus's default call timeout) before giving up.
   */
  prompter?: 'absent' | 'unanswered';
}

const DEFAULT_PASSWORD = 'waxseal-test-keyring';
const READY_TIMEOUT_MS = 10_000;
// Unix socket paths are limited to 108 bytes including the terminator.
const MAX_SOCKET_PATH = 100;

export async function startKeyring(opts: KeyringOptions = {}): Promise<KeyringHarness> {
  const password = opts.password ?? DEFAULT_PASSWORD;
  const dir = await mkdtemp(join(tmpdir(), 'waxseal-keyring-'));
  let bus: ChildProcess | undefined;
  let daemon: ChildProcess | undefined;
  let stopped = false;

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.off('exit', killOnExit);
    await terminate(daemon);
    if (bus?.pid !== undefined) await stopActivatedServices(bus.pid);
    // Closing the watchdog's stdin makes it kill dbus-daemon and wait for it.
    if (bus && bus.exitCode === null && bus.signalCode === null) {
      const exited = once(bus, 'exit');
      bus.stdin?.end();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 3000)))]);
      clearTimeout(timer);
    }
    // Only if the watchdog hung: it leads its own process group, so this reaches dbus-daemon.
    if (bus?.pid !== undefined && bus.exitCode === null && bus.signalCode === null) {
      const exited = once(bus, 'exit');
      process.kill(-bus.pid, 'SIGKILL');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  // A test that exits without calling stop() must not leave daemons behind. The bus needs
  // nothing here: our end of the watchdog's stdin closes as this process exits.
  const killOnExit = (): void => {
    if (daemon?.pid !== undefined && daemon.exitCode === null) daemon.kill('SIGKILL');
  };
  process.on('exit', killOnExit);

  try {
    const home = join(dir, 'home');
    const env: Record<string, string> = {
      HOME: home,
      XDG_DATA_HOME: join(home, '.local', 'share'),
      XDG_CONFIG_HOME: join(home, '.config'),
      XDG_CACHE_HOME: join(home, '.cache'),
      XDG_RUNTIME_DIR: join(dir, 'run'),
    };
    for (const d of Object.values(env)) await mkdir(d, { recursive: true, mode: 0o700 });
    const socket = join(dir, 'bus');
    if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
      throw new Error(`temp dir path too long for a D-Bus socket: ${socket}`);
    }
    await writeFile(join(dir, 'bus.conf'), busConfig(socket, join(dir, 'services')));
    await mkdir(join(dir, 'services'));
    if (opts.prompter === 'unanswered') {
      // dbus-monitor connects to the bus (so it dies with it) but never owns the prompter's
      // name, so the activation gnome-keyring waits on never completes.
      for (const name of ['org.gnome.keyring.SystemPrompter', 'org.gnome.keyring.PrivatePrompter']) {
        await writeFile(
          join(dir, 'services', `${name}.service`),
          `[D-BUS Service]\nName=${name}\nExec=/usr/bin/dbus-monitor --session\n`,
        );
      }
    }

    bus = spawn('sh', ['-c', BUS_WATCHDOG, 'waxseal-bus-watchdog', join(dir, 'bus.conf')], {
      env: { ...env, PATH: process.env.PATH ?? '/usr/bin:/bin' },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    env.DBUS_SESSION_BUS_ADDRESS = await firstLine(bus, 'dbus-daemon');

    const startDaemon = async (pw: string): Promise<{ locked: boolean }> => {
      daemon = spawn('gnome-keyring-daemon', ['--foreground', '--unlock', '--components=secrets'], {
        env: { ...env, PATH: process.env.PATH ?? '/usr/bin:/bin' },
        stdio: ['pipe', 'ignore', 'pipe'],
      });
      let log = '';
      // Without a listener a spawn failure (not installed) would crash the test process.
      daemon.on('error', (e) => (log += e.message));
      if (daemon.pid === undefined) throw new Error('gnome-keyring-daemon could not be started');
      daemon.stderr?.setEncoding('utf8').on('data', (c: string) => {
        if (log.length < 4096) log += c;
      });
      // --unlock reads the password from stdin up to EOF; with no login keyring yet it
      // creates one with this password.
      daemon.stdin?.end(pw);
      return waitForLoginCollection(env, daemon, () => log);
    };

    const harness: KeyringHarness = {
      env,
      dir,
      async restartDaemon(pw: string) {
        if (stopped) throw new Error('keyring harness already stopped');
        await terminate(daemon);
        return startDaemon(pw);
      },
      stop,
    };
    const state = await startDaemon(password);
    if (state.locked) throw new Error('login collection is still locked after unlocking it');
    return harness;
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * A keyring whose login collection is locked, with a prompter that never answers: every
 * access that needs an unlock hangs (up to ~25 s). `seed` runs first, while the collection
 * is still unlocked, so entries can exist behind the lock.
 */
export async function startLockedKeyring(
  opts: { seed?: (env: Record<string, string>) => Promise<void> } = {},
): Promise<KeyringHarness> {
  const harness = await startKeyring({ prompter: 'unanswered' });
  try {
    if (opts.seed) await opts.seed(harness.env);
    const state = await harness.restartDaemon(`${DEFAULT_PASSWORD}-wrong`);
    if (!state.locked) throw new Error('login collection unlocked with a wrong password');
    return harness;
  } catch (err) {
    await harness.stop();
    throw err;
  }
}

// The watchdog owns dbus-daemon and kills it when its stdin closes, which happens on stop()
// and also when the test process dies without cleaning up.
const BUS_WATCHDOG = `
dbus-daemon --config-file="$1" --nofork --print-address=1 </dev/null &
pid=$!
read -r _ignored
kill "$pid" 2>/dev/null
wait "$pid"
`;

function busConfig(socket: string, serviceDir: string): string {
  // Not the system session.conf: its standard service dirs would let the bus auto-start
  // another gnome-keyring (or a real prompter) outside our control.
  return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=${xml(socket)}</listen>
  <auth>EXTERNAL</auth>
  <servicedir>${xml(serviceDir)}</servicedir>
  <limit name="service_start_timeout">3600000</limit>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`;
}

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

async function firstLine(child: ChildProcess, what: string): Promise<string> {
  let out = '';
  let err = '';
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (err += c));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${err.trim()}`)), READY_TIMEOUT_MS);
    child.stdout?.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(out.slice(0, nl).trim());
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}) before it was ready: ${err.trim()}`));
    });
  });
}

/** Poll the login collection's Locked property until the daemon is on the bus and answers. */
async function waitForLoginCollection(
  env: Record<string, string>,
  daemon: ChildProcess,
  log: () => string,
): Promise<{ locked: boolean }> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    if (daemon.exitCode !== null || daemon.signalCode !== null) {
      throw new Error(`gnome-keyring-daemon exited (${daemon.exitCode ?? daemon.signalCode}): ${log().trim()}`);
    }
    const r = await run('dbus-send', [
      '--session', '--print-reply', '--reply-timeout=2000', '--dest=org.freedesktop.secrets',
      '/org/freedesktop/secrets/collection/login', 'org.freedesktop.DBus.Properties.Get',
      'string:org.freedesktop.Secret.Collection', 'string:Locked',
    ], env);
    const m = /boolean (true|false)/.exec(r.stdout);
    if (r.ok && m) return { locked: m[1] === 'true' };
    last = r.stderr.trim();
    await delay(25);
  }
  throw new Error(`gnome-keyring-daemon did not become ready: ${last} ${log().trim()}`);
}

function run(
  cmd: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { ...env, PATH: process.env.PATH ?? '/usr/bin:/bin' }, timeout: 5000 },
      (err, stdout, stderr) => resolve({ ok: !err, stdout, stderr }));
  });
}

/**
 * Stop what the bus activated (the prompter stand-ins) while the bus still runs. dbus-daemon
 * starts them through a babysitter that reaps them only while the bus lives; orphaned, they
 * would exit anyway but stay zombies under an init that does not reap (as in containers).
 */
async function stopActivatedServices(watchdogPid: number): Promise<void> {
  const children = new Map<number, number[]>();
  const comm = new Map<number, string>();
  for (const name of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const close = stat.lastIndexOf(')');
    if (close < 0) continue;
    const ppid = Number(stat.slice(close + 2).split(' ')[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    comm.set(Number(name), stat.slice(stat.indexOf('(') + 1, close));
  }
  const services: number[] = [];
  const walk = (pid: number): void => {
    for (const c of children.get(pid) ?? []) {
      if (comm.get(c) === 'dbus-monitor') services.push(c);
      else walk(c);
    }
  };
  walk(watchdogPid);
  for (const pid of services) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + 2000;
  while (services.some((pid) => existsSync(`/proc/${pid}`)) && Date.now() < deadline) await delay(10);
}

async function terminate(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
