import { profilePaths } from '../config/paths.js';
import { callControl } from '../daemon/control.js';
import { WaxsealError } from '../util/errors.js';
import { COMMON_OPTIONS, type Command } from './command.js';
import { dataDirFrom, out } from './context.js';

export const offline: Command = {
  summary: 'take the running daemon offline or back online',
  usage: 'waxseal offline on|off [--data-dir DIR] [--json]',
  help: `on: the daemon closes its connections to the provider and makes no new ones; your mail
client keeps working on what is stored. off: it reconnects and fetches what arrived meanwhile.
(To start offline, use \`waxseal serve --offline\`.)`,
  options: { ...COMMON_OPTIONS, json: { type: 'boolean' } },
  positionals: true,
  async run(v, positionals) {
    const [mode, ...rest] = positionals;
    if ((mode !== 'on' && mode !== 'off') || rest.length > 0) throw new WaxsealError('EUSAGE', 'offline takes on or off');
    const paths = profilePaths(dataDirFrom(v['data-dir'] as string | undefined));
    const res = await callControl(paths, '/v1/offline', 10_000, { offline: mode === 'on' });
    if (!res) throw new WaxsealError('ENODAEMON', 'No daemon is running for this profile (start it with `waxseal serve`, or `waxseal serve --offline`)');
    out(Boolean(v.json), res, () => (mode === 'on' ? 'Offline: no connection to the provider until `waxseal offline off`.' : 'Online: fetching resumes.'));
    return 0;
  },
};
