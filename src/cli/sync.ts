import { profilePaths } from '../config/paths.js';
import { readProfile } from '../config/profile.js';
import { callControl } from '../daemon/control.js';
import { joinProfile } from '../daemon/join.js';
import { unlockProfile } from '../daemon/profile.js';
import { pairDevice, setServer, type SyncRequest, type SyncResponse } from '../daemon/sync.js';
import { Store } from '../store/store.js';
import { parseServerUrl } from '../sync/remote.js';
import { WaxsealError } from '../util/errors.js';
import { COMMON_OPTIONS, type Command } from './command.js';
import { dataDirFrom, out, secretAccess } from './context.js';
import { terminalAsk } from './prompt.js';

const USAGE = `waxseal sync set --couchdb URL
       waxseal sync pair [--expires MINUTES]
       waxseal sync join --couchdb URL --code CODE
   (each also takes [--data-dir DIR] [--json])`;

/** WAXSEAL_COUCHDB_PASSWORD, else asked on a terminal when the URL names a user. */
async function password(url: string): Promise<string | undefined> {
  const given = process.env.WAXSEAL_COUCHDB_PASSWORD;
  if (given) return given;
  if (!new URL(parseServerUrl(url)).username) return undefined;
  const ask = terminalAsk();
  if (!ask) throw new WaxsealError('EUSAGE', 'The URL names a user: set WAXSEAL_COUCHDB_PASSWORD, or run this on a terminal to be asked');
  return ask('CouchDB password: ', false);
}

/** Carried out by the running daemon, or here on the store when none runs. */
async function act(dataDir: string, req: SyncRequest): Promise<SyncResponse> {
  const paths = profilePaths(dataDir);
  readProfile(paths.config); // a clear error when there is no profile
  const res = (await callControl(paths, '/v1/sync', 60_000, req)) as SyncResponse | undefined;
  if (res) return res;
  const unlocked = await unlockProfile({ dataDir, ...secretAccess() });
  const store = await Store.open({ dir: unlocked.paths.store, keys: unlocked.keys, device: unlocked.profile.device });
  try {
    return req.action === 'set' ? await setServer({ unlocked, store, url: req.url, password: req.password }) : await pairDevice({ unlocked, store, ttlMinutes: req.ttlMinutes });
  } finally {
    await store.close();
  }
}

export const sync: Command = {
  summary: 'sync this profile between your devices through a CouchDB server',
  usage: USAGE,
  help: `Every document replicates sealed: the server never sees a subject, an address, a flag,
a mailbox name or a key, and cannot change a document without it being refused.
set --couchdb URL   use this CouchDB (http(s)://[user@]host[:port]); the password comes from
                    WAXSEAL_COUCHDB_PASSWORD or a prompt and is kept sealed on this device.
                    The running daemon (or the next \`waxseal serve\`) replicates continuously.
pair                print a one-time code (10 minutes, single use) for a second device.
                    --expires MINUTES changes how long it is valid.
join --couchdb URL --code CODE
                    on the second device, into a new --data-dir: receive the root secret
                    wrapped under CODE, keep it in this device's keychain (or under
                    WAXSEAL_PASSPHRASE), fetch your keys; \`waxseal serve\` replicates the rest.
\`waxseal status\` shows in-sync, pending, offline or error, and progress of a first sync.`,
  options: { ...COMMON_OPTIONS, json: { type: 'boolean' }, couchdb: { type: 'string' }, code: { type: 'string' }, expires: { type: 'string' } },
  positionals: true,
  async run(v, positionals) {
    const dataDir = dataDirFrom(v['data-dir'] as string | undefined);
    const [sub, ...rest] = positionals;
    if (rest.length > 0) throw new WaxsealError('EUSAGE', `sync ${sub} takes no arguments (${rest.join(' ')})`);
    const url = v.couchdb as string | undefined;
    switch (sub) {
      case 'set': {
        if (!url) throw new WaxsealError('EUSAGE', 'sync set needs --couchdb URL');
        const pass = await password(url);
        const req: SyncRequest = { action: 'set', url: parseServerUrl(url), ...(pass ? { password: pass } : {}) };
        const res = (await act(dataDir, req)) as SyncResponse & { action: 'set' };
        out(Boolean(v.json), res, () => `Syncing with ${res.server} (CouchDB ${res.version}).\nA running daemon replicates now; otherwise \`waxseal serve\` will. \`waxseal status\` shows progress.`);
        return 0;
      }
      case 'pair': {
        const minutes = v.expires === undefined ? undefined : Number(v.expires);
        if (minutes !== undefined && !(Number.isInteger(minutes) && minutes > 0 && minutes <= 1440)) throw new WaxsealError('EUSAGE', '--expires takes a number of minutes (1 to 1440)');
        const res = (await act(dataDir, { action: 'pair', ...(minutes ? { ttlMinutes: minutes } : {}) })) as SyncResponse & { action: 'pair' };
        const server = readProfile(profilePaths(dataDir).config).sync.couchdb;
        out(Boolean(v.json), { code: res.code, expires: res.expires, server }, () =>
          [
            `Pairing code (single use, valid until ${res.expires}):`,
            '',
            `    ${res.code}`,
            '',
            'On your other device run:',
            `    waxseal sync join --couchdb ${server} --code ${res.code}`,
            'Anyone with this code and access to the server can read your mail: pass it on only to yourself.',
          ].join('\n'),
        );
        return 0;
      }
      case 'join': {
        if (!url || typeof v.code !== 'string') throw new WaxsealError('EUSAGE', 'sync join needs --couchdb URL and --code CODE');
        const joined = await joinProfile({ dataDir, url, code: v.code, password: await password(url), ...secretAccess() });
        const p = joined.profile;
        out(Boolean(v.json), { email: p.email, dataDir, secretStore: p.secretStore, server: p.sync.couchdb, keys: joined.keysPulled }, () =>
          [
            `Joined: profile ${p.email} in ${dataDir}, syncing with ${p.sync.couchdb}`,
            `Root secret: ${p.secretStore === 'keychain' ? 'in the OS keychain' : 'wrapped with your passphrase'}; ${joined.keysPulled} key record(s) fetched.`,
            'Start it with `waxseal serve`: your mailboxes and messages replicate then (`waxseal status` shows progress).',
          ].join('\n'),
        );
        return 0;
      }
      default:
        throw new WaxsealError('EUSAGE', sub === undefined ? 'sync needs a subcommand: set, pair or join' : `unknown sync subcommand "${sub}"`);
    }
  },
};
