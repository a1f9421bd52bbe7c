/**
 * The CouchDB server: its URL (never holding a password), the credentials that go with it,
 * and a check that it is a CouchDB that lets us in, answered in words a user can act on.
 */
import { PouchDB, type PouchDb } from '../store/pouch.js';
import { WaxsealError, errorMessage } from '../util/errors.js';

export interface RemoteServer {
  /** `http(s)://[user@]host[:port][/path]`, no trailing slash, no password. */
  url: string;
  password?: string | undefined;
}

/** Check and normalise a URL given by the user; a password inside it is refused. */
export function parseServerUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new WaxsealError('EUSAGE', `"${raw}" is not a URL (expected http(s)://[user@]host[:port])`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new WaxsealError('EUSAGE', `The CouchDB URL must start with http:// or https://`);
  if (u.password) throw new WaxsealError('EUSAGE', 'Put the CouchDB password in WAXSEAL_COUCHDB_PASSWORD (or answer the prompt), not in the URL');
  if (u.search || u.hash) throw new WaxsealError('EUSAGE', 'The CouchDB URL must not have a query or fragment');
  return u.toString().replace(/\/+$/, '');
}

/** Split the user name out of the URL: PouchDB and fetch take credentials apart from it. */
export function endpoint(server: RemoteServer): { base: string; auth?: { username: string; password: string } } {
  const u = new URL(server.url);
  const username = decodeURIComponent(u.username);
  u.username = '';
  const base = u.toString().replace(/\/+$/, '');
  return username || server.password ? { base, auth: { username, password: server.password ?? '' } } : { base };
}

/**
 * A PouchDB handle on one of the server's databases. Responses are asked for uncompressed:
 * everything replicated is AES-GCM ciphertext in base64, which gzip shrinks by the base64
 * overhead at most (to ~75%) while the server deflates and we inflate every byte. Through
 * express-pouchdb, which compresses every response (Apache CouchDB does not), that made a
 * first sync of 10,000 messages pull at half the speed of plain documents.
 */
export function remoteDb(server: RemoteServer, name: string): PouchDb {
  const { base, auth } = endpoint(server);
  return new PouchDB(`${base}/${name}`, { skip_setup: true, headers: { 'Accept-Encoding': 'identity' }, ...(auth ? { auth } : {}) });
}

export function headers(server: RemoteServer): Record<string, string> {
  const { auth } = endpoint(server);
  const h: Record<string, string> = { accept: 'application/json', 'content-type': 'application/json' };
  if (auth) h.authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
  return h;
}

/** One request to the server, errors turned into sentences; 404 resolves undefined. */
export async function request<T>(server: RemoteServer, path: string, init: { method?: string; body?: unknown; timeoutMs?: number } = {}): Promise<T | undefined> {
  const { base } = endpoint(server);
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method: init.method ?? 'GET',
      headers: headers(server),
      signal: AbortSignal.timeout(init.timeoutMs ?? 10_000),
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? errorMessage(err);
    throw new WaxsealError('EUNREACHABLE', `The CouchDB server at ${server.url} cannot be reached (${cause})`, { cause: err });
  }
  if (res.status === 404) return undefined;
  if (res.status === 401 || res.status === 403) {
    throw new WaxsealError('EAUTH', `The CouchDB server at ${server.url} refused the credentials (${res.status}); check the user in the URL and WAXSEAL_COUCHDB_PASSWORD`);
  }
  const text = await res.text();
  if (!res.ok) throw new WaxsealError('ESERVER', `The CouchDB server at ${server.url} answered ${res.status} to ${init.method ?? 'GET'} ${path.split('/')[1] ? '/…' : path}`);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new WaxsealError('ESERVER', `${server.url} did not answer as a CouchDB server does (no JSON)`);
  }
}

/** That the server is a CouchDB (or speaks its protocol) and accepts us; returns its version. */
export async function checkServer(server: RemoteServer): Promise<string> {
  const hello = await request<{ couchdb?: string; version?: string; 'express-pouchdb'?: string }>(server, '/');
  if (!hello || (hello.couchdb === undefined && hello['express-pouchdb'] === undefined)) {
    throw new WaxsealError('ESERVER', `${server.url} is not a CouchDB server`);
  }
  return hello.version ?? hello['express-pouchdb'] ?? 'unknown';
}

/** Create a database unless it exists (412 is "already there"). */
export async function ensureDb(server: RemoteServer, name: string): Promise<void> {
  const info = await request<{ db_name?: string }>(server, `/${name}`);
  if (info) return;
  try {
    await request(server, `/${name}`, { method: 'PUT' });
  } catch (err) {
    if (!/answered 412/.test(errorMessage(err))) throw err;
  }
}
