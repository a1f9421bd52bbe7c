/**
 * The provider account: `waxseal account set` as one request, carried out by the daemon when
 * it runs (it owns the store) or by the CLI itself, and where the account's password is kept.
 *
 * The password goes to the OS keychain on profiles whose root secret is there; on
 * passphrase profiles (no keychain) it is sealed in the device-local store, under the same
 * root secret. WAXSEAL_UPSTREAM_PASSWORD, when set, is used instead of either and not stored
 * by the daemon.
 */
import { readProfile, writeProfile, type ProfileConfig } from '../config/profile.js';
import type { ProfilePaths } from '../config/paths.js';
import type { AccountSettings, AfterIngest, ServerSettings } from '../model/account.js';
import type { Keychain } from '../secrets/keychain.js';
import type { Store } from '../store/store.js';
import { checkLogin } from '../upstream/connection.js';
import { WaxsealError } from '../util/errors.js';

const LOCAL_PASSWORD = 'upstream-password';

export interface AccountRequest {
  account: AccountSettings;
  password: string;
}

export interface PasswordPlace {
  profile: ProfileConfig;
  store: Store;
  keychain?: Keychain | undefined;
  env?: NodeJS.ProcessEnv;
}

const keychainAccount = (profile: ProfileConfig) => `${profile.profileId}-upstream`;

export async function readUpstreamPassword(p: PasswordPlace): Promise<string | undefined> {
  const env = (p.env ?? process.env).WAXSEAL_UPSTREAM_PASSWORD;
  if (env) return env;
  if (p.profile.secretStore === 'keychain' && p.keychain) {
    const got = await p.keychain.get(keychainAccount(p.profile));
    if (got) return got.toString('utf8');
  }
  return p.store.getLocal<string>(LOCAL_PASSWORD);
}

async function saveUpstreamPassword(p: PasswordPlace, password: string): Promise<void> {
  if (p.profile.secretStore === 'keychain' && p.keychain) {
    await p.keychain.set(keychainAccount(p.profile), Buffer.from(password, 'utf8'));
    await p.store.putLocal(LOCAL_PASSWORD, undefined);
  } else {
    await p.store.putLocal(LOCAL_PASSWORD, password);
  }
}

/** Shape checks for a request that came over the control API (the CLI checked it too). */
export function checkAccountRequest(body: unknown): AccountRequest {
  const b = body as AccountRequest;
  if (typeof b !== 'object' || b === null || typeof b.password !== 'string' || typeof b.account !== 'object' || b.account === null) {
    throw new WaxsealError('EUSAGE', 'An account request needs the account settings and a password');
  }
  const a = b.account;
  const server = (s: ServerSettings, what: string) => {
    if (typeof s?.host !== 'string' || s.host === '' || !Number.isInteger(s.port) || s.port < 1 || s.port > 65535 || !['starttls', 'implicit', 'none'].includes(s.tls)) {
      throw new WaxsealError('EUSAGE', `The ${what} server needs a host, a port (1-65535) and a TLS mode (starttls, implicit or none)`);
    }
  };
  server(a.imap, 'IMAP');
  server(a.smtp, 'SMTP');
  if (typeof a.user !== 'string' || a.user === '') throw new WaxsealError('EUSAGE', 'The account needs a user name');
  if (!Number.isInteger(a.pollSeconds) || a.pollSeconds < 1) throw new WaxsealError('EUSAGE', 'The poll interval must be a whole number of seconds, at least 1');
  const ai = a.afterIngest as AfterIngest;
  const ok = ai?.action === 'leave' || ai?.action === 'seen' || (ai?.action === 'move' && typeof ai.folder === 'string' && ai.folder !== '') || (ai?.action === 'delete' && Number.isInteger(ai.days) && ai.days >= 0);
  if (!ok) throw new WaxsealError('EUSAGE', 'After ingest: leave, seen, move:FOLDER or delete:DAYS');
  if (b.password === '') throw new WaxsealError('EUSAGE', 'The password must not be empty');
  return { account: { imap: a.imap, smtp: a.smtp, user: a.user, afterIngest: ai, pollSeconds: a.pollSeconds }, password: b.password };
}

/**
 * Log in at the provider, then save: nothing is written when the login fails. Returns the
 * profile as saved.
 */
export async function setAccount(opts: { paths: ProfilePaths; profile: ProfileConfig; store: Store; keychain?: Keychain | undefined; request: AccountRequest }): Promise<ProfileConfig> {
  const { account, password } = opts.request;
  await checkLogin({ server: account.imap, user: account.user, password });
  await saveUpstreamPassword({ profile: opts.profile, store: opts.store, keychain: opts.keychain }, password);
  // Fresh from disk: another setting (sync) may have been saved since this daemon started.
  const profile: ProfileConfig = { ...readProfile(opts.paths.config), account };
  writeProfile(opts.paths.config, profile);
  return profile;
}
