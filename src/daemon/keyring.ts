/** The keyring of a profile, wired to its settings (key sources, network lookups). */
import type { ProfileConfig } from '../config/profile.js';
import { Keyring, type NetworkLookup } from '../mail/keyring.js';
import { lookupVks } from '../openpgp/vks.js';
import { lookupWkd } from '../openpgp/wkd.js';
import type { Store } from '../store/store.js';
import { WaxsealError, errorMessage } from '../util/errors.js';

/**
 * WKD, then VKS, as switched on in the profile. A definite "no key" from every source asked
 * is null (and cached by the keyring); when a source could not be asked at all (timeout,
 * unreachable) and none found a key, the error says so and nothing is cached.
 */
export function networkLookup(
  profile: ProfileConfig,
  log?: (event: string, fields: Record<string, unknown>) => void,
  offline: () => boolean = () => false,
): NetworkLookup {
  const o = profile.openpgp;
  return async (address) => {
    // Offline means no network use at all; like a timeout, this is not cached as "no key".
    if (offline()) throw new WaxsealError('EOFFLINE', `Key lookup for ${address} was not made: Waxseal is offline`);
    const failures: string[] = [];
    const attempts: Array<[boolean, () => ReturnType<NetworkLookup>]> = [
      [o.sources.wkd, () => lookupWkd(address, { advanced: o.wkdAdvanced, direct: o.wkdDirect, timeoutMs: o.lookupTimeoutMs })],
      [o.sources.vks, () => lookupVks(address, { base: o.vks, timeoutMs: o.lookupTimeoutMs })],
    ];
    for (const [on, attempt] of attempts) {
      if (!on) continue;
      try {
        const res = await attempt();
        if (res && res.keys.length > 0) return { keys: res.keys, source: res.source };
      } catch (err) {
        failures.push(errorMessage(err));
        log?.('key.lookup.failed', { reason: errorMessage(err) });
      }
    }
    if (failures.length > 0) throw new WaxsealError('ELOOKUP', `Key lookup for ${address} failed: ${failures.join('; ')}`);
    return null;
  };
}

/**
 * `offline` is asked at every lookup, so offline mode switched at run time applies at once;
 * without it, the profile's offline setting decides.
 */
export function openKeyring(store: Store, profile: ProfileConfig, opts: { network?: boolean; offline?: () => boolean } = {}): Keyring {
  const o = profile.openpgp;
  return new Keyring({
    records: store.records,
    sources: o.sources,
    ...(opts.network !== false ? { network: networkLookup(profile, undefined, opts.offline ?? (() => profile.offline)) } : {}),
    refreshMs: o.lookupRefreshHours * 3600_000,
  });
}
