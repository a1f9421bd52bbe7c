/**
 * keys.openpgp.org's Verifying Key Service: it serves a key by address only after the owner
 * confirmed that address by mail, and strips every user ID that was not confirmed. We still
 * run the same checks as for WKD; the server's word is not the only gate.
 */
import { withDefaults } from '../util/options.js';
import { FETCH_KEY_DEFAULTS, fetchKeys, parseLookupAddress, type FetchKeyOptions, type LookupResult } from './fetch-key.js';

export interface VksOptions extends FetchKeyOptions {
  /** Where the VKS API lives; `/vks/v1/...` is appended. */
  base: string;
}

export const VKS_DEFAULTS: Readonly<VksOptions> = Object.freeze({
  ...FETCH_KEY_DEFAULTS,
  base: 'https://keys.openpgp.org',
});

/** The by-email URL for `email`; the whole address is one path segment, so `+` and `@` are escaped. */
export function vksUrl(email: string, options?: Partial<Pick<VksOptions, 'base'>>): string {
  const { base } = withDefaults('vksUrl', { base: VKS_DEFAULTS.base }, options);
  return `${base.replace(/\/+$/, '')}/vks/v1/by-email/${encodeURIComponent(email)}`;
}

/**
 * Look `email` up with the VKS API. Null on 404 or when nothing served is usable; WaxsealError
 * ETIMEDOUT / ETOOBIG / ELOOKUP / EUNREACHABLE otherwise, EINVAL for a malformed address.
 */
export async function lookupVks(email: string, options?: Partial<VksOptions>): Promise<LookupResult | null> {
  const opts = withDefaults('lookupVks', { ...VKS_DEFAULTS }, options);
  const address = parseLookupAddress(email);
  const url = vksUrl(email, { base: opts.base });
  const keys = await fetchKeys(url, address, opts);
  return keys === null ? null : { keys, source: 'vks', url };
}
