/**
 * The OS keychain port: where the 32-byte root secret (and later the upstream password) is
 * kept on machines that have a Secret Service, Keychain or Credential Manager.
 *
 * Every call runs @napi-rs/keyring in a short-lived child process. A Secret Service call can
 * block forever in native code (a locked collection waits on an unlock prompt nobody
 * answers), and a synchronous native call would freeze the daemon's event loop with it; a
 * child can be killed when it overruns its deadline.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { WaxsealError, errorMessage } from '../util/errors.js';
import { withDefaults } from '../util/options.js';

export type KeychainProbe = { available: true } | { available: false; reason: string };

export interface Keychain {
  get(account: string): Promise<Buffer | null>;
  set(account: string, secret: Buffer): Promise<void>;
  /** Resolves false when there was nothing to delete. */
  delete(account: string): Promise<boolean>;
  /** Whether the keychain can be reached; never throws. */
  probe(): Promise<KeychainProbe>;
}

export interface OsKeychainOptions {
  service: string;
  /** Deadline for one call, including the helper's start-up (~50 ms). */
  timeoutMs: number;
  /** Environment of the helper; it decides which D-Bus session (and so which keyring) is used. */
  env: NodeJS.ProcessEnv | undefined;
}

const DEFAULTS: OsKeychainOptions = { service: 'waxseal', timeoutMs: 5000, env: undefined };
const PROBE_ACCOUNT = 'waxseal-probe';
const MAX_STDERR = 4096;

type Op = 'get' | 'set' | 'delete' | 'probe';
interface Request {
  op: Op;
  service: string;
  account: string;
  secret?: string;
}
type Reply =
  | { ok: true; value: string | boolean | null }
  | { ok: false; stage: 'load' | 'connect' | 'op'; message: string };

// The helper is CommonJS so it can `require` the addon by the absolute path the parent
// resolved: a file next to this one would not exist in dist/ (tsc copies no .mjs), and the
// helper's cwd may be anywhere. The request, secret included, arrives on stdin and the
// reply leaves on stdout: argv is readable by every local user through /proc/PID/cmdline,
// and the environment is handed down to whatever the helper might start.
// On Linux the store is pinned to the Secret Service, because the default silently falls
// back to the kernel keyring, which forgets everything at reboot.
const HELPER = String.raw`
'use strict';
const reply = (r) => process.stdout.write(JSON.stringify(r));
let Entry;
let loadError;
try { ({ Entry } = require(process.argv[1])); } catch (e) { loadError = String(e && e.message); }
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (c) => { input += c; });
process.stdin.on('end', () => {
  if (loadError !== undefined) return reply({ ok: false, stage: 'load', message: loadError });
  const req = JSON.parse(input);
  let entry;
  try { entry = new Entry(req.service, req.account, { linux: { store: 'secret-service' } }); }
  catch (e) { return reply({ ok: false, stage: 'connect', message: String(e && e.message) }); }
  try {
    if (req.op === 'get') return reply({ ok: true, value: entry.getPassword() });
    if (req.op === 'set') { entry.setPassword(req.secret); return reply({ ok: true, value: null }); }
    if (req.op === 'delete') return reply({ ok: true, value: entry.deleteCredential() });
    entry.getPassword();
    reply({ ok: true, value: null });
  } catch (e) { reply({ ok: false, stage: 'op', message: String(e && e.message) }); }
});
`;

export function createOsKeychain(opts?: Partial<OsKeychainOptions>): Keychain {
  const o = withDefaults('createOsKeychain', DEFAULTS, opts);
  if (typeof o.service !== 'string' || o.service === '') {
    throw new WaxsealError('EOPTION', 'createOsKeychain: service must be a non-empty string');
  }
  if (!Number.isFinite(o.timeoutMs) || o.timeoutMs <= 0) {
    throw new WaxsealError('EOPTION', 'createOsKeychain: timeoutMs must be a positive number');
  }
  const call = (op: Op, account: string, secret?: string): Promise<Reply> =>
    runHelper({ op, service: o.service, account, ...(secret === undefined ? {} : { secret }) }, o);

  return {
    async get(account) {
      checkAccount(account);
      const value = expectOk(await call('get', account), 'read from');
      if (value === null) return null;
      if (typeof value !== 'string' || !isBase64(value)) {
        throw new WaxsealError(
          'EKEYCHAIN',
          `The keychain entry "${o.service}/${account}" was not written by Waxseal (not base64); remove it and try again`,
        );
      }
      return Buffer.from(value, 'base64');
    },
    async set(account, secret) {
      checkAccount(account);
      if (!Buffer.isBuffer(secret) || secret.length === 0) {
        throw new WaxsealError('EINVAL', 'keychain: refusing to store an empty secret');
      }
      expectOk(await call('set', account, secret.toString('base64')), 'write to');
    },
    async delete(account) {
      checkAccount(account);
      return expectOk(await call('delete', account), 'delete from') === true;
    },
    async probe() {
      try {
        expectOk(await call('probe', PROBE_ACCOUNT), 'read from');
        return { available: true };
      } catch (err) {
        return { available: false, reason: errorMessage(err) };
      }
    },
  };
}

/** A keychain kept in a Map, for tests of the layers above; `unavailable` simulates none. */
export function createMemoryKeychain(opts: { unavailable?: string } = {}): Keychain {
  const entries = new Map<string, Buffer>();
  const guard = (account: string): void => {
    checkAccount(account);
    if (opts.unavailable !== undefined) throw unavailable(opts.unavailable);
  };
  return {
    async get(account) {
      guard(account);
      const v = entries.get(account);
      return v === undefined ? null : Buffer.from(v);
    },
    async set(account, secret) {
      guard(account);
      if (!Buffer.isBuffer(secret) || secret.length === 0) {
        throw new WaxsealError('EINVAL', 'keychain: refusing to store an empty secret');
      }
      entries.set(account, Buffer.from(secret));
    },
    async delete(account) {
      guard(account);
      return entries.delete(account);
    },
    async probe() {
      return opts.unavailable === undefined
        ? { available: true }
        : { available: false, reason: opts.unavailable };
    },
  };
}

function runHelper(req: Request, o: OsKeychainOptions): Promise<Reply> {
  let modulePath: string;
  try {
    modulePath = createRequire(import.meta.url).resolve('@napi-rs/keyring');
  } catch (err) {
    return Promise.reject(unavailable('the @napi-rs/keyring module is not installed', err));
  }
  const env: NodeJS.ProcessEnv = { ...(o.env ?? process.env) };
  // A loader or --inspect in NODE_OPTIONS would slow the helper down or make it fail.
  delete env.NODE_OPTIONS;
  // Inside Electron, process.execPath is the app binary; this makes it behave as plain node.
  if (process.versions.electron !== undefined) env.ELECTRON_RUN_AS_NODE = '1';

  return new Promise((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (fn: () => void): void => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        fn();
      }
    };
    const child = spawn(process.execPath, ['--input-type=commonjs', '-e', HELPER, '--', modulePath], {
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
      windowsHide: true,
    });
    let out = '';
    let err = '';
    let timedOut = false;
    // Reject only once the child has exited, so no helper outlives the call that started it.
    timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, o.timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      if (err.length < MAX_STDERR) err += c;
    });
    // EPIPE when the helper died before reading its request; 'close' reports why.
    child.stdin.on('error', () => {});
    child.on('error', (e) =>
      settle(() => reject(unavailable(`the keychain helper could not be started (${e.message})`, e))),
    );
    child.on('close', (code, signal) =>
      settle(() => {
        if (timedOut) {
          reject(
            new WaxsealError(
              'ETIMEOUT',
              `The OS keychain did not answer within ${o.timeoutMs} ms. It may be locked and waiting ` +
                'for an unlock prompt that nobody answers: unlock it (for example by logging in to ' +
                'the desktop session) and try again, or unlock Waxseal with a passphrase instead.',
            ),
          );
          return;
        }
        try {
          resolve(JSON.parse(out) as Reply);
        } catch {
          const detail = firstLine(err) ?? (signal ? `killed by ${signal}` : `exit status ${code}`);
          reject(new WaxsealError('EKEYCHAIN', `The keychain helper failed: ${detail}`));
        }
      }),
    );
    child.stdin.end(JSON.stringify(req));
  });
}

function expectOk(reply: Reply, verb: string): string | boolean | null {
  if (reply.ok) return reply.value;
  const reason = reply.message.replace(/^Platform failure: /, '');
  if (reply.stage !== 'op') throw unavailable(reason);
  if (/prompt was dismissed|locked/i.test(reason)) {
    throw new WaxsealError(
      'EKEYCHAIN',
      `The OS keychain is locked and could not be unlocked (${reason}); unlock it and try again`,
    );
  }
  throw new WaxsealError('EKEYCHAIN', `Could not ${verb} the OS keychain: ${reason}`);
}

function unavailable(reason: string, cause?: unknown): WaxsealError {
  return new WaxsealError(
    'EKEYCHAIN_UNAVAILABLE',
    `No OS keychain is available (${reason}); use a passphrase instead, or start a Secret Service ` +
      'such as gnome-keyring in this session',
    cause === undefined ? undefined : { cause },
  );
}

function checkAccount(account: string): void {
  if (typeof account !== 'string' || account === '') {
    throw new WaxsealError('EINVAL', 'keychain: account must be a non-empty string');
  }
}

function isBase64(s: string): boolean {
  return /^[A-Za-z0-9+/]*={0,2}$/.test(s) && Buffer.from(s, 'base64').toString('base64') === s;
}

function firstLine(s: string): string | undefined {
  const line = s.split('\n').find((l) => l.trim() !== '');
  return line === undefined ? undefined : line.trim().slice(0, 200);
}
