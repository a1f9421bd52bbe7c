/**
 * A real mail provider for tests: Dovecot (IMAP, LMTP) and Postfix (SMTP, submission) from
 * Debian, each a private instance in its own temp dir on ephemeral loopback ports.
 *
 * Nothing touches /etc/dovecot, /etc/postfix or /var: the configs are written from scratch and
 * every path (sockets, queue, state, logs, mail) is inside the instance's temp dir, so any
 * number of providers run side by side. Needs root: Postfix always does, and Dovecot drops to
 * `nobody` for mail access as a real provider drops to its mail user.
 */
import { spawn } from 'node:child_process';
import { chmod, chown, mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { withDefaults } from '../../src/util/options.js';
import {
  collectOutput, fileSize, freePorts, listenersOn, logSince, makeCertificate, makeTempDir, outputOf, run, startError,
  startWatchdog, stopProcessGroup, systemUser, untilGreeted,
} from './tmp.js';
import type { TlsFiles } from './tmp.js';

export type { TlsFiles } from './tmp.js';

const HOST = '127.0.0.1' as const;
const START_ATTEMPTS = 5; // a port from freePorts() can be taken before the server binds it

export interface MailUser {
  /** A full address such as `alice@example.test`: the IMAP login and the LMTP recipient. */
  user: string;
  password: string;
}

export interface DovecotOptions {
  users: MailUser[];
  /** Also offer STARTTLS on the IMAP port and implicit TLS on imapsPort. */
  tls?: boolean;
  /** Extra dovecot.conf text, appended last (later settings win). */
  config?: string;
}

export interface Dovecot {
  readonly host: typeof HOST;
  readonly imapPort: number;
  readonly imapsPort?: number;
  readonly lmtpPort: number;
  /** Dovecot's auth-client socket, for Postfix's `smtpd_sasl_path`. */
  readonly authSocket: string;
  /** The users' addresses, lowercased. */
  readonly users: readonly string[];
  readonly tls?: TlsFiles;
  readonly dir: string;
  readonly logFile: string;
  /** Deliver one message by LMTP, as an MTA would. Rejects with the server's reply on refusal. */
  deliver(user: string, raw: Buffer | string, opts?: { from?: string }): Promise<void>;
  /**
   * The user's Maildir++ root, made on first delivery or login: INBOX is its new/ and cur/,
   * other mailboxes are `.Name/`.
   */
  mailDir(user: string): string;
  /**
   * Stop the server (every client is disconnected) but keep its mail and config, as a
   * provider's outage does; `resume()` starts it again on the same ports.
   */
  halt(): Promise<void>;
  resume(): Promise<void>;
  /** Kill every Dovecot process and remove the temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

export async function startDovecot(options: DovecotOptions): Promise<Dovecot> {
  const opts = withDefaults('startDovecot', { users: [] as MailUser[], tls: false, config: '' }, options);
  requireRoot('startDovecot');
  const users = opts.users.map((u) => ({ user: checkAddress(u.user), password: checkPassword(u.password) }));
  if (users.length === 0) throw new Error('startDovecot: at least one user is needed');
  const tmp = await makeTempDir('waxseal-dovecot-');
  const { path: dir } = tmp;
  const watchdog = startWatchdog(dir);
  const logFile = join(dir, 'dovecot.log');
  try {
    await chmod(dir, 0o755); // mail processes run as nobody and must reach their homes in here
    const mail = await systemUser('nobody');
    await mkdir(join(dir, 'mail'));
    await chown(join(dir, 'mail'), mail.uid, mail.gid);
    const passwd = users.map((u) => `${u.user}:{PLAIN}${u.password}:${mail.uid}:${mail.gid}::${join(dir, 'mail', u.user)}::\n`);
    await writeFile(join(dir, 'passwd'), passwd.join(''), { mode: 0o644 });
    const tls = opts.tls ? await makeCertificate(dir) : undefined;

    for (let attempt = 1; ; attempt++) {
      const [imapPort, lmtpPort, imapsPort] = (await freePorts(tls ? 3 : 2)) as [number, number, number?];
      await writeFile(join(dir, 'dovecot.conf'), dovecotConf({ dir, imapPort, lmtpPort, imapsPort, tls, extra: opts.config }));
      const logStart = await fileSize(logFile);
      // -F keeps the master our child, so we see it exit; detached makes it the leader of a
      // process group holding everything it forks, which stop() kills as a whole.
      const master = spawn('/usr/sbin/dovecot', ['-F', '-c', join(dir, 'dovecot.conf')], {
        cwd: dir,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const output = collectOutput(master);
      const pgid = master.pid;
      try {
        if (pgid === undefined) throw new Error('could not run /usr/sbin/dovecot');
        watchdog.guard(pgid);
        await untilGreeted(master, [
          { port: imapPort, banner: /^\* OK/ },
          { port: lmtpPort, banner: /^220 / },
          ...(tls && imapsPort ? [{ port: imapsPort, banner: /^\* OK/, ca: tls.ca }] : []),
        ]);
      } catch (err) {
        if (pgid !== undefined) await stopProcessGroup(pgid, 0);
        const log = (await logSince(logFile, logStart)) + output();
        if (attempt < START_ATTEMPTS && /Address already in use/.test(log)) continue;
        throw startError('startDovecot', err, log);
      }
      // A test that forgets stop() must not hang its process; the watchdog then cleans up.
      const detach = (child: typeof master) => {
        child.unref();
        for (const stream of [child.stdout, child.stderr]) (stream as unknown as { unref?: () => void } | null)?.unref?.();
      };
      detach(master);
      let group: number | undefined = pgid;
      let stopped: Promise<void> | undefined;
      const stop = () =>
        (stopped ??= (async () => {
          watchdog.release();
          if (group !== undefined) await stopProcessGroup(group, 100);
          await tmp.cleanup();
        })());
      const halt = async () => {
        if (group !== undefined) await stopProcessGroup(group, 100);
        group = undefined;
      };
      const resume = async () => {
        if (group !== undefined) return;
        const again = spawn('/usr/sbin/dovecot', ['-F', '-c', join(dir, 'dovecot.conf')], { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
        const out = collectOutput(again);
        if (again.pid === undefined) throw new Error('could not run /usr/sbin/dovecot');
        watchdog.guard(again.pid);
        try {
          await untilGreeted(again, [{ port: imapPort, banner: /^\* OK/ }, { port: lmtpPort, banner: /^220 / }]);
        } catch (err) {
          await stopProcessGroup(again.pid, 0);
          throw startError('dovecot resume', err, out());
        }
        detach(again);
        group = again.pid;
      };
      return {
        host: HOST,
        imapPort,
        ...(imapsPort !== undefined ? { imapsPort } : {}),
        lmtpPort,
        authSocket: join(dir, 'run', 'auth-client'),
        users: users.map((u) => u.user),
        ...(tls ? { tls } : {}),
        dir,
        logFile,
        deliver: (user, raw, o) => lmtpDeliver(lmtpPort, checkAddress(user), raw, o?.from ?? ''),
        mailDir: (user) => join(dir, 'mail', checkAddress(user), 'Maildir'),
        halt,
        resume,
        stop,
      };
    }
  } catch (err) {
    watchdog.release();
    await tmp.cleanup();
    throw err;
  }
}

type ConfInput = { dir: string; tls: TlsFiles | undefined };

function dovecotConf(o: ConfInput & { imapPort: number; lmtpPort: number; imapsPort?: number; extra: string }): string {
  const { dir, imapPort, lmtpPort, imapsPort, tls, extra } = o;
  const ssl = tls ? `ssl = yes\nssl_cert = <${tls.certFile}\nssl_key = <${tls.keyFile}` : 'ssl = no';
  const imaps = tls ? `address = ${HOST}\n    port = ${imapsPort}\n    ssl = yes` : 'port = 0';
  const specialUse = ['Drafts', 'Sent', 'Trash', 'Junk', 'Archive']
    .map((name) => `  mailbox ${name} {\n    special_use = \\${name}\n    auto = subscribe\n  }\n`)
    .join('');
  // No !include of /etc/dovecot: the instance must not depend on the host's config.
  return `# written by test/harness/provider.ts
instance_name = ${basename(dir)}
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
protocols = imap lmtp
listen = ${HOST}
${ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
auth_failure_delay = 0
default_internal_user = dovecot
default_login_user = dovenull
mail_location = maildir:~/Maildir
mail_fsync = never
passdb {
  driver = passwd-file
  args = ${dir}/passwd
}
userdb {
  driver = passwd-file
  args = ${dir}/passwd
}
namespace inbox {
  inbox = yes
  separator = /
${specialUse}}
service imap-login {
  inet_listener imap {
    address = ${HOST}
    port = ${imapPort}
  }
  inet_listener imaps {
    ${imaps}
  }
}
service lmtp {
  inet_listener lmtp {
    address = ${HOST}
    port = ${lmtpPort}
  }
}
service auth {
  # Postfix's smtpd runs as user postfix and authenticates through this socket.
  unix_listener auth-client {
    mode = 0666
  }
}
service anvil {
  # The auth penalty delays every login from an IP after a failure, up to 15 s, and all our
  # clients are 127.0.0.1: one wrong-password test would slow all later ones. Mode 0 = off.
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service stats {
  # imap and lmtp run as nobody after login and must still reach the stats writer.
  unix_listener stats-writer {
    mode = 0666
  }
}
${extra}
`;
}

export interface PostfixOptions {
  dovecot: Dovecot;
  /** Also offer STARTTLS on every port and implicit TLS on submissionsPort. */
  tls?: boolean;
  /** Domains delivered to the Dovecot; the users' own domains are always added. */
  domains?: string[];
  /**
   * Addresses Postfix accepts but the Dovecot does not know, so LMTP refuses them after the
   * SMTP transaction and Postfix mails a bounce to the sender: the asynchronous failure. Any
   * other unknown address in the domains is refused at RCPT time.
   */
  undeliverable?: string[];
  /** main.cf settings applied last (later settings win). */
  config?: Record<string, string>;
}

export interface Postfix {
  readonly host: typeof HOST;
  /** Submission: AUTH (PLAIN, LOGIN against the Dovecot's users) required, plaintext allowed. */
  readonly submissionPort: number;
  /** Submission over implicit TLS (with tls only). */
  readonly submissionsPort?: number;
  /** MX-style SMTP: no AUTH, accepts mail for the domains only. */
  readonly smtpPort: number;
  readonly domains: readonly string[];
  readonly tls?: TlsFiles;
  readonly dir: string;
  readonly logFile: string;
  /** Kill every Postfix process and remove the temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

export async function startPostfix(options: PostfixOptions): Promise<Postfix> {
  const opts = withDefaults('startPostfix', {
    dovecot: undefined as unknown as Dovecot, tls: false, domains: ['example.test', 'example.org'],
    undeliverable: [] as string[], config: {} as Record<string, string>,
  }, options);
  requireRoot('startPostfix');
  const { dovecot } = opts;
  if (!dovecot) throw new Error('startPostfix: the dovecot option is required');
  const undeliverable = opts.undeliverable.map(checkAddress);
  const recipients = [...dovecot.users, ...undeliverable];
  const domains = [...new Set([...opts.domains.map((d) => d.toLowerCase()), ...recipients.map((a) => a.split('@')[1] as string)])];
  const tmp = await makeTempDir('waxseal-postfix-');
  const { path: dir } = tmp;
  const watchdog = startWatchdog(dir);
  const logFile = join(dir, 'maillog');
  try {
    await chmod(dir, 0o755); // smtpd runs as postfix and must reach the files in here
    for (const sub of ['etc', 'spool', 'data']) await mkdir(join(dir, sub));
    const postfixUser = await systemUser('postfix');
    await chown(join(dir, 'data'), postfixUser.uid, postfixUser.gid); // postfix refuses to start otherwise
    await writeFile(join(dir, 'etc', 'vmailbox'), recipients.map((a) => `${a} OK\n`).join(''));
    const tls = opts.tls ? await makeCertificate(dir) : undefined;
    let lastCommand: string[] = [];
    const postfix = (...args: string[]) => run('/usr/sbin/postfix', (lastCommand = ['-c', join(dir, 'etc'), ...args]));

    for (let attempt = 1; ; attempt++) {
      const [smtpPort, submissionPort, submissionsPort] = (await freePorts(tls ? 3 : 2)) as [number, number, number?];
      await writeFile(join(dir, 'etc', 'main.cf'), mainCf({ dir, dovecot, domains, tls, extra: opts.config }));
      await writeFile(join(dir, 'etc', 'master.cf'), masterCf({ dir, smtpPort, submissionPort, submissionsPort }));
      // Every Postfix program sleeps in 300 ms steps while main.cf's mtime is the current
      // second (it might be half-written): that made a fresh instance take 2.5 s to start.
      const past = new Date(Date.now() - 3_600_000);
      for (const file of ['main.cf', 'master.cf', 'vmailbox']) await utimes(join(dir, 'etc', file), past, past);
      const logStart = await fileSize(logFile);
      let pgid: number | undefined;
      try {
        if (attempt === 1) await postfix('post-install', 'create-missing');
        // quick-start skips `postfix check`, which walks the Postfix installation and the queue
        // (pointless for a queue made a moment ago) and costs ~0.25 s.
        await writeFile(join(dir, 'spool', 'quick-start'), '');
        await postfix('start');
        // The master daemonizes with setsid(), so its pid is also its process group.
        pgid = Number((await readFile(join(dir, 'spool', 'pid', 'master.pid'), 'utf8')).trim());
        watchdog.guard(pgid);
        await untilGreeted(undefined, [
          { port: smtpPort, banner: /^220 / },
          { port: submissionPort, banner: /^220 / },
          ...(tls && submissionsPort ? [{ port: submissionsPort, banner: /^220 /, ca: tls.ca }] : []),
        ]);
        // Postfix listens with SO_REUSEPORT, so when another Postfix took the same port in the
        // meantime, both start fine and share its connections. Only the second can tell.
        for (const port of [smtpPort, submissionPort, submissionsPort]) {
          if (port && (await listenersOn(port)) > 1) throw new Error(`Address already in use: port ${port} is shared`);
        }
      } catch (err) {
        if (pgid !== undefined && pgid > 1) await stopProcessGroup(pgid, 0);
        let log = (await logSince(logFile, logStart)) + outputOf(err);
        if (attempt < START_ATTEMPTS && /Address already in use/.test(`${log}${String(err)}`)) continue;
        if (!/fatal|error/.test(log)) log += await postfixOnTty(lastCommand);
        throw startError('startPostfix', err, log);
      }
      const group = pgid;
      let stopped: Promise<void> | undefined;
      const stop = () =>
        (stopped ??= (async () => {
          watchdog.release();
          await stopProcessGroup(group, 2_000); // master passes SIGTERM on; all exit at once
          await tmp.cleanup();
        })());
      return {
        host: HOST,
        submissionPort,
        ...(submissionsPort !== undefined ? { submissionsPort } : {}),
        smtpPort,
        domains,
        ...(tls ? { tls } : {}),
        dir,
        logFile,
        stop,
      };
    }
  } catch (err) {
    watchdog.release();
    await tmp.cleanup();
    throw err;
  }
}

function mainCf(o: ConfInput & { dovecot: Dovecot; domains: string[]; extra: Record<string, string> }): string {
  const { dir, dovecot, domains, tls, extra } = o;
  const nowhere = 'error:5.7.1 no delivery outside the test provider';
  const settings: Record<string, string> = {
    compatibility_level: '3.6', mail_owner: 'postfix', setgid_group: 'postdrop',
    config_directory: `${dir}/etc`, queue_directory: `${dir}/spool`, data_directory: `${dir}/data`,
    // Without a log file inside maillog_file_prefixes, `postfix start` exits 1 and says nothing.
    maillog_file: `${dir}/maillog`, maillog_file_prefixes: dir, syslog_name: `postfix-${basename(dir)}`,
    myhostname: 'mx.waxseal.test', mydomain: 'waxseal.test', myorigin: '$myhostname', mydestination: '',
    inet_interfaces: HOST, inet_protocols: 'ipv4', mynetworks: '127.0.0.0/8',
    // Nothing beyond loopback: no DNS, no local(8) delivery, no relaying anywhere.
    relayhost: '', smtp_dns_support_level: 'disabled', lmtp_dns_support_level: 'disabled', smtpd_peername_lookup: 'no',
    alias_maps: '', alias_database: '', local_recipient_maps: '',
    local_transport: nowhere, default_transport: nowhere, relay_transport: nowhere,
    virtual_mailbox_domains: domains.join(', '),
    virtual_mailbox_maps: `texthash:${dir}/etc/vmailbox`,
    virtual_transport: `lmtp:inet:${HOST}:${dovecot.lmtpPort}`,
    smtpd_relay_restrictions: 'reject_unauth_destination',
    smtpd_recipient_restrictions: 'reject_unlisted_recipient',
    smtpd_sasl_type: 'dovecot', smtpd_sasl_path: dovecot.authSocket, smtpd_sasl_security_options: 'noanonymous',
    smtpd_tls_auth_only: 'no',
    // Defaults meant for the Internet make tests slow: a 1 s sleep per rejected command,
    // minutes between retries of deferred mail.
    smtpd_error_sleep_time: '0', smtpd_soft_error_limit: '100', smtpd_hard_error_limit: '200', in_flow_delay: '0',
    queue_run_delay: '1s', minimal_backoff_time: '1s', maximal_backoff_time: '5s', delay_warning_time: '0',
    fast_flush_domains: '', biff: 'no', append_dot_mydomain: 'no',
    ...(tls
      ? { smtpd_tls_security_level: 'may', smtpd_tls_cert_file: tls.certFile, smtpd_tls_key_file: tls.keyFile }
      : { smtpd_tls_security_level: 'none' }),
    ...extra,
  };
  return Object.entries(settings).map(([k, v]) => `${k} = ${v}\n`).join('');
}

function masterCf(o: { dir: string; smtpPort: number; submissionPort: number; submissionsPort?: number }): string {
  const { dir, smtpPort, submissionPort, submissionsPort } = o;
  const submission = [
    'smtpd_sasl_auth_enable=yes',
    'smtpd_client_restrictions=permit_sasl_authenticated,reject',
    'smtpd_relay_restrictions=permit_sasl_authenticated,reject',
    'smtpd_recipient_restrictions=reject_unlisted_recipient,permit_sasl_authenticated,reject',
  ];
  const smtpd = (port: number, name: string, flags: string[]) =>
    `${HOST}:${port} inet n - n - - smtpd\n` +
    [`syslog_name=postfix-${basename(dir)}/${name}`, ...flags].map((f) => `  -o ${f}\n`).join('');
  // chroot is off everywhere ("n" in the fifth column): the daemons use main.cf's absolute paths.
  return [
    smtpd(smtpPort, 'smtp', []),
    smtpd(submissionPort, 'submission', submission),
    submissionsPort ? smtpd(submissionsPort, 'submissions', [...submission, 'smtpd_tls_wrappermode=yes']) : '',
    ...[
      'cleanup unix n - n - 0 cleanup', 'qmgr unix n - n 300 1 qmgr', 'tlsmgr unix - - n 1000? 1 tlsmgr',
      'rewrite unix - - n - - trivial-rewrite', 'bounce unix - - n - 0 bounce', 'defer unix - - n - 0 bounce',
      'trace unix - - n - 0 bounce', 'verify unix - - n - 1 verify', 'flush unix n - n 1000? 0 flush',
      'proxymap unix - - n - - proxymap', 'error unix - - n - - error', 'retry unix - - n - - error',
      'discard unix - - n - - discard', 'lmtp unix - - n - - lmtp', 'anvil unix - - n - 1 anvil',
      'scache unix - - n - 1 scache', 'postlog unix-dgram n - n - 1 postlogd',
    ].map((line) => `${line}\n`),
  ].join('');
}

/**
 * Re-run a failed postfix command on a pseudo-terminal to learn why: until postlogd runs, the
 * postfix command writes its fatal errors to a terminal only, and nothing to maillog_file.
 */
async function postfixOnTty(args: string[]): Promise<string> {
  const quoted = ['/usr/sbin/postfix', ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const result = await run('script', ['-qec', quoted, '/dev/null']).catch((err: unknown) => err);
  return outputOf(result).replace(/\r/g, '');
}

export interface ProviderOptions {
  users: MailUser[];
  tls?: boolean;
  domains?: string[];
  undeliverable?: string[];
  dovecotConfig?: string;
  postfixConfig?: Record<string, string>;
}

export interface Provider {
  readonly dovecot: Dovecot;
  readonly postfix: Postfix;
  /** Stop both and remove their dirs. Safe to call twice. */
  stop(): Promise<void>;
}

/** Dovecot and a Postfix delivering to it: what a mail client sees of a provider. */
export async function startProvider(options: ProviderOptions): Promise<Provider> {
  const opts = withDefaults('startProvider', {
    users: [] as MailUser[], tls: false, domains: undefined as string[] | undefined,
    undeliverable: [] as string[], dovecotConfig: '', postfixConfig: {} as Record<string, string>,
  }, options);
  const dovecot = await startDovecot({ users: opts.users, tls: opts.tls, config: opts.dovecotConfig });
  let postfix: Postfix;
  try {
    postfix = await startPostfix({
      dovecot,
      tls: opts.tls,
      ...(opts.domains ? { domains: opts.domains } : {}),
      undeliverable: opts.undeliverable,
      config: opts.postfixConfig,
    });
  } catch (err) {
    await dovecot.stop();
    throw err;
  }
  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= Promise.all([postfix.stop(), dovecot.stop()]).then(() => undefined));
  return { dovecot, postfix, stop };
}

/** LMTP (RFC 2033) for one recipient: small enough to write rather than depend on. */
async function lmtpDeliver(port: number, rcpt: string, raw: Buffer | string, from: string): Promise<void> {
  const socket = connect(port, HOST);
  socket.setTimeout(10_000, () => socket.destroy(new Error('LMTP timed out')));
  const lines = createInterface({ input: socket, crlfDelay: Infinity })[Symbol.asyncIterator]();
  const step = async (what: string, send: string | Buffer | null, expect: '2' | '3') => {
    if (send !== null) socket.write(send);
    let reply = '';
    for (;;) {
      const { value, done } = await lines.next();
      if (done) throw new Error(`LMTP ${what} for ${rcpt}: connection closed`);
      reply += `${value}\n`;
      if (/^\d{3}(?: |$)/.test(value)) break; // "250-" continues a multi-line reply
    }
    if (reply[0] !== expect) throw new Error(`LMTP ${what} for ${rcpt}: ${reply.trim()}`);
  };
  try {
    await step('greeting', null, '2');
    await step('LHLO', 'LHLO waxseal.test\r\n', '2');
    await step('MAIL', `MAIL FROM:<${from}>\r\n`, '2');
    await step('RCPT', `RCPT TO:<${rcpt}>\r\n`, '2');
    await step('DATA', 'DATA\r\n', '3');
    // CRLF line ends and dot-stuffing; latin1 maps every byte to one char and back.
    let text = Buffer.from(raw).toString('latin1').replace(/\r?\n/g, '\r\n');
    text = `\n${text}`.replace(/\n\./g, '\n..').slice(1);
    if (!text.endsWith('\r\n')) text += '\r\n';
    await step('message', Buffer.from(`${text}.\r\n`, 'latin1'), '2');
    await step('QUIT', 'QUIT\r\n', '2');
  } finally {
    socket.destroy();
  }
}

function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new Error(`${what}: needs root (the daemons drop privileges themselves)`);
}

function checkAddress(address: string): string {
  if (!/^[^\s@:<>]+@[a-z0-9.-]+$/i.test(address)) throw new Error(`not a plain mail address: ${JSON.stringify(address)}`);
  return address.toLowerCase();
}

function checkPassword(password: string): string {
  // passwd-file is colon-separated, one user per line.
  if (password === '' || /[:\r\n]/.test(password)) throw new Error('a password must be non-empty, without ":" or line breaks');
  return password;
}
