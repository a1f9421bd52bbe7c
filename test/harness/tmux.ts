/**
 * A terminal program (mutt) driven through a private tmux server: keys in with send-keys, the
 * screen out with capture-pane. The server's socket lives in the caller's temp dir, so parallel
 * tests never share a server and no user tmux config is read (-f /dev/null).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, startWatchdog, type Watchdog } from './tmp.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export interface TmuxPane {
  socket: string;
  /** Named keys as tmux spells them: 'Enter', 'C-u', 'Escape', 'j'. */
  keys(...names: string[]): Promise<void>;
  /** Literal text, no key-name lookup. */
  type(text: string): Promise<void>;
  screen(): Promise<string>;
  /** Poll the screen until it matches; fails with the last screen after `ms`. */
  waitFor(re: RegExp, ms?: number): Promise<string>;
  /** The program's exit status (128 + n for signal n) once it has exited, else undefined. */
  exitStatus(): Promise<number | undefined>;
  /** Kill the tmux server and the program in it. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Run `argv` (with `env` added) in a detached tmux session of `width`×`height` cells. `dir` is
 * the caller's temp dir: the socket goes there, and a watchdog kills the tmux server (and
 * removes `dir`) if the test process dies without calling stop().
 */
export async function startTmux(opts: { dir: string; argv: string[]; env?: Record<string, string>; width?: number; height?: number }): Promise<TmuxPane> {
  const socket = join(opts.dir, 'tmux.sock');
  const tmux = (...args: string[]) => run('tmux', ['-S', socket, ...args], { timeout: 10_000, killSignal: 'SIGKILL' });
  const env = Object.entries({ TERM: 'xterm-256color', LANG: 'C.UTF-8', ...opts.env }).map(([k, v]) => `${k}=${v}`);
  // The shell records the exit status: tmux's own #{pane_dead_status} is sometimes never set
  // (tmux 3.3a left the exited program a zombie in about one run of six).
  const statusFile = join(opts.dir, 'tmux-exit-status');
  const command = `${['env', ...env, ...opts.argv].map(quote).join(' ')}; echo $? > ${quote(statusFile)}`;
  // remain-on-exit first, so a program that dies at once still leaves its last screen.
  await run(
    'tmux',
    ['-S', socket, '-f', '/dev/null', 'set-option', '-g', 'remain-on-exit', 'on', ';',
      'new-session', '-d', '-s', 'main', '-x', String(opts.width ?? 200), '-y', String(opts.height ?? 50), command],
    { timeout: 10_000, killSignal: 'SIGKILL', env: { ...process.env, TMUX: '' } },
  );
  const [serverPid, panePid] = (await tmux('display-message', '-p', '-t', 'main', '#{pid} #{pane_pid}')).stdout.trim().split(' ').map(Number);
  // Both lead process groups: the server daemonizes, the pane's shell gets its own session.
  const watchdog: Watchdog = startWatchdog(opts.dir);
  for (const pid of [serverPid, panePid]) if (pid && pid > 1) watchdog.guard(pid);
  let stopped = false;

  const pane: TmuxPane = {
    socket,
    async keys(...names) {
      await tmux('send-keys', '-t', 'main', ...names);
    },
    async type(text) {
      await tmux('send-keys', '-t', 'main', '-l', text);
    },
    async screen() {
      return (await tmux('capture-pane', '-p', '-t', 'main')).stdout;
    },
    async waitFor(re, ms = 10_000) {
      const deadline = Date.now() + ms;
      let last = '';
      for (;;) {
        last = await pane.screen();
        if (re.test(last)) return last;
        if (Date.now() > deadline) throw new Error(`screen never matched ${re} in ${ms} ms; last screen:\n${last.replace(/\n+$/, '')}`);
        await sleep(50);
      }
    },
    async exitStatus() {
      const status = (await readFile(statusFile, 'utf8').catch(() => '')).trim();
      return status === '' ? undefined : Number(status);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await tmux('kill-server').catch(() => undefined);
      for (const pid of [serverPid, panePid]) {
        if (!pid || pid <= 1) continue;
        const deadline = Date.now() + 3_000;
        while (alive(pid) && Date.now() < deadline) await sleep(20);
        if (alive(pid)) process.kill(pid, 'SIGKILL');
      }
      watchdog.release();
    },
  };
  return pane;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
