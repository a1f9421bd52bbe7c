/**
 * A profile's settings (config.json): device-local, never replicated, holds no secret.
 * Reading it rejects unknown keys and wrong types with a message naming the key, so a
 * hand-edited file fails loudly instead of being half-applied.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { WaxsealError } from '../util/errors.js';
import type { AccountSettings, AfterIngest, ServerSettings } from '../model/account.js';

export interface Endpoint {
  host: string;
  port: number;
}

export interface ProfileConfig {
  version: 1;
  /** Random id naming this profile in the OS keychain. */
  profileId: string;
  /** This device's id, used in edit stamps. */
  device: string;
  email: string;
  name: string;
  secretStore: 'keychain' | 'passphrase';
  imap: Endpoint;
  /** Implicit TLS (RFC 8314) for IMAP. */
  imaps: Endpoint;
  smtp: Endpoint;
  /** Implicit TLS (RFC 8314) for SMTP submission. */
  smtps: Endpoint;
  offline: boolean;
  createdAt: string;
  openpgp: OpenPgpSettings;
  /** The mail provider account (`waxseal account set`); null until one is set. */
  account: AccountSettings | null;
  sync: SyncSettings;
}

/** Device sync through a CouchDB server; the password is never here (it is sealed in the store). */
export interface SyncSettings {
  /** `http(s)://[user@]host[:port][/path]`, or null when this device does not sync. */
  couchdb: string | null;
}

export const DEFAULT_SYNC: SyncSettings = { couchdb: null };

/** How mail is sealed and where correspondents' keys are looked for. */
export interface OpenPgpSettings {
  /** "opportunistic": encrypt when every recipient has a key, else sign; "always": refuse without keys. */
  policy: 'opportunistic' | 'always';
  /** Key sources, tried in this order; each can be switched off. */
  sources: { keyring: boolean; autocrypt: boolean; gossip: boolean; attachment: boolean; wkd: boolean; vks: boolean };
  /** WKD base URLs, `{domain}` replaced (advanced method first, then direct). */
  wkdAdvanced: string;
  wkdDirect: string;
  /** keys.openpgp.org-compatible VKS server. */
  vks: string;
  lookupTimeoutMs: number;
  /** How long a network answer (a key or "none") is reused before asking again. */
  lookupRefreshHours: number;
}

export const DEFAULT_OPENPGP: OpenPgpSettings = {
  policy: 'opportunistic',
  sources: { keyring: true, autocrypt: true, gossip: true, attachment: true, wkd: true, vks: true },
  wkdAdvanced: 'https://openpgpkey.{domain}/.well-known/openpgpkey/{domain}',
  wkdDirect: 'https://{domain}/.well-known/openpgpkey',
  vks: 'https://keys.openpgp.org',
  lookupTimeoutMs: 5000,
  lookupRefreshHours: 24 * 7,
};

/** LEAP's ports; loopback only unless the user says otherwise. */
export const DEFAULT_IMAP: Endpoint = { host: '127.0.0.1', port: 1984 };
export const DEFAULT_SMTP: Endpoint = { host: '127.0.0.1', port: 2013 };
/** Implicit-TLS IMAP next to LEAP's plain port (993's digits, out of the privileged range). */
export const DEFAULT_IMAPS: Endpoint = { host: '127.0.0.1', port: 1993 };
/** Implicit-TLS submission next to LEAP's SMTP port (465's digits, out of the privileged range). */
export const DEFAULT_SMTPS: Endpoint = { host: '127.0.0.1', port: 2465 };

const EMAIL = /^[^\s@<>()",;:\\[\]]+@[^\s@<>()",;:\\[\]]+$/;

export function validEmail(email: string): boolean {
  return EMAIL.test(email) && email.length <= 254;
}

export function newProfile(opts: { email: string; name?: string; secretStore: ProfileConfig['secretStore'] }): ProfileConfig {
  if (!validEmail(opts.email)) throw new WaxsealError('EUSAGE', `"${opts.email}" is not an email address`);
  return {
    version: 1,
    profileId: randomBytes(8).toString('hex'),
    device: randomBytes(6).toString('hex'),
    email: opts.email,
    name: opts.name ?? '',
    secretStore: opts.secretStore,
    imap: { ...DEFAULT_IMAP },
    imaps: { ...DEFAULT_IMAPS },
    smtp: { ...DEFAULT_SMTP },
    smtps: { ...DEFAULT_SMTPS },
    offline: false,
    createdAt: new Date().toISOString(),
    openpgp: structuredClone(DEFAULT_OPENPGP),
    account: null,
    sync: structuredClone(DEFAULT_SYNC),
  };
}

type Check = (v: unknown) => boolean;
const isString: Check = (v) => typeof v === 'string';
const isBool: Check = (v) => typeof v === 'boolean';
const isEndpoint: Check = (v) => {
  const e = v as Endpoint;
  return (
    typeof e === 'object' && e !== null && Object.keys(e).sort().join() === 'host,port' &&
    typeof e.host === 'string' && Number.isInteger(e.port) && e.port >= 0 && e.port <= 65535
  );
};
const isUrl = (v: unknown) => typeof v === 'string' && /^https?:\/\/[^\s]+$/.test(v);
const isOpenPgp: Check = (v) => {
  const o = v as OpenPgpSettings;
  if (typeof o !== 'object' || o === null) return false;
  if (Object.keys(o).sort().join() !== Object.keys(DEFAULT_OPENPGP).sort().join()) return false;
  const s = o.sources as unknown as Record<string, unknown>;
  return (
    (o.policy === 'opportunistic' || o.policy === 'always') &&
    typeof s === 'object' && s !== null && Object.keys(s).sort().join() === Object.keys(DEFAULT_OPENPGP.sources).sort().join() &&
    Object.values(s).every(isBool) &&
    isUrl(o.wkdAdvanced) && isUrl(o.wkdDirect) && isUrl(o.vks) &&
    Number.isInteger(o.lookupTimeoutMs) && o.lookupTimeoutMs > 0 &&
    typeof o.lookupRefreshHours === 'number' && o.lookupRefreshHours >= 0
  );
};
const keysAre = (o: object, keys: string[]) => Object.keys(o).sort().join() === [...keys].sort().join();
const isServer: Check = (v) => {
  const e = v as ServerSettings;
  return (
    typeof e === 'object' && e !== null && keysAre(e, ['host', 'port', 'tls']) &&
    typeof e.host === 'string' && e.host !== '' && Number.isInteger(e.port) && e.port > 0 && e.port <= 65535 &&
    (e.tls === 'starttls' || e.tls === 'implicit' || e.tls === 'none')
  );
};
const isAfterIngest: Check = (v) => {
  const a = v as AfterIngest;
  if (typeof a !== 'object' || a === null) return false;
  if (a.action === 'leave' || a.action === 'seen') return keysAre(a, ['action']);
  if (a.action === 'move') return keysAre(a, ['action', 'folder']) && typeof a.folder === 'string' && a.folder !== '';
  if (a.action === 'delete') return keysAre(a, ['action', 'days']) && Number.isInteger(a.days) && a.days >= 0;
  return false;
};
export const DEFAULT_POLL_SECONDS = 60;
const isAccount: Check = (v) => {
  if (v === null) return true;
  const a = v as AccountSettings;
  return (
    typeof a === 'object' && keysAre(a, ['imap', 'smtp', 'user', 'afterIngest', 'pollSeconds']) &&
    isServer(a.imap) && isServer(a.smtp) && typeof a.user === 'string' && a.user !== '' && isAfterIngest(a.afterIngest) &&
    Number.isInteger(a.pollSeconds) && a.pollSeconds >= 1
  );
};

const isSync: Check = (v) => {
  const o = v as SyncSettings;
  return typeof o === 'object' && o !== null && Object.keys(o).join() === 'couchdb' && (o.couchdb === null || isUrl(o.couchdb));
};
const SCHEMA: Record<keyof ProfileConfig, Check> = {
  version: (v) => v === 1,
  profileId: (v) => typeof v === 'string' && /^[0-9a-f]{16}$/.test(v),
  device: (v) => typeof v === 'string' && /^[0-9a-z]{1,32}$/.test(v),
  email: (v) => typeof v === 'string' && validEmail(v),
  name: isString,
  secretStore: (v) => v === 'keychain' || v === 'passphrase',
  imap: isEndpoint,
  imaps: isEndpoint,
  smtp: isEndpoint,
  smtps: isEndpoint,
  offline: isBool,
  createdAt: isString,
  openpgp: isOpenPgp,
  account: isAccount,
  sync: isSync,
};

export function parseProfile(text: string, file: string): ProfileConfig {
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new WaxsealError('ECONFIG', `${file} is not valid JSON`, { cause: err });
  }
  if (typeof data !== 'object' || data === null) throw new WaxsealError('ECONFIG', `${file} must hold a JSON object`);
  for (const key of Object.keys(data)) {
    if (!(key in SCHEMA)) throw new WaxsealError('ECONFIG', `${file}: unknown setting "${key}"`);
  }
  // Settings added after a profile was made get their defaults (config versions stay 1 until
  // a change needs a real migration).
  if (data.imaps === undefined) data.imaps = { ...DEFAULT_IMAPS };
  if (data.smtps === undefined) data.smtps = { ...DEFAULT_SMTPS };
  if (data.openpgp === undefined) data.openpgp = structuredClone(DEFAULT_OPENPGP);
  if (data.account === undefined) data.account = null;
  if (data.sync === undefined) data.sync = structuredClone(DEFAULT_SYNC);
  for (const [key, check] of Object.entries(SCHEMA)) {
    if (!check(data[key])) throw new WaxsealError('ECONFIG', `${file}: setting "${key}" is missing or has a wrong value`);
  }
  return data as unknown as ProfileConfig;
}

export function profileExists(file: string): boolean {
  return existsSync(file);
}

export function readProfile(file: string): ProfileConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new WaxsealError('ENOPROFILE', `No Waxseal profile at ${dirname(file)}; create one with \`waxseal init --email ADDRESS\``);
    }
    throw new WaxsealError('ECONFIG', `Could not read ${file}`, { cause: err });
  }
  return parseProfile(text, file);
}

/** Write atomically (temp file + rename) so a crash never leaves half a config. */
export function writeProfile(file: string, profile: ProfileConfig): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(profile, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}
