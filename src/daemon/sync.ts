/**
 * `waxseal sync set|pair` as request/response pairs, so the same code runs in a daemon (the
 * CLI asks it over the control API while it owns the store) and in the CLI when none runs.
 */
import { readProfile, writeProfile } from '../config/profile.js';
import type { Store } from '../store/store.js';
import { offerPairing } from '../sync/pairing.js';
import { checkServer, ensureDb, parseServerUrl, remoteDb, type RemoteServer } from '../sync/remote.js';
import { PouchDB } from '../store/pouch.js';
import { REPLICATED, remoteDbName } from '../sync/names.js';
import { WaxsealError } from '../util/errors.js';
import type { UnlockedProfile } from './profile.js';

export type SyncRequest = { action: 'set'; url: string; password?: string } | { action: 'pair'; ttlMinutes?: number };
export type SyncResponse = { action: 'set'; server: string; version: string } | { action: 'pair'; code: string; expires: string; id: string };

const PASSWORD = 'couchdb-password';

export function checkSyncRequest(body: unknown): SyncRequest {
  const b = body as { action?: unknown; url?: unknown; password?: unknown; ttlMinutes?: unknown };
  if (typeof b !== 'object' || b === null) throw new WaxsealError('EUSAGE', 'Unknown sync action');
  if (b.action === 'set' && typeof b.url === 'string' && (b.password === undefined || typeof b.password === 'string')) return b as SyncRequest;
  if (b.action === 'pair' && (b.ttlMinutes === undefined || (typeof b.ttlMinutes === 'number' && b.ttlMinutes > 0 && b.ttlMinutes <= 24 * 60))) return b as SyncRequest;
  throw new WaxsealError('EUSAGE', 'Unknown sync action');
}

/**
 * The configured server with its password: WAXSEAL_COUCHDB_PASSWORD when set, else the one
 * `sync set` sealed into the device-local store. Undefined when this device does not sync.
 */
export async function configuredServer(opts: { unlocked: UnlockedProfile; store: Store; env?: NodeJS.ProcessEnv }): Promise<RemoteServer | undefined> {
  const url = opts.unlocked.profile.sync.couchdb;
  if (!url) return undefined;
  const env = (opts.env ?? process.env).WAXSEAL_COUCHDB_PASSWORD;
  const password = env || (await opts.store.getLocal<string>(PASSWORD));
  return { url, ...(password ? { password } : {}) };
}

/** Check the server, create this user's databases on it, remember it (and its password). */
export async function setServer(opts: { unlocked: UnlockedProfile; store: Store; url: string; password?: string | undefined }): Promise<SyncResponse & { action: 'set' }> {
  const server: RemoteServer = { url: parseServerUrl(opts.url), ...(opts.password ? { password: opts.password } : {}) };
  const version = await checkServer(server);
  for (const db of REPLICATED) await ensureDb(server, remoteDbName(opts.unlocked.keys.id, db));
  await opts.store.putLocal(PASSWORD, opts.password ?? null);
  await opts.store.putLocal('sync-first-done', null);
  const { paths } = opts.unlocked;
  const profile = { ...readProfile(paths.config), sync: { couchdb: server.url } };
  writeProfile(paths.config, profile);
  opts.unlocked.profile = profile;
  return { action: 'set', server: server.url, version };
}

/** Leave the root secret on the server wrapped under a fresh one-time code. */
export async function pairDevice(opts: { unlocked: UnlockedProfile; store: Store; ttlMinutes?: number | undefined }): Promise<SyncResponse & { action: 'pair' }> {
  const server = await configuredServer(opts);
  if (!server) throw new WaxsealError('ENOSYNC', 'This device does not sync yet: run `waxseal sync set --couchdb URL` first');
  const { profile, root, keys } = opts.unlocked;
  // The new device fetches the user's keys right after joining: make sure they are there,
  // whether or not live replication has run yet (a few small documents).
  await ensureDb(server, remoteDbName(keys.id, 'keys'));
  const remote = remoteDb(server, remoteDbName(keys.id, 'keys'));
  try {
    await PouchDB.replicate(opts.store.replicated().keys, remote, {});
  } catch (err) {
    throw new WaxsealError('ESYNC', `Could not send your keys to ${server.url}; try again when it can be reached`, { cause: err });
  } finally {
    await remote.close();
  }
  const offer = await offerPairing({ server, payload: { root, email: profile.email, name: profile.name }, ...(opts.ttlMinutes ? { ttlMs: opts.ttlMinutes * 60_000 } : {}) });
  return { action: 'pair', code: offer.code, expires: offer.expires.toISOString(), id: offer.id };
}
