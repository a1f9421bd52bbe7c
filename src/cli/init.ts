import { initProfile } from '../daemon/profile.js';
import { COMMON_OPTIONS, type Command } from './command.js';
import { dataDirFrom, out, secretAccess } from './context.js';

export const init: Command = {
  summary: 'create a profile: root secret, sealed store, standard mailboxes',
  usage: 'waxseal init --email ADDRESS [--name NAME] [--data-dir DIR] [--json]',
  help: `Creates a new profile in DIR (default: $XDG_DATA_HOME/waxseal).
The root secret goes to the OS keychain; without one, it is wrapped with a passphrase
(WAXSEAL_PASSPHRASE, or asked on the terminal). Mailboxes INBOX, Sent, Drafts, Trash,
Junk and Archive are created.`,
  options: { ...COMMON_OPTIONS, email: { type: 'string' }, name: { type: 'string' }, json: { type: 'boolean' } },
  async run(v) {
    const dataDir = dataDirFrom(v['data-dir'] as string | undefined);
    if (typeof v.email !== 'string') {
      process.stderr.write('waxseal init: --email ADDRESS is required\n');
      return 2;
    }
    const { profile } = await initProfile({ dataDir, email: v.email, ...(typeof v.name === 'string' ? { name: v.name } : {}), ...secretAccess() });
    out(Boolean(v.json), { email: profile.email, dataDir, secretStore: profile.secretStore }, () =>
      [
        `Created profile ${profile.email} in ${dataDir}`,
        `Root secret: ${profile.secretStore === 'keychain' ? 'in the OS keychain' : 'wrapped with your passphrase'}`,
        'Start it with: waxseal serve',
      ].join('\n'),
    );
    return 0;
  },
};
