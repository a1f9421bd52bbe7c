/**
 * The embedded default: open the profile in the data directory (creating it on first run),
 * unlock it and start the daemon. `waxseal serve` and the tray app both start here.
 */
import { userInfo } from 'node:os';
import { defaultDataDir, profilePaths } from '../config/paths.js';
import { profileExists, type Endpoint } from '../config/profile.js';
import { createOsKeychain } from '../secrets/keychain.js';
import { Daemon } from './daemon.js';
import { initProfile, unlockProfile, type SecretAccess, type UnlockedProfile } from './profile.js';

export interface EmbeddedOptions {
  dataDir?: string;
  /** Address for a profile created on first run (default USER@localhost). */
  email?: string;
  imap?: Endpoint;
  imaps?: Endpoint;
  smtp?: Endpoint;
  smtps?: Endpoint;
  offline?: boolean;
  access?: SecretAccess;
  log?: (line: string) => void;
}

export interface EmbeddedDaemon {
  daemon: Daemon;
  unlocked: UnlockedProfile;
  created: boolean;
}

export function defaultEmail(): string {
  let user = 'me';
  try {
    user = userInfo().username.toLowerCase().replace(/[^a-z0-9._-]/g, '') || 'me';
  } catch {
    // no passwd entry (containers): keep the neutral default
  }
  return `${user}@localhost`;
}

export async function startEmbedded(opts: EmbeddedOptions = {}): Promise<EmbeddedDaemon> {
  const dataDir = opts.dataDir ?? defaultDataDir();
  const access: SecretAccess = opts.access ?? {
    keychain: createOsKeychain(),
    passphrase: { given: process.env.WAXSEAL_PASSPHRASE || undefined },
  };
  const log = opts.log ?? (() => undefined);
  let unlocked: UnlockedProfile;
  let created = false;
  if (profileExists(profilePaths(dataDir).config)) {
    unlocked = await unlockProfile({ dataDir, ...access });
  } else {
    const email = opts.email ?? defaultEmail();
    log(`First run: creating profile ${email} in ${dataDir}`);
    unlocked = await initProfile({ dataDir, email, ...access });
    created = true;
  }
  const daemon = await Daemon.start({
    unlocked,
    ...(opts.imap ? { imap: opts.imap } : {}),
    ...(opts.imaps ? { imaps: opts.imaps } : {}),
    ...(opts.smtp ? { smtp: opts.smtp } : {}),
    ...(opts.smtps ? { smtps: opts.smtps } : {}),
    offline: Boolean(opts.offline),
    keychain: access.keychain,
  });
  return { daemon, unlocked, created };
}
