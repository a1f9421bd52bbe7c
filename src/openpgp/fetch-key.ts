/**
 * What WKD and VKS lookups share: one bounded HTTP GET and the checks that decide whether a
 * key a server handed us may be used to encrypt to an address.
 *
 * Everything here treats the server as hostile. Keys come from whoever answers for a domain,
 * so the body is capped while it streams (never buffered whole), the request is timed out as
 * a whole (redirects and body included), and a key is kept only when it carries a valid,
 * unrevoked user ID for the very address we asked about and can encrypt today.
 */
import { domainToASCII } from 'node:url';
import { config as openpgpConfig, readKeys, type Key, type PublicKey } from 'openpgp';
import { WaxsealError, errorMessage } from '../util/errors.js';

export interface LookupResult {
  keys: PublicKey[];
  source: 'wkd' | 'vks';
  /** The URL that was asked (before any redirect). */
  url: string;
}

export interface FetchKeyOptions {
  /** Deadline for one request: connecting, every redirect and the whole body. */
  timeoutMs: number;
  /** Largest body accepted, counted as it streams in (after any content decoding). */
  maxBytes: number;
  /** Keys beyond this many in one response are ignored, so a key flood costs bounded work. */
  maxKeys: number;
}

export const FETCH_KEY_DEFAULTS: Readonly<FetchKeyOptions> = Object.freeze({
  timeoutMs: 5000,
  maxBytes: 256 * 1024,
  maxKeys: 8,
});

const MAX_REDIRECTS = 3;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** An e-mail address split the way key lookups need it. */
export interface LookupAddress {
  /** The local part as given: WKD sends it unchanged in `?l=`. */
  local: string;
  /** The domain lower-cased and in its ASCII (punycode) form, as DNS and URLs want it. */
  domain: string;
  /** `local@domain` as given by the caller, for VKS and for messages. */
  address: string;
}

/** Split `email` at its last `@`; refuses what cannot be an address rather than guessing. */
export function parseLookupAddress(email: string): LookupAddress {
  const at = email.lastIndexOf('@');
  const local = at > 0 ? email.slice(0, at) : '';
  const rawDomain = at > 0 ? email.slice(at + 1) : '';
  // The domain is spliced into URLs, so only name characters get through: domainToASCII
  // alone would quietly cut "evil.example\x" down to "evil.example" and decode "%41".
  const domain = /^[\p{L}\p{M}\p{N}._-]+$/u.test(rawDomain) ? domainToASCII(rawDomain) : '';
  if (local === '' || /[\s\p{Cc}]/u.test(local) || domain === '') {
    throw new WaxsealError('EINVAL', 'key lookup: not an e-mail address');
  }
  return { local, domain, address: email };
}

/**
 * ASCII-only lower-casing: WKD hashes the local part this way, and we compare user IDs the
 * same way so that "Joe.Doe" and "joe.doe" find the same key without Unicode case folding
 * (which differs between implementations) deciding who gets our mail.
 */
export function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

function sameAddress(userIDEmail: string, want: LookupAddress): boolean {
  try {
    const got = parseLookupAddress(userIDEmail);
    return got.domain === want.domain && asciiLower(got.local) === asciiLower(want.local);
  } catch {
    return false;
  }
}

function hostOf(url: URL): string {
  return url.host;
}

function checkScheme(url: URL, what: string): void {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new WaxsealError('ELOOKUP', `${what}: only http and https URLs are fetched (${url.protocol})`);
  }
}

/**
 * GET `url` and return its body, or null on 404. Follows at most three redirects itself,
 * because Node's fetch follows twenty and would also follow one to a non-HTTP scheme's
 * error path; refuses a redirect from https down to http.
 *
 * Errors: ETIMEDOUT (deadline passed), ETOOBIG (body over the cap), EUNREACHABLE (name did
 * not resolve, connection refused, TLS failed: nobody is there to answer), ELOOKUP (any other
 * HTTP status, too many redirects, a body that broke off).
 */
export async function fetchKeyBody(
  url: string,
  options: Pick<FetchKeyOptions, 'timeoutMs' | 'maxBytes'>,
): Promise<Uint8Array | null> {
  let current: URL;
  try {
    current = new URL(url);
  } catch {
    throw new WaxsealError('EINVAL', 'key lookup: not a URL');
  }
  checkScheme(current, 'key lookup');
  const signal = AbortSignal.timeout(options.timeoutMs);
  for (let redirects = 0; ; redirects++) {
    let res: Response;
    try {
      // Node's fetch keeps no cookie jar; `credentials: 'omit'` says we never want one.
      res = await fetch(current, { signal, redirect: 'manual', credentials: 'omit' });
    } catch (err) {
      throw networkError(err, current, options.timeoutMs);
    }
    if (REDIRECT_STATUSES.has(res.status)) {
      await res.body?.cancel().catch(() => undefined);
      const location = res.headers.get('location');
      if (location === null) {
        throw new WaxsealError('ELOOKUP', `${hostOf(current)} answered HTTP ${res.status} without a Location`);
      }
      if (redirects >= MAX_REDIRECTS) {
        throw new WaxsealError('ELOOKUP', `${hostOf(current)}: more than ${MAX_REDIRECTS} redirects`);
      }
      let next: URL;
      try {
        next = new URL(location, current);
      } catch {
        throw new WaxsealError('ELOOKUP', `${hostOf(current)} redirected to something that is not a URL`);
      }
      checkScheme(next, `${hostOf(current)} redirected`);
      if (current.protocol === 'https:' && next.protocol === 'http:') {
        throw new WaxsealError('ELOOKUP', `${hostOf(current)} redirected from https to plain http`);
      }
      current = next;
      continue;
    }
    if (res.status === 404) {
      await res.body?.cancel().catch(() => undefined);
      return null;
    }
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => undefined);
      throw new WaxsealError('ELOOKUP', `${hostOf(current)} answered HTTP ${res.status}`);
    }
    return readCapped(res, current, options);
  }
}

async function readCapped(
  res: Response,
  url: URL,
  options: Pick<FetchKeyOptions, 'timeoutMs' | 'maxBytes'>,
): Promise<Uint8Array> {
  const tooBig = () => new WaxsealError('ETOOBIG', `${hostOf(url)} sent more than ${options.maxBytes} bytes`);
  // A declared length lets us refuse before reading anything; without one (or if it lies,
  // or the body is compressed) the running count below is what holds.
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > options.maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw tooBig();
  }
  if (res.body === null) return new Uint8Array(0);
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > options.maxBytes) {
        // Cancelling the stream aborts the request, which closes the connection.
        await reader.cancel().catch(() => undefined);
        throw tooBig();
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof WaxsealError) throw err;
    if (isTimeout(err)) throw timeoutError(url, options.timeoutMs, err);
    throw new WaxsealError('ELOOKUP', `${hostOf(url)}: the response broke off`, { cause: err });
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

function isTimeout(err: unknown): boolean {
  return err instanceof Error && err.name === 'TimeoutError';
}

function timeoutError(url: URL, timeoutMs: number, cause: unknown): WaxsealError {
  return new WaxsealError('ETIMEDOUT', `${hostOf(url)} did not answer within ${timeoutMs} ms`, { cause });
}

function networkError(err: unknown, url: URL, timeoutMs: number): WaxsealError {
  if (isTimeout(err)) return timeoutError(url, timeoutMs, err);
  // Node's fetch reports every connection-level failure as TypeError('fetch failed') with
  // the socket's error (ECONNREFUSED, ENOTFOUND, a TLS code) as its cause.
  const cause = err instanceof Error ? (err.cause as { code?: unknown } | undefined) : undefined;
  const code = typeof cause?.code === 'string' ? cause.code : errorMessage(err);
  return new WaxsealError('EUNREACHABLE', `could not reach ${hostOf(url)} (${code})`, { cause: err });
}

const ARMOR_BLOCK = /-----BEGIN PGP ([A-Z ]+)-----[\s\S]*?-----END PGP \1-----/g;

/**
 * Parse binary or armored key data; several concatenated keys (binary) or several armor
 * blocks are all read. Throws ELOOKUP (without a host: the caller adds one) when the data is
 * not OpenPGP keys at all.
 */
export async function readKeyData(data: Uint8Array): Promise<Key[]> {
  try {
    // A binary packet's first octet always has its top bit set, so "-" never starts one.
    const head = new TextDecoder('latin1').decode(data.subarray(0, 64)).trimStart();
    if (!head.startsWith('-----BEGIN PGP ')) {
      return await readKeys({ binaryKeys: data });
    }
    const text = new TextDecoder('utf-8').decode(data);
    const blocks = text.match(ARMOR_BLOCK) ?? [];
    if (blocks.length === 0) throw new Error('no complete armor block');
    const keys: Key[] = [];
    for (const block of blocks) keys.push(...(await readKeys({ armoredKeys: block })));
    return keys;
  } catch (err) {
    throw new WaxsealError('ELOOKUP', 'the response is not OpenPGP key data', { cause: err });
  }
}

/**
 * The keys among `keys` that may be used to encrypt to `address` now: public (a served
 * secret key is someone's mistake, not a certificate), with a self-certified, unrevoked user
 * ID for this address, not revoked or expired, and with a valid encryption-capable (sub)key.
 */
export async function usableKeys(
  keys: readonly Key[],
  address: LookupAddress,
  options: Pick<FetchKeyOptions, 'maxKeys'>,
  now: Date = new Date(),
): Promise<PublicKey[]> {
  const out: PublicKey[] = [];
  for (const key of keys.slice(0, options.maxKeys)) {
    if (await isUsableFor(key, address, now)) out.push(key as PublicKey);
  }
  return out;
}

async function isUsableFor(key: Key, address: LookupAddress, now: Date): Promise<boolean> {
  // PrivateKey extends PublicKey, so `instanceof PublicKey` would not tell them apart.
  if (key.isPrivate()) return false;
  for (const user of key.users) {
    const email = user.userID?.email;
    if (!email || !sameAddress(email, address)) continue;
    try {
      // For v6 keys getEncryptionKey looks only at direct-key signatures, so the user ID's
      // own self-certification and revocation are checked here. openpgp.js' User.verify has
      // no default config, hence the explicit one.
      await user.verify(now, openpgpConfig);
      // Passing the user ID makes openpgp.js judge expiry by this user's self-signature;
      // this also checks the primary key's revocation and each subkey's binding.
      await key.getEncryptionKey(undefined, now, { email }, openpgpConfig);
      return true;
    } catch {
      // Not valid under this user ID; another user ID with the same address may be.
    }
  }
  return false;
}

/**
 * Fetch `url` and keep the keys usable for `address`. Null when the server has no entry
 * (404) or nothing it sent is usable; errors name the host.
 */
export async function fetchKeys(
  url: string,
  address: LookupAddress,
  options: FetchKeyOptions,
): Promise<PublicKey[] | null> {
  const body = await fetchKeyBody(url, options);
  if (body === null) return null;
  let keys: Key[];
  try {
    keys = await readKeyData(body);
  } catch (err) {
    throw new WaxsealError('ELOOKUP', `${new URL(url).host} sent data that is not an OpenPGP key`, { cause: err });
  }
  const usable = await usableKeys(keys, address, options);
  return usable.length > 0 ? usable : null;
}
