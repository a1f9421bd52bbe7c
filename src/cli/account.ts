import { profilePaths } from '../config/paths.js';
import { DEFAULT_POLL_SECONDS, readProfile } from '../config/profile.js';
import { callControl } from '../daemon/control.js';
import { checkAccountRequest, setAccount, type AccountRequest } from '../daemon/account.js';
import { unlockProfile } from '../daemon/profile.js';
import type { AccountSettings, AfterIngest, TlsMode } from '../model/account.js';
import { Store } from '../store/store.js';
import { WaxsealError } from '../util/errors.js';
import { COMMON_OPTIONS, type Command } from './command.js';
import { dataDirFrom, out, secretAccess } from './context.js';
import { terminalAsk } from './prompt.js';

const USAGE = `waxseal account set --imap-host HOST --user USER [--imap-port PORT] [--tls starttls|implicit|none]
                    [--smtp-host HOST] [--smtp-port PORT] [--smtp-tls MODE]
                    [--after-ingest leave|seen|move:FOLDER|delete:DAYS] [--poll SECONDS]
       waxseal account show [--json]
   (each also takes [--data-dir DIR])`;

function tlsMode(value: string | boolean | undefined, what: string, fallback: TlsMode): TlsMode {
  if (value === undefined) return fallback;
  if (value === 'starttls' || value === 'implicit' || value === 'none') return value;
  throw new WaxsealError('EUSAGE', `${what}: "${String(value)}" is not starttls, implicit or none`);
}

function port(value: string | boolean | undefined, what: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(String(value)) || n < 1 || n > 65535) throw new WaxsealError('EUSAGE', `${what}: "${String(value)}" is not a port (1-65535)`);
  return n;
}

export function parseAfterIngest(value: string | undefined): AfterIngest {
  if (value === undefined || value === 'leave') return { action: 'leave' };
  if (value === 'seen') return { action: 'seen' };
  const move = /^move:(.+)$/.exec(value);
  if (move) return { action: 'move', folder: move[1]! };
  const del = /^delete:(\d+)$/.exec(value);
  if (del) return { action: 'delete', days: Number(del[1]) };
  throw new WaxsealError('EUSAGE', `--after-ingest: "${value}" is not leave, seen, move:FOLDER or delete:DAYS`);
}

function settingsFrom(v: Record<string, string | boolean | undefined>): AccountSettings {
  const host = v['imap-host'];
  const user = v.user;
  if (typeof host !== 'string' || host === '') throw new WaxsealError('EUSAGE', '--imap-host HOST is required');
  if (typeof user !== 'string' || user === '') throw new WaxsealError('EUSAGE', '--user USER is required');
  const tls = tlsMode(v.tls, '--tls', 'starttls');
  const smtpTls = tlsMode(v['smtp-tls'], '--smtp-tls', tls);
  const poll = v.poll === undefined ? DEFAULT_POLL_SECONDS : Number(v.poll);
  if (!Number.isInteger(poll) || poll < 1) throw new WaxsealError('EUSAGE', '--poll takes a whole number of seconds, at least 1');
  return {
    imap: { host, port: port(v['imap-port'], '--imap-port', tls === 'implicit' ? 993 : 143), tls },
    smtp: {
      host: typeof v['smtp-host'] === 'string' ? v['smtp-host'] : host,
      port: port(v['smtp-port'], '--smtp-port', smtpTls === 'implicit' ? 465 : 587),
      tls: smtpTls,
    },
    user,
    afterIngest: parseAfterIngest(v['after-ingest'] as string | undefined),
    pollSeconds: poll,
  };
}

async function password(user: string): Promise<string> {
  const given = process.env.WAXSEAL_UPSTREAM_PASSWORD;
  if (given) return given;
  const ask = terminalAsk();
  if (!ask) throw new WaxsealError('EUSAGE', 'No password: set WAXSEAL_UPSTREAM_PASSWORD, or run this on a terminal to be asked');
  return ask(`Password of ${user} at the provider: `, false);
}

function describe(a: AccountSettings): string {
  const at = (s: AccountSettings['imap']) => `${s.host}:${s.port} (${s.tls})`;
  const ai = a.afterIngest;
  const after = ai.action === 'move' ? `move to ${ai.folder}` : ai.action === 'delete' ? `delete after ${ai.days} days` : ai.action === 'seen' ? 'mark seen' : 'leave';
  return [`  user: ${a.user}`, `  IMAP: ${at(a.imap)}`, `  SMTP: ${at(a.smtp)}`, `  after fetching: ${after}; other folders checked every ${a.pollSeconds} s`].join('\n');
}

export const account: Command = {
  summary: 'the mail provider account Waxseal fetches from and relays through',
  usage: USAGE,
  help: `set logs in to the provider's IMAP server first and saves nothing when that fails.
The password comes from WAXSEAL_UPSTREAM_PASSWORD, or is asked on the terminal; it is kept
in the OS keychain (or, on a passphrase profile, sealed in the local store), never in
config.json. TLS: starttls (default; refuses a server without it), implicit (port 993/465),
none (plaintext; only for a server on this machine). Defaults: IMAP port 143 (993 implicit),
SMTP host = IMAP host, SMTP port 587 (465 implicit), SMTP TLS = --tls.
--after-ingest says what happens at the provider once a message is stored here: leave it
(default), mark it seen, move it to FOLDER, or delete it DAYS days after it arrived.
When the daemon runs, it carries out the command and starts fetching at once.`,
  options: {
    ...COMMON_OPTIONS,
    json: { type: 'boolean' },
    'imap-host': { type: 'string' },
    'imap-port': { type: 'string' },
    'smtp-host': { type: 'string' },
    'smtp-port': { type: 'string' },
    user: { type: 'string' },
    tls: { type: 'string' },
    'smtp-tls': { type: 'string' },
    'after-ingest': { type: 'string' },
    poll: { type: 'string' },
  },
  positionals: true,
  async run(v, positionals) {
    const dataDir = dataDirFrom(v['data-dir'] as string | undefined);
    const paths = profilePaths(dataDir);
    const [sub, ...rest] = positionals;
    if (rest.length > 0) throw new WaxsealError('EUSAGE', `account ${sub} takes no arguments`);
    if (sub === 'show') {
      const a = readProfile(paths.config).account;
      out(Boolean(v.json), { account: a }, () => (a ? `Provider account:\n${describe(a)}` : 'No provider account; set one with `waxseal account set`'));
      return 0;
    }
    if (sub !== 'set') throw new WaxsealError('EUSAGE', sub === undefined ? 'account needs a subcommand: set or show' : `unknown account subcommand "${sub}"`);
    const settings = settingsFrom(v);
    readProfile(paths.config); // a clear "no profile" before asking for a password
    const request: AccountRequest = checkAccountRequest({ account: settings, password: await password(settings.user) });
    const viaDaemon = await callControl(paths, '/v1/account', 60_000, request);
    if (!viaDaemon) {
      const access = secretAccess();
      const unlocked = await unlockProfile({ dataDir, ...access });
      const store = await Store.open({ dir: unlocked.paths.store, keys: unlocked.keys, device: unlocked.profile.device });
      try {
        await setAccount({ paths: unlocked.paths, profile: unlocked.profile, store, keychain: access.keychain, request });
      } finally {
        await store.close();
      }
    }
    out(Boolean(v.json), { saved: true, account: settings, daemon: Boolean(viaDaemon) }, () =>
      [
        `Logged in to ${settings.imap.host}:${settings.imap.port} as ${settings.user}; the account is saved.`,
        describe(settings),
        viaDaemon ? 'The running daemon is fetching from it now; `waxseal status` shows the progress.' : 'Start `waxseal serve` to fetch your mail.',
      ].join('\n'),
    );
    return 0;
  },
};
