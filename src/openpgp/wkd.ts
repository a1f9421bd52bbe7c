/**
 * Web Key Directory lookup (draft-koch-openpgp-webkey-service): the recipient's own domain
 * publishes their key at a URL derived from the address, so no key server is trusted.
 *
 * The advanced method (an `openpgpkey.` sub-domain) is asked first; the direct method (the
 * domain itself) only when the advanced host does not exist, cannot be reached or has no
 * entry. A failure of the advanced host never turns into "no key" behind the direct
 * method's 404: then the advanced error is what the caller sees.
 */
import { createHash } from 'node:crypto';
import { WaxsealError, isWaxsealError } from '../util/errors.js';
import { withDefaults } from '../util/options.js';
import {
  FETCH_KEY_DEFAULTS,
  asciiLower,
  fetchKeys,
  parseLookupAddress,
  type FetchKeyOptions,
  type LookupResult,
} from './fetch-key.js';

export interface WkdOptions extends FetchKeyOptions {
  /** Base of the advanced method; `{domain}` is replaced by the lower-cased domain. */
  advanced: string;
  /** Base of the direct method; `{domain}` as above. */
  direct: string;
}

export const WKD_DEFAULTS: Readonly<WkdOptions> = Object.freeze({
  ...FETCH_KEY_DEFAULTS,
  advanced: 'https://openpgpkey.{domain}/.well-known/openpgpkey/{domain}',
  direct: 'https://{domain}/.well-known/openpgpkey',
});

const ZBASE32 = 'ybndrfg8ejkmcpqxot1uwisza345h769';

/** z-base-32 (as used by WKD): 5 bits per character, most significant bit first, no padding. */
export function zbase32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ZBASE32[(buffer >>> bits) & 31];
    }
  }
  if (bits > 0) out += ZBASE32[(buffer << (5 - bits)) & 31];
  return out;
}

/** The WKD hash of a local part: z-base-32 of SHA-1 over its ASCII-lower-cased UTF-8 bytes. */
export function wkdHash(localPart: string): string {
  return zbase32(createHash('sha1').update(asciiLower(localPart), 'utf8').digest());
}

/** The advanced and direct URLs for `email`, in the order they are tried. */
export function wkdUrls(
  email: string,
  options?: Partial<Pick<WkdOptions, 'advanced' | 'direct'>>,
): { advanced: string; direct: string } {
  const opts = withDefaults('wkdUrls', { advanced: WKD_DEFAULTS.advanced, direct: WKD_DEFAULTS.direct }, options);
  const { local, domain } = parseLookupAddress(email);
  const suffix = `/hu/${wkdHash(local)}?l=${encodeURIComponent(local)}`;
  const fill = (template: string) => template.replaceAll('{domain}', domain).replace(/\/+$/, '') + suffix;
  return { advanced: fill(opts.advanced), direct: fill(opts.direct) };
}

/**
 * Look `email` up in its domain's Web Key Directory. Null when neither method has a usable
 * key; WaxsealError ETIMEDOUT / ETOOBIG / ELOOKUP / EUNREACHABLE otherwise (EUNREACHABLE
 * only when the direct host cannot be reached either), EINVAL for a malformed address.
 */
export async function lookupWkd(email: string, options?: Partial<WkdOptions>): Promise<LookupResult | null> {
  const opts = withDefaults('lookupWkd', { ...WKD_DEFAULTS }, options);
  const address = parseLookupAddress(email);
  const urls = wkdUrls(email, { advanced: opts.advanced, direct: opts.direct });

  let advancedError: WaxsealError | null = null;
  try {
    const keys = await fetchKeys(urls.advanced, address, opts);
    if (keys !== null) return { keys, source: 'wkd', url: urls.advanced };
    // A 404 (or nothing usable) at the advanced host: the draft lets the direct method
    // answer in that case.
  } catch (err) {
    if (!isWaxsealError(err)) throw err;
    // No such host / nobody listening is the ordinary "domain has no openpgpkey sub-domain"
    // case and says nothing about the direct method. Anything else is kept so that a
    // broken advanced host is not reported as "no key" when the direct method has none.
    if (!isWaxsealError(err, 'EUNREACHABLE')) advancedError = err;
  }

  const keys = await fetchKeys(urls.direct, address, opts).catch((err: unknown) => {
    throw advancedError ?? err;
  });
  if (keys !== null) return { keys, source: 'wkd', url: urls.direct };
  if (advancedError !== null) throw advancedError;
  return null;
}
