/**
 * GnuPG 2.2 in a private GNUPGHOME, for OpenPGP interop tests and benchmarks: the other end
 * of every message Waxseal's OpenPGP layer writes or reads.
 *
 * Each harness owns one short temp dir as its home, so its keyrings, trustdb and gpg-agent
 * are its own, and gpg never reaches the network: key lookups stay local and dirmngr is off.
 * Every gpg is spawned with data on stdin and its status lines on a separate fd, so output
 * is binary-safe and status is never mixed up with human messages.
 *
 * What one gpg process costs, for design notes (measured 2026-11-23 on the 2-core sandbox,
 * gpg 2.2.40, through run() so Node's spawn is included, agent warm, median of 20 after one
 * warm-up; load average 5-6 from other test runs, so medians varied between runs):
 *   10 KB, `-z 0 -se` (ed25519 sign, cv25519 encrypt):  9-17 ms, best run 8.8 ms
 *   10 KB, `--decrypt` + verify, same keys:           11-21 ms, best run 11.3 ms
 *   the same with rsa2048 keys: 12-20 / 13-18 ms; rsa3072: 21-27 / 21-28 ms
 *   `--list-keys` on an empty keyring (the floor):    6-10 ms
 * Per-message gpg is thus dominated by process start and agent round trips, not by crypto.
 */
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import { withDefaults } from '../../src/util/options.js';
import { makeTempDir, run as execFile, startWatchdog } from './tmp.js';

export type GpgSignatureStatus = 'GOOD' | 'BAD' | 'ERRSIG' | 'EXPSIG' | 'EXPKEYSIG' | 'REVKEYSIG';

export interface GpgSignature {
  status: GpgSignatureStatus;
  /** The issuer's long key id (16 hex) as the signature names it. */
  keyid: string;
  /**
   * The signer's primary key fingerprint when gpg knows the key (VALIDSIG for a valid
   * signature, the key it checked against for BAD), or the issuer fingerprint the signature
   * carries (ERRSIG, e.g. when the key is missing).
   */
  fpr?: string;
  /** The user id gpg printed for the key, if any. */
  uid?: string;
}

export interface GpgResult {
  stdout: Buffer;
  stderr: string;
  /** The `[GNUPG:]` status lines, without that prefix. */
  status: string[];
  code: number;
}

export interface DecryptResult {
  /**
   * Whatever gpg wrote, even when `decrypted` is false: gpg streams plaintext out before it
   * checks the MDC, so a tampered message yields (altered) plaintext and only then fails.
   */
  plaintext: Buffer;
  /** DECRYPTION_OKAY and no DECRYPTION_FAILED: decrypted, integrity protected and intact. */
  decrypted: boolean;
  signatures: GpgSignature[];
  status: string[];
  stderr: string;
}

export interface GenerateOptions {
  /** 'ecc' (default): ed25519 sign + cv25519 encrypt subkey; 'rsaN': RSA sign + RSA encrypt subkey. */
  algo?: 'ecc' | 'rsa2048' | 'rsa3072';
  /** gpg's Expire-Date: '0' (never, default), '1d', '2y', an ISO date, 'seconds=N'. */
  expire?: string;
}

export interface EncryptOptions {
  recipients: string[];
  /** Also sign with this key (fingerprint or uid). */
  signer?: string;
  /** ASCII armor (default true). */
  armor?: boolean;
  /** false: -z 0. Unset or true: gpg's default compression. */
  compress?: boolean;
  /** Leave the recipients' key ids out of the message (--throw-keyids). */
  throwKeyids?: boolean;
}

export interface SignOptions {
  signer: string;
  detached?: boolean;
  clearsign?: boolean;
  /** ASCII armor (default true); a clearsigned message is always armored. */
  armor?: boolean;
}

export interface Gpg {
  /** The private GNUPGHOME, a 0700 temp dir. */
  readonly home: string;
  /** Generate a key with no passphrase for a "Name <addr>" uid; resolves with its fingerprint (40 hex, upper case). */
  generate(uid: string, opts?: GenerateOptions): Promise<string>;
  /** Import keys (public or secret, armored or binary); resolves with the fingerprints imported. */
  importKey(armoredOrBinary: string | Uint8Array): Promise<string[]>;
  /** The armored public key(s) matching a fingerprint or uid. */
  exportPublic(fprOrUid: string): Promise<string>;
  /** The armored secret key(s) matching a fingerprint or uid. */
  exportSecret(fprOrUid: string): Promise<string>;
  /** Encrypt (and sign, with `signer`) to the recipients; resolves with the message bytes. */
  encrypt(data: Uint8Array | string, opts: EncryptOptions): Promise<Buffer>;
  /** An inline-signed, detached or clearsigned signature. */
  sign(data: Uint8Array | string, opts: SignOptions): Promise<Buffer>;
  /** Decrypt and verify. Never throws because gpg failed: `decrypted` and `status` say what happened. */
  decrypt(data: Uint8Array | string): Promise<DecryptResult>;
  /** Verify a detached signature over `data` (an RFC 3156 multipart/signed part's exact bytes). */
  verifyDetached(data: Uint8Array | string, signature: Uint8Array | string): Promise<GpgSignature[]>;
  /** gpg with the harness's fixed options and `args`; never throws on a nonzero exit. */
  run(args: string[], input?: Uint8Array | string): Promise<GpgResult>;
  /** Kill gpg-agent (and any other daemon of this home) and remove the home. Safe to call twice. */
  stop(): Promise<void>;
}

// The agent's sockets live in the home (there is no /run/user here to put them in), and a
// Unix socket path has 108 bytes with its terminator: S.gpg-agent.browser is the longest.
const MAX_SOCKET_PATH = 107;
const LONGEST_SOCKET = 'S.gpg-agent.browser';
// A gpg waiting for input it will never get (a pinentry, a lock) must fail the test, not hang it.
const GPG_TIMEOUT_MS = 120_000;
const STDERR_TAIL_LINES = 15;

export async function startGpg(): Promise<Gpg> {
  const tmp = await makeTempDir('wsgpg-');
  const home = tmp.path;
  // The agent daemonizes out of our process group; if the test process dies, the watchdog
  // kills it and removes the home (which alone makes the agent exit within a minute, as it
  // checks that its socket still exists).
  const watchdog = startWatchdog(home);
  try {
    if (join(home, LONGEST_SOCKET).length > MAX_SOCKET_PATH) {
      throw new Error(`startGpg: ${home} is too deep for gpg-agent's sockets; set TMPDIR to a shorter dir`);
    }
    // Started now rather than on first use so that a broken agent fails here, and so that the
    // watchdog knows its process group (the agent calls setsid(): its pid is its group).
    await execFile('gpgconf', ['--homedir', home, '--launch', 'gpg-agent'], { env: gpgEnv(home) });
    for (const pid of await homeProcesses(home)) if (await isGroupLeader(pid)) watchdog.guard(pid);
  } catch (err) {
    await killDaemons(home);
    watchdog.release();
    await tmp.cleanup();
    throw err;
  }

  let stopped: Promise<void> | undefined;
  const gpg = (args: string[], input?: Uint8Array | string, extra?: Uint8Array | string) => {
    if (stopped) return Promise.reject(new Error('gpg harness: used after stop()'));
    return spawnGpg(home, args, input, extra);
  };
  const must = async (what: string, args: string[], input?: Uint8Array | string) => {
    const result = await gpg(args, input);
    if (result.code !== 0) throw gpgError(what, result);
    return result;
  };

  return {
    home,

    async generate(uid, options) {
      const opts = withDefaults('gpg.generate', { algo: 'ecc' as NonNullable<GenerateOptions['algo']>, expire: '0' }, options);
      const params = [...keyParams(opts.algo), ...uidParams(uid), `Expire-Date: ${oneLine('expire', opts.expire)}`];
      const result = await must(`generate ${uid}`, ['--generate-key'], [...params, '%no-protection', '%commit', ''].join('\n'));
      const created = result.status.map((line) => /^KEY_CREATED [BP] ([0-9A-F]{40})$/.exec(line)?.[1]).find(Boolean);
      if (!created) throw gpgError(`generate ${uid}: no KEY_CREATED`, result);
      return created;
    },

    async importKey(data) {
      const result = await gpg(['--import'], data);
      // A secret key yields two IMPORT_OK lines (public and secret part) with one fingerprint.
      const fprs = [...new Set(result.status.map((line) => /^IMPORT_OK \d+ ([0-9A-F]{40})$/.exec(line)?.[1]).filter(isString))];
      if (result.code !== 0 || fprs.length === 0) throw gpgError('import', result);
      return fprs;
    },

    async exportPublic(fprOrUid) {
      return exported('export', await must(`export ${fprOrUid}`, ['--armor', '--export', '--', fprOrUid]));
    },

    async exportSecret(fprOrUid) {
      return exported('export secret', await must(`export secret ${fprOrUid}`, ['--armor', '--export-secret-keys', '--', fprOrUid]));
    },

    async encrypt(data, options) {
      const opts = withDefaults('gpg.encrypt', {
        recipients: [] as string[], signer: undefined as string | undefined, armor: true,
        compress: true, throwKeyids: false,
      }, options);
      if (opts.recipients.length === 0) throw new Error('gpg.encrypt: at least one recipient is needed');
      const args = [
        '--encrypt', ...(opts.signer !== undefined ? ['--sign', '--local-user', opts.signer] : []),
        ...opts.recipients.flatMap((r) => ['--recipient', r]),
        ...(opts.armor ? ['--armor'] : []), ...(opts.compress ? [] : ['-z', '0']),
        ...(opts.throwKeyids ? ['--throw-keyids'] : []),
      ];
      return (await must(`encrypt to ${opts.recipients.join(', ')}`, args, data)).stdout;
    },

    async sign(data, options) {
      const opts = withDefaults('gpg.sign', { signer: '', detached: false, clearsign: false, armor: true }, options);
      if (!opts.signer) throw new Error('gpg.sign: the signer option is required');
      if (opts.detached && opts.clearsign) throw new Error('gpg.sign: detached and clearsign exclude each other');
      const mode = opts.clearsign ? '--clearsign' : opts.detached ? '--detach-sign' : '--sign';
      const args = [mode, '--local-user', opts.signer, ...(opts.armor ? ['--armor'] : [])];
      return (await must(`sign as ${opts.signer}`, args, data)).stdout;
    },

    async decrypt(data) {
      const { stdout, stderr, status } = await gpg(['--decrypt'], data);
      const has = (keyword: string) => status.some((line) => line === keyword || line.startsWith(`${keyword} `));
      return {
        plaintext: stdout,
        // Not the exit code: a BAD signature on a fine decryption also exits 1, and a broken
        // zlib stream aborts gpg ("Fatal: zlib inflate problem") without DECRYPTION_FAILED.
        decrypted: has('DECRYPTION_OKAY') && !has('DECRYPTION_FAILED'),
        signatures: parseSignatures(status),
        status,
        stderr,
      };
    },

    async verifyDetached(data, signature) {
      // The signature comes in on fd 4 ("-&4" needs --enable-special-filenames, and "--" so
      // that gpg does not take it for an option), the signed data on stdin: no temp files.
      const { status } = await gpg(['--enable-special-filenames', '--verify', '--', '-&4', '-'], data, signature);
      return parseSignatures(status);
    },

    run: (args, input) => gpg(args, input),

    stop: () =>
      (stopped ??= (async () => {
        await killDaemons(home);
        watchdog.release();
        await tmp.cleanup();
      })()),
  };
}

/** Options every gpg gets: this home only, never a prompt, never the network. */
function fixedArgs(home: string): string[] {
  return [
    '--homedir', home, '--batch', '--yes', '--no-tty', '--status-fd', '3',
    '--pinentry-mode', 'loopback',
    '--no-auto-key-retrieve', '--auto-key-locate', 'local', '--disable-dirmngr',
    // Test keys are never certified; "always" also spares every run a trustdb check.
    '--trust-model', 'always',
  ];
}

function gpgEnv(home: string): NodeJS.ProcessEnv {
  // C locale: error messages in the stderr tail are then the ones tests can match.
  return { ...process.env, GNUPGHOME: home, LC_ALL: 'C', LANGUAGE: 'C' };
}

/**
 * Run gpg with `input` on stdin and `extra` on fd 4, reading stdout, stderr and the status
 * fd while writing: a multi-megabyte input would deadlock if we wrote it all first.
 */
function spawnGpg(home: string, args: string[], input?: Uint8Array | string, extra?: Uint8Array | string): Promise<GpgResult> {
  return new Promise((resolve, reject) => {
    const stdio = extra === undefined ? ['pipe', 'pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe', 'pipe', 'pipe'];
    const child = spawn('gpg', [...fixedArgs(home), ...args], { stdio: stdio as ['pipe', 'pipe', 'pipe'], env: gpgEnv(home) });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const status: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    const statusFd = child.stdio[3] as NodeJS.ReadableStream;
    statusFd.on('data', (chunk: Buffer) => status.push(chunk));
    // gpg may exit before reading all its input (a bad option, an unknown key): EPIPE then is
    // expected, and the exit code says what went wrong.
    const feed = (stream: unknown, data?: Uint8Array | string) => {
      const writable = stream as NodeJS.WritableStream & { on(event: 'error', fn: () => void): void };
      writable.on('error', () => {});
      if (data === undefined) writable.end();
      else writable.end(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    };
    feed(child.stdin, input);
    if (extra !== undefined) feed(child.stdio[4], extra);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, GPG_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`could not run gpg: ${err.message}`, { cause: err }));
    });
    // 'close', not 'exit': only then have stdout and the status fd been read to the end.
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) {
        reject(new Error(`gpg ${args.join(' ')} killed after ${GPG_TIMEOUT_MS} ms`));
        return;
      }
      const statusLines = Buffer.concat(status).toString('utf8').split('\n');
      resolve({
        stdout: Buffer.concat(stdout),
        stderr: Buffer.concat(stderr).toString('utf8'),
        status: statusLines.filter((l) => l.startsWith('[GNUPG:] ')).map((l) => l.slice('[GNUPG:] '.length)),
        code: code ?? 128 + (signal ? constants.signals[signal] : 0),
      });
    });
  });
}

/** The error of a failed gpg: what was asked, the exit code and the tail of gpg's stderr (never stdout, which may hold keys). */
function gpgError(what: string, result: GpgResult): Error {
  const tail = result.stderr.trim().split('\n').slice(-STDERR_TAIL_LINES).join('\n');
  return new Error(`gpg ${what} failed (exit ${result.code})\n--- gpg stderr ---\n${tail || '(empty)'}`);
}

/** gpg exits 0 and only warns "nothing exported" when no key matched. */
function exported(what: string, result: GpgResult): string {
  if (result.stdout.length === 0) throw gpgError(`${what}: nothing exported`, result);
  return result.stdout.toString('utf8');
}

function keyParams(algo: NonNullable<GenerateOptions['algo']>): string[] {
  if (algo === 'ecc') {
    return ['Key-Type: eddsa', 'Key-Curve: ed25519', 'Key-Usage: sign', 'Subkey-Type: ecdh', 'Subkey-Curve: cv25519', 'Subkey-Usage: encrypt'];
  }
  const bits = { rsa2048: 2048, rsa3072: 3072 }[algo];
  if (bits === undefined) throw new Error(`gpg.generate: unknown algo ${JSON.stringify(algo)}`);
  return ['Key-Type: RSA', `Key-Length: ${bits}`, 'Key-Usage: sign', 'Subkey-Type: RSA', `Subkey-Length: ${bits}`, 'Subkey-Usage: encrypt'];
}

/** "Name <addr>", a bare address or a bare name, as the parameter file's Name-* fields. */
function uidParams(uid: string): string[] {
  const named = /^(.*?)\s*<([^<>\s]+)>$/.exec(oneLine('uid', uid).trim());
  if (named) return [...(named[1] ? [`Name-Real: ${named[1]}`] : []), `Name-Email: ${named[2]}`];
  return [/^[^\s@]+@[^\s@]+$/.test(uid) ? `Name-Email: ${uid}` : `Name-Real: ${uid}`];
}

/** A line break would let a value add its own lines to the parameter file. */
function oneLine(what: string, value: string): string {
  if (/[\r\n]/.test(value) || value.trim() === '') throw new Error(`gpg.generate: bad ${what} ${JSON.stringify(value)}`);
  return value;
}

const SIGNATURE_STATUS: Record<string, GpgSignatureStatus> = {
  GOODSIG: 'GOOD', BADSIG: 'BAD', ERRSIG: 'ERRSIG', EXPSIG: 'EXPSIG', EXPKEYSIG: 'EXPKEYSIG', REVKEYSIG: 'REVKEYSIG',
};

/**
 * One GpgSignature per GOODSIG/BADSIG/ERRSIG/EXP*SIG/REVKEYSIG line. NEWSIG starts each
 * signature's lines; VALIDSIG, which follows the verdict, carries the primary fingerprint in
 * its tenth field. BADSIG names only a key id, but gpg announced the key it tried with
 * KEY_CONSIDERED just before.
 */
export function parseSignatures(status: readonly string[]): GpgSignature[] {
  const signatures: GpgSignature[] = [];
  let current: GpgSignature | undefined;
  let considered: string | undefined;
  for (const line of status) {
    const [keyword = '', ...args] = line.split(' ');
    if (keyword === 'NEWSIG') {
      current = undefined;
      considered = undefined;
    } else if (keyword === 'KEY_CONSIDERED') {
      considered = args[0];
    } else if (keyword === 'VALIDSIG' && current) {
      current.fpr = args[9] ?? args[0];
    } else if (SIGNATURE_STATUS[keyword]) {
      current = { status: SIGNATURE_STATUS[keyword], keyid: args[0] ?? '' };
      if (keyword === 'ERRSIG') {
        // ERRSIG <keyid> <pkalgo> <hashalgo> <class> <time> <rc> <fpr-or-"-">
        if (args[6] && args[6] !== '-') current.fpr = args[6];
      } else {
        const uid = unescapeStatus(args.slice(1).join(' '));
        if (uid) current.uid = uid;
        if (keyword === 'BADSIG' && considered) current.fpr = considered;
      }
      signatures.push(current);
    }
  }
  return signatures;
}

/** Status lines percent-escape control characters (and "%") in user ids. */
function unescapeStatus(text: string): string {
  return text.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/**
 * Pids of the live processes started with `--homedir home`: the agent and whatever it or gpg
 * spawned (scdaemon, dirmngr). Read from /proc; zombies are skipped because PID 1 in this
 * sandbox can take seconds to reap the daemons that exit.
 */
async function homeProcesses(home: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const argv = (await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (argv.some((arg, i) => arg === `--homedir=${home}` || (arg === '--homedir' && argv[i + 1] === home))) pids.push(Number(name));
  }
  return pids;
}

/**
 * `gpgconf --kill all` asks each daemon to exit and returns before it has; wait until it has,
 * and SIGKILL whatever outlives a short grace, so that removing the home never races the agent.
 */
async function killDaemons(home: string): Promise<void> {
  await execFile('gpgconf', ['--homedir', home, '--kill', 'all'], { env: gpgEnv(home) }).catch(() => {});
  const killAt = Date.now() + 2_000;
  for (;;) {
    const pids = await homeProcesses(home);
    if (pids.length === 0) return;
    if (Date.now() >= killAt) {
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // exited meanwhile
        }
      }
      if (Date.now() >= killAt + 5_000) throw new Error(`gpg daemons of ${home} survived SIGKILL: ${pids.join(' ')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function isGroupLeader(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // "pid (comm) state ppid pgrp ...": comm may contain spaces and parens, so split after it.
  return stat !== '' && Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) === pid;
}

function isString(value: string | undefined): value is string {
  return value !== undefined;
}
