/**
 * Pieces the upstream tests share: a Waxseal store with its IMAP server and an own key, a
 * fetcher pointed at the harness's Dovecot, and waiting for the fetcher's status.
 */
import { execFile } from 'node:child_process';
import { Keyring } from '../../src/mail/keyring.js';
import { StoreUpstreamSink } from '../../src/mail/upstream-sink.js';
import { Fetcher } from '../../src/upstream/fetcher.js';
import type { BatchLimits } from '../../src/upstream/pipeline.js';
import type { AccountSettings, UpstreamStatus } from '../../src/upstream/port.js';
import type { Dovecot } from './provider.js';
import type { ImapHarness } from './imap.js';

export function testAccount(dovecot: Dovecot, user: string, extra: Partial<AccountSettings> = {}): AccountSettings {
  return {
    imap: { host: dovecot.host, port: dovecot.imapPort, tls: 'none' },
    smtp: { host: dovecot.host, port: 25, tls: 'none' },
    user,
    afterIngest: { action: 'leave' },
    pollSeconds: 1,
    ...extra,
  };
}

export interface FetcherRig {
  fetcher: Fetcher;
  keyring: Keyring;
  /** Every status the fetcher reported, newest last. */
  statuses: UpstreamStatus[];
  /** Resolve once a reported status satisfies `pred` (checked against the current one first). */
  until(pred: (s: UpstreamStatus) => boolean, what: string, timeoutMs?: number): Promise<UpstreamStatus>;
}

export function startFetcher(opts: { h: ImapHarness; keyring: Keyring; account: AccountSettings; password: string; accountId?: string; limits?: BatchLimits }): FetcherRig {
  const statuses: UpstreamStatus[] = [];
  const waiters = new Set<() => void>();
  const fetcher = new Fetcher({
    account: opts.account,
    password: opts.password,
    sink: new StoreUpstreamSink({ store: opts.h.store, keyring: opts.keyring, account: opts.accountId ?? `${opts.account.user}@${opts.account.imap.host}` }),
    backoffMs: 100,
    maxBackoffMs: 1000,
    ...(opts.limits ? { limits: opts.limits } : {}),
    onStatus: (s) => {
      statuses.push(s);
      if (statuses.length > 1000) statuses.splice(0, 500);
      for (const w of [...waiters]) w();
    },
  });
  fetcher.start();
  const until = (pred: (s: UpstreamStatus) => boolean, what: string, timeoutMs = 60_000) =>
    new Promise<UpstreamStatus>((resolve, reject) => {
      const check = () => {
        const s = fetcher.status();
        if (!pred(s)) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(s);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`fetcher: no "${what}" within ${timeoutMs} ms; status ${JSON.stringify(fetcher.status())}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  return { fetcher, keyring: opts.keyring, statuses, until };
}

export const synced = (s: UpstreamStatus) => s.state === 'idle' && !s.firstSync;

/** Submit one message through the provider's Postfix (authenticated submission), as a sender would. */
export function submit(opts: { port: number; user: string; password: string; to: string; subject: string; body?: string }): Promise<string> {
  const args = ['--server', '127.0.0.1', '--port', String(opts.port), '--from', opts.user, '--to', opts.to, '--auth', 'PLAIN', '--auth-user', opts.user,
    '--auth-password', opts.password, '--header', `Subject: ${opts.subject}`, '--body', opts.body ?? 'hello', '--hide-all'];
  return new Promise((resolve, reject) =>
    execFile('swaks', args, { timeout: 30_000 }, (err, stdout, stderr) => (err ? reject(new Error(`swaks: ${err.message}\n${stdout}${stderr}`)) : resolve(stdout))),
  );
}
