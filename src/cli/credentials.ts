import { profilePaths } from '../config/paths.js';
import { callControl } from '../daemon/control.js';
import { localPassword, type Credentials } from '../daemon/daemon.js';
import { unlockProfile } from '../daemon/profile.js';
import { Store } from '../store/store.js';
import { COMMON_OPTIONS, type Command } from './command.js';
import { dataDirFrom, out, secretAccess } from './context.js';

export const credentials: Command = {
  summary: 'print the login your mail client uses for Waxseal',
  usage: 'waxseal credentials [--data-dir DIR] [--json]',
  help: `Prints the address and the random per-profile password that mail clients use to log in
to Waxseal's IMAP and SMTP servers, and where those listen. Asks the running daemon; when
none runs, unlocks the profile (keychain or passphrase) to read it.`,
  options: { ...COMMON_OPTIONS, json: { type: 'boolean' } },
  async run(v) {
    const dataDir = dataDirFrom(v['data-dir'] as string | undefined);
    let creds = (await callControl(profilePaths(dataDir), '/v1/credentials')) as Credentials | undefined;
    if (!creds) {
      const unlocked = await unlockProfile({ dataDir, ...secretAccess() });
      const store = await Store.open({ dir: unlocked.paths.store, keys: unlocked.keys, device: unlocked.profile.device });
      try {
        creds = { user: unlocked.profile.email, password: await localPassword(store), imap: unlocked.profile.imap, imaps: unlocked.profile.imaps, smtp: unlocked.profile.smtp, smtps: unlocked.profile.smtps };
      } finally {
        await store.close();
      }
    }
    const c = creds;
    out(Boolean(v.json), c, () =>
      [
        `user:     ${c.user}`,
        `password: ${c.password}`,
        `IMAP:     ${c.imap.host}:${c.imap.port} (plain on loopback, or STARTTLS)`,
        ...(c.imaps ? [`IMAPS:    ${c.imaps.host}:${c.imaps.port} (TLS)`] : []),
        `SMTP:     ${c.smtp.host}:${c.smtp.port} (plain on loopback, or STARTTLS)`,
        ...(c.smtps ? [`SMTPS:    ${c.smtps.host}:${c.smtps.port} (TLS)`] : []),
        ...(c.certificate ? [`certificate: ${c.certificate.file}`, `  SHA-256 ${c.certificate.sha256}`] : []),
      ].join('\n'),
    );
    return 0;
  },
};
