import type { Endpoint } from '../config/profile.js';
import { startEmbedded } from '../daemon/embedded.js';
import { WaxsealError } from '../util/errors.js';
import { COMMON_OPTIONS, type Command } from './command.js';
import { dataDirFrom, secretAccess } from './context.js';

/** HOST:PORT, [v6]:PORT or PORT; port 0 picks a free one. */
export function parseEndpoint(text: string, what: string): Endpoint {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text) ?? /^()()(\d+)$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port > 65535) {
    throw new WaxsealError('EUSAGE', `${what}: expected HOST:PORT (for example 127.0.0.1:1984), got "${text}"`);
  }
  return { host: m[1] || m[2] || '127.0.0.1', port };
}

export const serve: Command = {
  summary: 'run the daemon (creates a default profile on first run)',
  usage: 'waxseal serve [--imap HOST:PORT] [--imaps HOST:PORT] [--smtp HOST:PORT] [--smtps HOST:PORT] [--offline] [--email ADDRESS] [--data-dir DIR]',
  help: `Unlocks the profile and serves it until stopped (Ctrl+C).
On first run, with no profile in DIR, creates one for --email (default USER@localhost).
Defaults: IMAP 127.0.0.1:1984 (plain, STARTTLS offered), IMAP over TLS 127.0.0.1:1993,
SMTP submission 127.0.0.1:2013 (STARTTLS offered), SMTP over TLS 127.0.0.1:2465; port 0
picks a free port (and --imap/--smtp with port 0 make their TLS ports free ones too, unless
given). The certificate is made for this profile on first run; \`waxseal credentials\` says
where it is, to tell a mail client to trust it. --offline queues outgoing mail and stops
all network use until started without it.`,
  options: {
    ...COMMON_OPTIONS,
    imap: { type: 'string' },
    imaps: { type: 'string' },
    smtp: { type: 'string' },
    smtps: { type: 'string' },
    offline: { type: 'boolean' },
    email: { type: 'string' },
  },
  async run(v) {
    const dataDir = dataDirFrom(v['data-dir'] as string | undefined);
    const imap = typeof v.imap === 'string' ? parseEndpoint(v.imap, '--imap') : undefined;
    const smtp = typeof v.smtp === 'string' ? parseEndpoint(v.smtp, '--smtp') : undefined;
    // A plain port of 0 (tests, a second instance) makes the TLS port a free one too.
    const imaps = typeof v.imaps === 'string' ? parseEndpoint(v.imaps, '--imaps') : imap?.port === 0 ? { host: imap.host, port: 0 } : undefined;
    const smtps = typeof v.smtps === 'string' ? parseEndpoint(v.smtps, '--smtps') : smtp?.port === 0 ? { host: smtp.host, port: 0 } : undefined;
    // Signal handlers go in before anything is started or printed: a supervisor that sends
    // SIGTERM as soon as it reads "Ready." (or a user quick on Ctrl+C) must never find the
    // process without them, and a stop asked for during start-up happens right after it.
    const stopRequested = new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    const { daemon, unlocked } = await startEmbedded({
      dataDir,
      ...(typeof v.email === 'string' ? { email: v.email } : {}),
      ...(imap ? { imap } : {}),
      ...(imaps ? { imaps } : {}),
      ...(smtp ? { smtp } : {}),
      ...(smtps ? { smtps } : {}),
      offline: Boolean(v.offline),
      access: secretAccess(),
      log: (line) => process.stdout.write(`${line}\n`),
    });
    // Sync trouble is worth a line on the console (ids are keyed hashes, URLs carry no password).
    daemon.on('log', (event: string, fields: Record<string, unknown>) => {
      if (event.startsWith('sync.') && event !== 'sync.started') process.stdout.write(`${event} ${JSON.stringify(fields)}\n`);
    });
    const s = daemon.status();
    const lines = [
      `Waxseal ${s.version} serving ${s.email}`,
      `  data:    ${s.dataDir}`,
      `  secret:  ${s.secretStore === 'keychain' ? 'OS keychain' : 'passphrase-wrapped file'}`,
      `  store:   ${s.mailboxes.length} mailboxes, ${s.mailboxes.reduce((n, m) => n + m.messages, 0)} messages`,
      `  control: http://127.0.0.1:${daemon.controlPort} (token in ${unlocked.paths.controlToken})`,
      `  IMAP:    ${fmt({ host: (imap ?? unlocked.profile.imap).host, port: s.services.imap?.port ?? 0 })} (STARTTLS), TLS on port ${s.services.imaps?.port ?? '-'}  (login ${s.email}; password: \`waxseal credentials\`)`,
      `  SMTP:    ${fmt({ host: (smtp ?? unlocked.profile.smtp).host, port: s.services.smtp?.port ?? 0 })} (STARTTLS), TLS on port ${s.services.smtps?.port ?? '-'}  (same login)`,
      `  sending: ${s.outbox?.relay === 'provider' ? 'through your provider' : 'no provider configured: mail to yourself is delivered locally, other mail bounces'}${s.offline ? ' (offline: queued)' : ''}`,
      `  fetch:   ${s.account ? `${s.account.user} at ${s.account.imap}${s.offline ? ' (offline: not connecting)' : ''}` : s.services.upstream?.note ?? 'no provider account'}`,
      `  sync:    ${s.sync.state === 'off' ? 'off' : `${s.sync.state === 'offline' ? 'paused (offline)' : 'replicating'} with ${s.sync.server}`}`,
      'Ready. Stop with Ctrl+C.',
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    await stopRequested;
    process.stdout.write('Stopping…\n');
    await daemon.stop();
    process.stdout.write('Stopped.\n');
    return 0;
  },
};

function fmt(e: Endpoint): string {
  return `${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`;
}
